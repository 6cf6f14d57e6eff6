namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Splits index ranges into coarse chunks for the thread pool. A range smaller than
/// <c>minChunk</c> per extra thread runs inline on the caller, so small tensors pay no scheduling cost.
/// </summary>
internal static class CpuParallel
{
    /// <summary>Runs <paramref name="body"/>(start, end) over [0, count) in at most NumThreads chunks of at least minChunk items.</summary>
    public static void For(int count, int minChunk, Action<int, int> body)
    {
        if (count <= 0)
        {
            return;
        }
        var threads = Engine.NumThreads;
        var chunks = Math.Min(threads, Math.Max(1, count / Math.Max(1, minChunk)));
        if (chunks <= 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
        {
            var start = (int)((long)count * c / chunks);
            var end = (int)((long)count * (c + 1) / chunks);
            body(start, end);
        });
    }

    /// <summary>Runs body(i) for each of <paramref name="tasks"/> independent work items.</summary>
    public static void ForEach(int tasks, Action<int> body)
    {
        var threads = Math.Min(Engine.NumThreads, tasks);
        if (threads <= 1)
        {
            for (var i = 0; i < tasks; i++)
            {
                body(i);
            }
            return;
        }
        Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
    }
}
