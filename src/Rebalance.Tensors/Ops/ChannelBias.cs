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
            AddBias(y.Array<float>(), bias.Array<float>(), n * c, c, plane);
        }
        else
        {
            AddBias(y.Array<double>(), bias.Array<double>(), n * c, c, plane);
        }
        var result = new Tensor(y, (int[])y._shape.Clone());
        var biasShape = bias._shape;
        var broadcast = new int[y.Rank];
        System.Array.Fill(broadcast, 1);
        broadcast[1] = c;
        Record(result, "BiasAddBackward", [y, bias], g => [g, bias._requiresGrad ? g.SumTo(broadcast).Reshape(biasShape) : null]);
        return result;
    }

    // Plane p of (N, C, plane) gets b[p mod C]: one rounding, as the broadcast add's.
    private static void AddBias<T>(T[] data, T[] b, int planes, int c, int plane)
        where T : unmanaged, System.Numerics.INumber<T> =>
        CpuParallel.For(planes, Math.Max(1, 16384 / Math.Max(1, plane)), (p0, p1) =>
        {
            for (var p = p0; p < p1; p++)
            {
                var span = data.AsSpan(p * plane, plane);
                TensorPrimitives.Add<T>(span, b[p % c], span);
            }
        });
}
