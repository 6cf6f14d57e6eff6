using System.Runtime.ExceptionServices;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Splits index ranges into coarse chunks and runs them on a small pool of persistent worker threads,
/// with the calling thread taking chunks too. A range smaller than <c>minChunk</c> per extra thread
/// runs inline on the caller, so small tensors pay no scheduling cost.
/// </summary>
/// <remarks>
/// The pool exists because <see cref="Parallel.For(int, int, Action{int})"/> allocates task and
/// closure objects on every call and moves work between thread-pool threads, which throws away the
/// kernels' thread-local packing buffers; a training step makes hundreds of parallel calls. Chunk
/// boundaries depend only on the count and <see cref="Engine.NumThreads"/>, never on which thread
/// runs a chunk. Nested calls, and calls made while another thread holds the pool, run inline.
/// </remarks>
internal static class CpuParallel
{
    private static readonly object Gate = new();
    private static readonly List<Thread> Workers = [];
    // One start signal per worker, so that a job with h helpers always runs on workers 1..h: the same
    // threads, with the same thread-local kernel buffers, step after step.
    private static readonly List<SemaphoreSlim> StartSignals = [];
    private static readonly ManualResetEventSlim DoneSignal = new(false, spinCount: 2000);

    [ThreadStatic]
    private static bool t_insideJob;

    // The current job; written by the caller under Gate before workers are released.
    private static Action<int, int>? s_rangeBody;
    private static Action<int>? s_itemBody;
    private static int s_count;
    private static int s_chunks;
    private static int s_nextChunk;
    private static int s_participants;
    private static Exception? s_error;

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, count) in at most NumThreads chunks of at least minChunk items.</summary>
    public static void For(int count, int minChunk, Action<int, int> body)
    {
        if (count <= 0)
        {
            return;
        }
        var threads = Engine.NumThreads;
        var chunks = Math.Min(threads, Math.Max(1, count / Math.Max(1, minChunk)));
        if (chunks <= 1 || t_insideJob || !Monitor.TryEnter(Gate))
        {
            body(0, count);
            return;
        }
        try
        {
            s_rangeBody = body;
            s_itemBody = null;
            s_count = count;
            Run(chunks);
        }
        finally
        {
            s_rangeBody = null;
            Monitor.Exit(Gate);
        }
    }

    /// <summary>Runs body(i) for each of <paramref name="tasks"/> independent work items.</summary>
    public static void ForEach(int tasks, Action<int> body)
    {
        var threads = Math.Min(Engine.NumThreads, tasks);
        if (threads <= 1 || t_insideJob || !Monitor.TryEnter(Gate))
        {
            for (var i = 0; i < tasks; i++)
            {
                body(i);
            }
            return;
        }
        try
        {
            s_itemBody = body;
            s_rangeBody = null;
            s_count = tasks;
            Run(tasks);
        }
        finally
        {
            s_itemBody = null;
            Monitor.Exit(Gate);
        }
    }

    /// <summary>Number of worker threads started so far (the caller is not counted).</summary>
    internal static int WorkerCount
    {
        get
        {
            lock (Gate)
            {
                return Workers.Count;
            }
        }
    }

    // Caller holds Gate.
    private static void Run(int chunks)
    {
        var helpers = Math.Min(Engine.NumThreads, chunks) - 1;
        while (Workers.Count < helpers)
        {
            var signal = new SemaphoreSlim(0);
            var worker = new Thread(() => WorkerLoop(signal))
            {
                IsBackground = true,
                Name = $"rebalance-worker-{Workers.Count + 1}",
            };
            Workers.Add(worker);
            StartSignals.Add(signal);
            worker.Start();
        }
        s_chunks = chunks;
        s_nextChunk = 0;
        s_error = null;
        s_participants = helpers + 1;
        DoneSignal.Reset();
        for (var i = 0; i < helpers; i++)
        {
            StartSignals[i].Release();
        }
        RunChunks();
        Finish();
        DoneSignal.Wait();
        if (s_error is { } error)
        {
            ExceptionDispatchInfo.Capture(error).Throw();
        }
    }

    private static void WorkerLoop(SemaphoreSlim signal)
    {
        while (true)
        {
            signal.Wait();
            RunChunks();
            Finish();
        }
    }

    private static void Finish()
    {
        if (Interlocked.Decrement(ref s_participants) == 0)
        {
            DoneSignal.Set();
        }
    }

    private static void RunChunks()
    {
        t_insideJob = true;
        try
        {
            var chunks = s_chunks;
            var count = s_count;
            var range = s_rangeBody;
            var item = s_itemBody;
            while (true)
            {
                var c = Interlocked.Increment(ref s_nextChunk) - 1;
                if (c >= chunks || Volatile.Read(ref s_error) is not null)
                {
                    return;
                }
                if (range is not null)
                {
                    range((int)((long)count * c / chunks), (int)((long)count * (c + 1) / chunks));
                }
                else
                {
                    item!(c);
                }
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref s_error, e, null);
        }
        finally
        {
            t_insideJob = false;
        }
    }
}
