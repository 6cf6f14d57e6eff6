using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>Nearest-neighbour upsampling and its adjoint, the sum over each f x f block, each the other's
/// backward (so second derivatives work, as a gradient penalty through a generator's or critic's upsampling
/// needs). Neither keeps an index: the layout alone says where each element goes.</summary>
public sealed partial class Tensor
{
    /// <summary>(N, C, H, W) → (N, C, H·f, W·f), every element copied to its f x f block.</summary>
    internal static Tensor UpsampleNearest(Tensor x, int f)
    {
        var (n, c, h, w) = (x.Size(0), x.Size(1), x.Size(2), x.Size(3));
        var y = Empty([n, c, h * f, w * f], x.DType);
        if (x.DType == DType.Float32)
        {
            Resample.Upsample(x.Array<float>(), y.Array<float>(), n * c, h, w, f);
        }
        else
        {
            Resample.Upsample(x.Array<double>(), y.Array<double>(), n * c, h, w, f);
        }
        Record(y, "UpsampleNearestBackward", [x], g => [BlockSum(g, f)]);
        return y;
    }

    /// <summary>(N, C, H·f, W·f) → (N, C, H, W), each f x f block summed (the adjoint of <see cref="UpsampleNearest"/>).</summary>
    internal static Tensor BlockSum(Tensor g, int f)
    {
        var (n, c, oh, ow) = (g.Size(0), g.Size(1), g.Size(2), g.Size(3));
        var y = Empty([n, c, oh / f, ow / f], g.DType);
        if (g.DType == DType.Float32)
        {
            Resample.BlockSum(g.Array<float>(), y.Array<float>(), n * c, oh / f, ow / f, f);
        }
        else
        {
            Resample.BlockSum(g.Array<double>(), y.Array<double>(), n * c, oh / f, ow / f, f);
        }
        Record(y, "BlockSumBackward", [g], gg => [UpsampleNearest(gg, f)]);
        return y;
    }
}
