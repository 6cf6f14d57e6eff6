using System.Numerics;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Scratch buffers for kernels (packing panels, im2col columns, partial sums). Rented arrays may be
/// longer than asked (lengths are rounded up to a power of two) and hold stale data; callers overwrite
/// what they use. Unlike the shared ArrayPool, this pool never trims itself under memory pressure and
/// keeps enough arrays per size for every thread, so a repeated training step allocates no scratch.
/// Arrays live on the pinned heap: they never move, so a kernel may align a pointer into one and find the
/// same alignment in a later <c>fixed</c> block.
/// </summary>
internal static class BufferPool
{
    private const int MaxPerBucket = 64;

    public static T[] Rent<T>(int length) => Pool<T>.Rent(length);

    public static void Return<T>(T[] buffer) => Pool<T>.Return(buffer);

    /// <summary>Drops the pooled float, double and int buffers (<see cref="TensorMemory.Trim"/>).</summary>
    public static void Trim()
    {
        Pool<float>.Clear();
        Pool<double>.Clear();
        Pool<int>.Clear();
    }

    /// <summary>Bytes of pooled buffers.</summary>
    public static long PooledBytes => Pool<float>.Bytes(4) + Pool<double>.Bytes(8) + Pool<int>.Bytes(4);

    private static class Pool<T>
    {
        private static readonly Stack<T[]>[] s_buckets = Enumerable.Range(0, 32).Select(_ => new Stack<T[]>()).ToArray();

        public static T[] Rent(int length)
        {
            var bucket = Bucket(Math.Max(1, length));
            var stack = s_buckets[bucket];
            lock (stack)
            {
                if (stack.Count > 0)
                {
                    return stack.Pop();
                }
            }
            return GC.AllocateUninitializedArray<T>(1 << bucket, pinned: true);
        }

        public static void Return(T[] buffer)
        {
            if (buffer.Length == 0 || !BitOperations.IsPow2(buffer.Length))
            {
                return;
            }
            var stack = s_buckets[BitOperations.Log2((uint)buffer.Length)];
            lock (stack)
            {
                if (stack.Count < MaxPerBucket)
                {
                    stack.Push(buffer);
                }
            }
        }

        public static void Clear()
        {
            foreach (var stack in s_buckets)
            {
                lock (stack)
                {
                    stack.Clear();
                }
            }
        }

        public static long Bytes(int elementSize)
        {
            long total = 0;
            for (var b = 0; b < s_buckets.Length; b++)
            {
                lock (s_buckets[b])
                {
                    total += (long)s_buckets[b].Count * (1L << b) * elementSize;
                }
            }
            return total;
        }

        private static int Bucket(int length) => BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)length));
    }
}
