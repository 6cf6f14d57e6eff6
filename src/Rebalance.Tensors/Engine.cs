namespace Rebalance.Tensors;

/// <summary>Process-wide engine settings.</summary>
public static class Engine
{
    private static int s_threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>
    /// Worker threads used by the kernels (default: the processor count). Results do not depend on
    /// it: work that reduces is split into the same chunks whatever the thread count.
    /// </summary>
    public static int NumThreads
    {
        get => s_threads;
        set
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "NumThreads must be at least 1");
            }
            s_threads = value;
        }
    }

    /// <summary>The instruction set the float32 kernels use on this machine ("avx512", "avx2" or "scalar").</summary>
    public static string InstructionSet => Kernels.Gemm.ActiveKernel.ToString().ToLowerInvariant();
}
