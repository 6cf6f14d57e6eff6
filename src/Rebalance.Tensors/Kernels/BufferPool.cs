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

        private static int Bucket(int length) => BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)length));
    }
}
