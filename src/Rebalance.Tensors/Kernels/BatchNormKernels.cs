using System.Numerics;
using System.Numerics.Tensors;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Batch normalisation in training mode as two fused kernels over (N, C, S) data (S = the product of the
/// spatial sizes, 1 for (N, C) input): the forward computes each channel's mean and biased variance
/// (two passes, so a large mean does not cancel the variance away) and writes y = x * scale + shift; the
/// backward computes the channel sums of gy and gy * (x - mean) and writes gx = a * gy + b * x + c.
/// Channels are split over threads; each channel's sums run on one thread in a fixed order (planes in
/// order, each plane summed by the vector library, partial sums added in double), so results do not
/// depend on the thread count.
/// </summary>
internal static class BatchNormKernels
{
    /// <summary>
    /// y = (x - mean) * invstd * gamma + beta per channel; returns mean, biased variance and invstd
    /// = 1 / sqrt(variance + eps) per channel. gamma and beta may be null (1 and 0).
    /// </summary>
    public static void Forward<T>(T[] x, int n, int c, int s, T[]? gamma, T[]? beta, double eps, T[] y, double[] mean, double[] variance, double[] invstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var count = (double)n * s;
        CpuParallel.For(c, 1, (c0, c1) =>
        {
            var tmp = BufferPool.Rent<T>(s);
            for (var ch = c0; ch < c1; ch++)
            {
                var sum = 0d;
                for (var i = 0; i < n; i++)
                {
                    sum += double.CreateTruncating(TensorPrimitives.Sum<T>(x.AsSpan(((i * c) + ch) * s, s)));
                }
                var m = sum / count;
                var tm = T.CreateTruncating(m);
                var sq = 0d;
                for (var i = 0; i < n; i++)
                {
                    var centred = tmp.AsSpan(0, s);
                    TensorPrimitives.Subtract<T>(x.AsSpan(((i * c) + ch) * s, s), tm, centred);
                    sq += double.CreateTruncating(TensorPrimitives.SumOfSquares<T>(centred));
                }
                var v = sq / count;
                var inv = 1d / Math.Sqrt(v + eps);
                mean[ch] = m;
                variance[ch] = v;
                invstd[ch] = inv;
                var g = gamma is null ? 1d : double.CreateTruncating(gamma[ch]);
                var b = beta is null ? 0d : double.CreateTruncating(beta[ch]);
                var scale = T.CreateTruncating(inv * g);
                var shift = T.CreateTruncating(b - (m * inv * g));
                for (var i = 0; i < n; i++)
                {
                    var off = ((i * c) + ch) * s;
                    var dst = y.AsSpan(off, s);
                    TensorPrimitives.Multiply<T>(x.AsSpan(off, s), scale, dst);
                    TensorPrimitives.Add<T>(dst, shift, dst);
                }
            }
            BufferPool.Return(tmp);
        });
    }

    /// <summary>
    /// Gradients of the forward above for output gradient gy: gx (may be null when not needed), and per
    /// channel dgamma = sum gy * xhat and dbeta = sum gy (either may be null).
    /// </summary>
    public static void Backward<T>(T[] x, T[] gy, int n, int c, int s, T[]? gamma, double[] mean, double[] invstd, T[]? gx, T[]? dgamma, T[]? dbeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var count = (double)n * s;
        CpuParallel.For(c, 1, (c0, c1) =>
        {
            var tmp = BufferPool.Rent<T>(s);
            for (var ch = c0; ch < c1; ch++)
            {
                var tm = T.CreateTruncating(mean[ch]);
                var sumGy = 0d;
                var sumGyXc = 0d;
                for (var i = 0; i < n; i++)
                {
                    var off = ((i * c) + ch) * s;
                    var g = gy.AsSpan(off, s);
                    var centred = tmp.AsSpan(0, s);
                    TensorPrimitives.Subtract<T>(x.AsSpan(off, s), tm, centred);
                    sumGy += double.CreateTruncating(TensorPrimitives.Sum<T>(g));
                    sumGyXc += double.CreateTruncating(TensorPrimitives.Dot<T>(g, centred));
                }
                var inv = invstd[ch];
                var dg = sumGyXc * inv; // sum gy * xhat
                if (dbeta is not null)
                {
                    dbeta[ch] = T.CreateTruncating(sumGy);
                }
                if (dgamma is not null)
                {
                    dgamma[ch] = T.CreateTruncating(dg);
                }
                if (gx is null)
                {
                    continue;
                }
                // gx = gamma * invstd * (gy - sumGy / M - xhat * dg / M) = a * gy + b * x + k
                var gam = gamma is null ? 1d : double.CreateTruncating(gamma[ch]);
                var a = gam * inv;
                var b = -a * inv * dg / count;
                var k = (-a * sumGy / count) - (b * mean[ch]);
                var ta = T.CreateTruncating(a);
                var tb = T.CreateTruncating(b);
                var tk = T.CreateTruncating(k);
                for (var i = 0; i < n; i++)
                {
                    var off = ((i * c) + ch) * s;
                    var partial = tmp.AsSpan(0, s);
                    TensorPrimitives.Multiply<T>(x.AsSpan(off, s), tb, partial);
                    TensorPrimitives.Add<T>(partial, tk, partial);
                    TensorPrimitives.MultiplyAdd<T>(gy.AsSpan(off, s), ta, partial, gx.AsSpan(off, s));
                }
            }
            BufferPool.Return(tmp);
        });
    }
}
