using System.Runtime;

namespace Rebalance.Tensors;

/// <summary>
/// The engine's reusable memory: tensor storage released by scopes and kernel scratch buffers are kept for
/// the next request of the same size, so a repeated training step allocates nothing. A workload that
/// changes shape (the next method of an experiment, another model) cannot use what the last one left, so
/// callers trim between workloads: <see cref="Trim"/> drops both pools and has the garbage collector
/// compact and return the freed memory to the operating system.
/// </summary>
public static class TensorMemory
{
    /// <summary>Bytes held by the pools now.</summary>
    public static long PooledBytes => Storage.PooledBytes + Kernels.BufferPool.PooledBytes;

    /// <summary>Drops the pooled storage and scratch buffers and collects, compacting the large-object heap,
    /// so the process's resident memory falls back to what live tensors and data use.</summary>
    public static void Trim()
    {
        Storage.Trim();
        Kernels.BufferPool.Trim();
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }
}
