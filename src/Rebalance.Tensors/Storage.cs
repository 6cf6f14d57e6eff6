namespace Rebalance.Tensors;

/// <summary>The one place tensor buffers are allocated. Storage released by a <see cref="TensorScope"/>
/// comes back here and is handed out again for the next request of the same dtype and length.</summary>
internal static class Storage
{
    /// <summary>Above this many pooled bytes, sizes nobody asked for recently are dropped (least recently
    /// used first).</summary>
    internal static long SoftLimitBytes { get; set; } = 256L << 20;

    /// <summary>A size is stale once this many bytes of other requests have come and gone since its last
    /// use. A training step asks for the same sizes every step, so its buffers stay fresh as long as one
    /// step's requests add up to less than this.</summary>
    internal static long StaleAfterBytes { get; set; } = 512L << 20;

    /// <summary>The pool never holds more than this; above it, the least recently used sizes go whether
    /// stale or not.</summary>
    internal static long HardLimitBytes { get; set; } = 2L << 30;

    private const int MaxPerSize = 256;

    private sealed class Entry
    {
        public readonly Stack<Array> Free = new();
        public long LastUsed;
    }

    private static readonly Lock s_lock = new();
    private static readonly Dictionary<(DType, int), Entry> s_free = [];
    private static long s_pooledBytes;

    // A clock that advances by the bytes of every request and return, so "recently" means "within the last
    // so many bytes of traffic", whatever the sizes involved.
    private static long s_clock;

    /// <summary>Tests set this to fill returned storage with NaN (ints with a sentinel), so an op that
    /// wrongly relies on fresh storage being zero shows up.</summary>
    internal static bool PoisonReturned { get; set; }

    public static Array Allocate(DType dtype, int length, bool zero)
    {
        if (length > 0)
        {
            Array? reused = null;
            lock (s_lock)
            {
                var bytes = Bytes(dtype, length);
                s_clock += bytes;
                if (s_free.TryGetValue((dtype, length), out var entry))
                {
                    entry.LastUsed = s_clock;
                    if (entry.Free.Count > 0)
                    {
                        reused = entry.Free.Pop();
                        s_pooledBytes -= bytes;
                    }
                }
            }
            if (reused is not null)
            {
                if (zero)
                {
                    System.Array.Clear(reused);
                }
                return reused;
            }
        }
        return dtype switch
        {
            DType.Float32 => zero ? new float[length] : GC.AllocateUninitializedArray<float>(length),
            DType.Float64 => zero ? new double[length] : GC.AllocateUninitializedArray<double>(length),
            _ => zero ? new int[length] : GC.AllocateUninitializedArray<int>(length),
        };
    }

    /// <summary>Takes back storage no tensor refers to any more.</summary>
    public static void Return(Array? array)
    {
        if (array is null || array.Length == 0)
        {
            return;
        }
        var dtype = array switch
        {
            float[] => DType.Float32,
            double[] => DType.Float64,
            _ => DType.Int32,
        };
        var bytes = Bytes(dtype, array.Length);
        if (PoisonReturned)
        {
            switch (array)
            {
                case float[] f: System.Array.Fill(f, float.NaN); break;
                case double[] d: System.Array.Fill(d, double.NaN); break;
                case int[] n: System.Array.Fill(n, int.MinValue + 7); break;
            }
        }
        lock (s_lock)
        {
            s_clock += bytes;
            if (bytes > HardLimitBytes)
            {
                return;
            }
            if (!s_free.TryGetValue((dtype, array.Length), out var entry))
            {
                entry = new Entry();
                s_free[(dtype, array.Length)] = entry;
            }
            entry.LastUsed = s_clock;
            if (entry.Free.Count >= MaxPerSize)
            {
                return;
            }
            entry.Free.Push(array);
            s_pooledBytes += bytes;
            if (s_pooledBytes > SoftLimitBytes)
            {
                Evict(entry);
            }
        }
    }

    /// <summary>Drops whole sizes, least recently used first: stale ones while the pool is over the soft
    /// limit, any (but <paramref name="keep"/>) while it is over the hard limit. Under the lock.</summary>
    private static void Evict(Entry keep)
    {
        while (s_pooledBytes > SoftLimitBytes)
        {
            (DType, int) victimKey = default;
            Entry? victim = null;
            List<(DType, int)>? empty = null;
            foreach (var (key, entry) in s_free)
            {
                if (entry.Free.Count == 0)
                {
                    if (s_clock - entry.LastUsed > StaleAfterBytes)
                    {
                        (empty ??= []).Add(key);
                    }
                }
                else if (entry != keep && (victim is null || entry.LastUsed < victim.LastUsed))
                {
                    (victimKey, victim) = (key, entry);
                }
            }
            foreach (var key in empty ?? [])
            {
                s_free.Remove(key);
            }
            if (victim is null || (s_pooledBytes <= HardLimitBytes && s_clock - victim.LastUsed <= StaleAfterBytes))
            {
                break;
            }
            s_pooledBytes -= victim.Free.Count * Bytes(victimKey.Item1, victimKey.Item2);
            s_free.Remove(victimKey);
        }
        while (s_pooledBytes > HardLimitBytes && keep.Free.Count > 0)
        {
            var dropped = keep.Free.Pop();
            s_pooledBytes -= Bytes(dropped is double[] ? DType.Float64 : DType.Float32, dropped.Length);
        }
    }

    /// <summary>Bytes of pooled storage.</summary>
    public static long PooledBytes
    {
        get
        {
            lock (s_lock)
            {
                return s_pooledBytes;
            }
        }
    }

    /// <summary>Drops every pooled buffer (for tests and for callers about to change workload).</summary>
    public static void Trim()
    {
        lock (s_lock)
        {
            s_free.Clear();
            s_pooledBytes = 0;
        }
    }

    private static long Bytes(DType dtype, int length) => (long)length * (dtype == DType.Float64 ? 8 : 4);
}
