namespace Rebalance.Tensors;

/// <summary>The one place tensor buffers are allocated, so a pooling policy can be added without
/// touching the ops. Buffers that an op overwrites completely are taken uninitialised.</summary>
internal static class Storage
{
    public static Array Allocate(DType dtype, int length, bool zero) => dtype switch
    {
        DType.Float32 => zero ? new float[length] : GC.AllocateUninitializedArray<float>(length),
        DType.Float64 => zero ? new double[length] : GC.AllocateUninitializedArray<double>(length),
        _ => zero ? new int[length] : GC.AllocateUninitializedArray<int>(length),
    };
}
