namespace Rebalance.Tensors;

/// <summary>Element type of a tensor. Float32 is the working type; Float64 exists for gradient
/// checks and numerically sensitive statistics; Int32 holds indices and labels.</summary>
public enum DType
{
    /// <summary>32-bit IEEE float, the working type.</summary>
    Float32,

    /// <summary>64-bit IEEE float, for gradient checks and sensitive statistics.</summary>
    Float64,

    /// <summary>32-bit signed integer, for indices and labels.</summary>
    Int32,
}

/// <summary>Helpers for <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>True for Float32 and Float64.</summary>
    public static bool IsFloating(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <summary>Lower-case name as PyTorch spells it (float32, float64, int32).</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float64 => "float64",
        _ => "int32",
    };
}
