using System.Buffers;

namespace Rebalance.Tensors.Kernels;

/// <summary>Scratch buffers for kernels (packing panels, im2col columns). Rented arrays may be
/// longer than asked and hold stale data; callers overwrite what they use.</summary>
internal static class BufferPool
{
    public static T[] Rent<T>(int length) => ArrayPool<T>.Shared.Rent(Math.Max(1, length));

    public static void Return<T>(T[] buffer) => ArrayPool<T>.Shared.Return(buffer);
}
