namespace Rebalance.Tensors;

/// <summary>The one place tensor buffers are allocated. Storage released by a <see cref="TensorScope"/>
/// comes back here and is handed out again for the next request of the same dtype and length.</summary>
internal static class Storage
{
    private const long MaxPooledBytes = 2L << 30;
    private const int MaxPerSize = 256;

    private static readonly Lock s_lock = new();
    private static readonly Dictionary<(DType, int), Stack<Array>> s_free = [];
    private static long s_pooledBytes;

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
                if (s_free.TryGetValue((dtype, length), out var stack) && stack.Count > 0)
                {
                    reused = stack.Pop();
                    s_pooledBytes -= Bytes(dtype, length);
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
            if (s_pooledBytes + bytes > MaxPooledBytes)
            {
                return;
            }
            if (!s_free.TryGetValue((dtype, array.Length), out var stack))
            {
                stack = new Stack<Array>();
                s_free[(dtype, array.Length)] = stack;
            }
            if (stack.Count >= MaxPerSize)
            {
                return;
            }
            stack.Push(array);
            s_pooledBytes += bytes;
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
