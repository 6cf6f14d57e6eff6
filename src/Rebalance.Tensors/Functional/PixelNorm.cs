using System.Numerics;
using System.Numerics.Tensors;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

public static partial class Functional
{
    /// <summary>
    /// Pixel-wise feature normalisation (Karras et al. 2018, ProGAN): each position's feature vector divided
    /// by its root mean square over the channels, y = x r with r = 1 / sqrt(mean_c x² + ε). (N, C, ...) → same
    /// shape. One kernel that keeps only r (N, 1, ...) besides its input, where the same formula written with
    /// tensor ops holds x², its mean, the root and the quotient until the step ends; the backward pass is one
    /// kernel too, and is written with differentiable ops when its own graph is recorded (a gradient penalty).
    /// </summary>
    public static Tensor PixelNorm(Tensor x, double eps = 1e-8)
    {
        if (x.Rank < 2)
        {
            throw new ArgumentException($"pixel_norm: expected (N, C, ...), got {ShapeUtil.Format(x.ShapeRef)}");
        }
        x.CheckFloating("pixel_norm");
        var (n, c) = (x.Size(0), x.Size(1));
        var s = c == 0 ? 0 : x.Numel / (n * c);
        var rShape = (int[])x.ShapeRef.Clone();
        rShape[1] = 1;
        var y = Tensor.Empty((int[])x.ShapeRef.Clone(), x.DType);
        var r = Tensor.Empty(rShape, x.DType);
        if (x.DType == DType.Float32)
        {
            PixelNormKernels.Forward(x.Array<float>(), y.Array<float>(), r.Array<float>(), n, c, s, (float)eps);
        }
        else
        {
            PixelNormKernels.Forward(x.Array<double>(), y.Array<double>(), r.Array<double>(), n, c, s, eps);
        }
        Tensor.Record(y, "PixelNormBackward", [x], g =>
        {
            if (GradMode.IsEnabled)
            {
                // dx = r g - x r³ mean_c(g x), with r recomputed from x so that its dependence on x is recorded.
                var rr = 1.0 / Tensor.Sqrt((x * x).Mean(1, keepDim: true) + eps);
                return [(g * rr) - (x * (rr * rr * rr * (g * x).Mean(1, keepDim: true)))];
            }
            var gx = Tensor.Empty((int[])x.ShapeRef.Clone(), x.DType);
            if (x.DType == DType.Float32)
            {
                PixelNormKernels.Backward(g.Array<float>(), x.Array<float>(), r.Array<float>(), gx.Array<float>(), n, c, s);
            }
            else
            {
                PixelNormKernels.Backward(g.Array<double>(), x.Array<double>(), r.Array<double>(), gx.Array<double>(), n, c, s);
            }
            return [gx];
        });
        return y;
    }
}

/// <summary>The kernels of <see cref="Functional.PixelNorm"/> over contiguous (N, C, S): each sample on its
/// own, channels in order, so the split over threads does not change any result.</summary>
internal static class PixelNormKernels
{
    /// <summary>r[n, s] = 1 / sqrt(Σ_c x² / C + ε) and y = x r.</summary>
    public static void Forward<T>(T[] x, T[] y, T[] r, int n, int c, int s, T eps)
        where T : unmanaged, IRootFunctions<T>, IFloatingPointIeee754<T>
    {
        var inverseC = T.One / T.CreateChecked(c);
        CpuParallel.For(n, Math.Max(1, 16384 / Math.Max(1, c * s)), (n0, n1) =>
        {
            for (var i = n0; i < n1; i++)
            {
                var ri = r.AsSpan(i * s, s);
                ri.Clear();
                for (var ch = 0; ch < c; ch++)
                {
                    var xc = x.AsSpan(((i * c) + ch) * s, s);
                    TensorPrimitives.MultiplyAdd(xc, xc, ri, ri);
                }
                for (var p = 0; p < s; p++)
                {
                    ri[p] = T.One / T.Sqrt((ri[p] * inverseC) + eps);
                }
                for (var ch = 0; ch < c; ch++)
                {
                    var o = ((i * c) + ch) * s;
                    TensorPrimitives.Multiply(x.AsSpan(o, s), ri, y.AsSpan(o, s));
                }
            }
        });
    }

    /// <summary>gx = r g - x r³ Σ_c(g x) / C.</summary>
    public static void Backward<T>(T[] g, T[] x, T[] r, T[] gx, int n, int c, int s)
        where T : unmanaged, IRootFunctions<T>, IFloatingPointIeee754<T>
    {
        var inverseC = T.One / T.CreateChecked(c);
        CpuParallel.For(n, Math.Max(1, 16384 / Math.Max(1, c * s)), (n0, n1) =>
        {
            var scratch = BufferPool.Rent<T>(s);
            var coef = scratch.AsSpan(0, s);
            for (var i = n0; i < n1; i++)
            {
                var ri = r.AsSpan(i * s, s);
                coef.Clear();
                for (var ch = 0; ch < c; ch++)
                {
                    var o = ((i * c) + ch) * s;
                    TensorPrimitives.MultiplyAdd(g.AsSpan(o, s), x.AsSpan(o, s), coef, coef);
                }
                for (var p = 0; p < s; p++)
                {
                    // Negated, so that gx = g r + x coef.
                    coef[p] = -(ri[p] * ri[p] * ri[p] * coef[p] * inverseC);
                }
                for (var ch = 0; ch < c; ch++)
                {
                    var o = ((i * c) + ch) * s;
                    var gxc = gx.AsSpan(o, s);
                    TensorPrimitives.Multiply(g.AsSpan(o, s), ri, gxc);
                    TensorPrimitives.MultiplyAdd(x.AsSpan(o, s), coef, gxc, gxc);
                }
            }
            BufferPool.Return(scratch);
        });
    }
}
