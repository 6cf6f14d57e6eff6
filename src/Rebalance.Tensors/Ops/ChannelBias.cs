using System.Numerics.Tensors;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

public sealed partial class Tensor
{
    /// <summary>
    /// y + bias over dim 1, (N, C, ...) + (C), written into <paramref name="y"/>'s storage and returned as a
    /// new tensor on it. Only for a fresh output whose own backward does not read it (a convolution's): the
    /// sum then needs no second full-size tensor, which would live as long as the graph. The values and
    /// both gradients are those of <c>y + bias.Reshape(1, C, 1, 1)</c>, bit for bit.
    /// </summary>
    internal static Tensor AddChannelBiasInto(Tensor y, Tensor bias)
    {
        var (n, c) = (y.Size(0), y.Size(1));
        var plane = n * c == 0 ? 0 : (int)(y.Numel / ((long)n * c));
        if (y.DType == DType.Float32)
        {
            var (data, b) = (y.Array<float>(), bias.Array<float>());
            CpuParallel.For(n * c, Math.Max(1, 16384 / Math.Max(1, plane)), (p0, p1) =>
            {
                for (var p = p0; p < p1; p++)
                {
                    var span = data.AsSpan(p * plane, plane);
                    TensorPrimitives.Add(span, b[p % c], span);
                }
            });
        }
        else
        {
            var (data, b) = (y.Array<double>(), bias.Array<double>());
            for (var p = 0; p < n * c; p++)
            {
                var span = data.AsSpan(p * plane, plane);
                TensorPrimitives.Add(span, b[p % c], span);
            }
        }
        var result = new Tensor(y, (int[])y._shape.Clone());
        var biasShape = bias._shape;
        var broadcast = new int[y.Rank];
        System.Array.Fill(broadcast, 1);
        broadcast[1] = c;
        Record(result, "BiasAddBackward", [y, bias], g => [g, bias._requiresGrad ? g.SumTo(broadcast).Reshape(biasShape) : null]);
        return result;
    }
}
