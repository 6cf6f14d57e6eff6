using System.Numerics;
using System.Numerics.Tensors;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Batch normalisation in training mode as two fused kernels over (N, C, S) data (S = the product of the
/// spatial sizes, 1 for (N, C) input): the forward computes each channel's mean and biased variance
/// (two passes, so a large mean does not cancel the variance away) and writes y = x * scale + shift; the
/// backward computes the channel sums of gy and gy * (x - mean) and writes gx = a * gy + b * x + c.
/// Channels are split over threads; each channel's sums run on one thread in a fixed order, so results
/// do not depend on the thread count. Planes of at least <see cref="PlaneMin"/> values are summed one
/// plane at a time by the vector library, partial sums added in double; smaller planes (a BatchNorm1d
/// over (N, C) has planes of one value) are summed a row at a time, vectorised across the channels.
/// </summary>
internal static class BatchNormKernels
{
    private const int PlaneMin = 16;

    /// <summary>
    /// y = (x - mean) * invstd * gamma + beta per channel; returns mean, biased variance and invstd
    /// = 1 / sqrt(variance + eps) per channel. gamma and beta may be null (1 and 0).
    /// </summary>
    public static void Forward<T>(T[] x, int n, int c, int s, T[]? gamma, T[]? beta, double eps, T[] y, double[] mean, double[] variance, double[] invstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (s < PlaneMin)
        {
            ForwardRows(x, n, c, s, gamma, beta, eps, y, mean, variance, invstd);
            return;
        }
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
        if (s < PlaneMin)
        {
            BackwardRows(x, gy, n, c, s, gamma, mean, invstd, gx, dgamma, dbeta);
            return;
        }
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

    // ---- small planes: a row (one image's channels [c0, c1), each with its s values) at a time ----

    /// <summary>Per-channel totals of acc ((c1 - c0) x s values, channel-major), in double.</summary>
    private static double ChannelTotal<T>(ReadOnlySpan<T> acc, int k, int s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = 0d;
        for (var j = 0; j < s; j++)
        {
            t += double.CreateTruncating(acc[(k * s) + j]);
        }
        return t;
    }

    /// <summary>Fills v ((c1 - c0) x s values) with value(channel) repeated s times per channel.</summary>
    private static void Broadcast<T>(Span<T> v, int c0, int c1, int s, Func<int, double> value)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var ch = c0; ch < c1; ch++)
        {
            v.Slice((ch - c0) * s, s).Fill(T.CreateTruncating(value(ch)));
        }
    }

    private static void ForwardRows<T>(T[] x, int n, int c, int s, T[]? gamma, T[]? beta, double eps, T[] y, double[] mean, double[] variance, double[] invstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var count = (double)n * s;
        CpuParallel.For(c, 64, (c0, c1) =>
        {
            var len = (c1 - c0) * s;
            var accBuf = BufferPool.Rent<T>(len);
            var tmpBuf = BufferPool.Rent<T>(len);
            var acc = accBuf.AsSpan(0, len);
            var tmp = tmpBuf.AsSpan(0, len);
            acc.Clear();
            for (var i = 0; i < n; i++)
            {
                TensorPrimitives.Add<T>(acc, x.AsSpan(((i * c) + c0) * s, len), acc);
            }
            for (var ch = c0; ch < c1; ch++)
            {
                mean[ch] = ChannelTotal<T>(acc, ch - c0, s) / count;
            }
            var means = BufferPool.Rent<T>(len);
            var m = means.AsSpan(0, len);
            Broadcast<T>(m, c0, c1, s, ch => mean[ch]);
            acc.Clear();
            for (var i = 0; i < n; i++)
            {
                TensorPrimitives.Subtract<T>(x.AsSpan(((i * c) + c0) * s, len), m, tmp);
                TensorPrimitives.MultiplyAdd<T>(tmp, tmp, acc, acc);
            }
            for (var ch = c0; ch < c1; ch++)
            {
                variance[ch] = ChannelTotal<T>(acc, ch - c0, s) / count;
                invstd[ch] = 1d / Math.Sqrt(variance[ch] + eps);
            }
            // y = x * scale + shift per channel
            var scale = acc;
            var shift = tmp;
            Broadcast<T>(scale, c0, c1, s, ch => invstd[ch] * (gamma is null ? 1d : double.CreateTruncating(gamma[ch])));
            Broadcast<T>(shift, c0, c1, s, ch => (beta is null ? 0d : double.CreateTruncating(beta[ch])) - (mean[ch] * invstd[ch] * (gamma is null ? 1d : double.CreateTruncating(gamma[ch]))));
            for (var i = 0; i < n; i++)
            {
                var off = ((i * c) + c0) * s;
                TensorPrimitives.MultiplyAdd<T>(x.AsSpan(off, len), scale, shift, y.AsSpan(off, len));
            }
            BufferPool.Return(means);
            BufferPool.Return(tmpBuf);
            BufferPool.Return(accBuf);
        });
    }

    private static void BackwardRows<T>(T[] x, T[] gy, int n, int c, int s, T[]? gamma, double[] mean, double[] invstd, T[]? gx, T[]? dgamma, T[]? dbeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var count = (double)n * s;
        CpuParallel.For(c, 64, (c0, c1) =>
        {
            var len = (c1 - c0) * s;
            var bufs = new[] { BufferPool.Rent<T>(len), BufferPool.Rent<T>(len), BufferPool.Rent<T>(len), BufferPool.Rent<T>(len) };
            var sumGy = bufs[0].AsSpan(0, len);
            var sumGyXc = bufs[1].AsSpan(0, len);
            var m = bufs[2].AsSpan(0, len);
            var tmp = bufs[3].AsSpan(0, len);
            sumGy.Clear();
            sumGyXc.Clear();
            Broadcast<T>(m, c0, c1, s, ch => mean[ch]);
            for (var i = 0; i < n; i++)
            {
                var off = ((i * c) + c0) * s;
                var g = gy.AsSpan(off, len);
                TensorPrimitives.Add<T>(sumGy, g, sumGy);
                TensorPrimitives.Subtract<T>(x.AsSpan(off, len), m, tmp);
                TensorPrimitives.MultiplyAdd<T>(g, tmp, sumGyXc, sumGyXc);
            }
            var a = BufferPool.Rent<double>(c1 - c0);
            var b = BufferPool.Rent<double>(c1 - c0);
            var k = BufferPool.Rent<double>(c1 - c0);
            for (var ch = c0; ch < c1; ch++)
            {
                var sg = ChannelTotal<T>(sumGy, ch - c0, s);
                var dg = ChannelTotal<T>(sumGyXc, ch - c0, s) * invstd[ch];
                if (dbeta is not null)
                {
                    dbeta[ch] = T.CreateTruncating(sg);
                }
                if (dgamma is not null)
                {
                    dgamma[ch] = T.CreateTruncating(dg);
                }
                var gam = gamma is null ? 1d : double.CreateTruncating(gamma[ch]);
                a[ch - c0] = gam * invstd[ch];
                b[ch - c0] = -a[ch - c0] * invstd[ch] * dg / count;
                k[ch - c0] = (-a[ch - c0] * sg / count) - (b[ch - c0] * mean[ch]);
            }
            if (gx is not null)
            {
                // gx = a * gy + (b * x + k); the four scratch rows now hold a, b, k and the partial.
                var va = sumGy;
                var vb = sumGyXc;
                var vk = m;
                Broadcast<T>(va, c0, c1, s, ch => a[ch - c0]);
                Broadcast<T>(vb, c0, c1, s, ch => b[ch - c0]);
                Broadcast<T>(vk, c0, c1, s, ch => k[ch - c0]);
                for (var i = 0; i < n; i++)
                {
                    var off = ((i * c) + c0) * s;
                    TensorPrimitives.MultiplyAdd<T>(x.AsSpan(off, len), vb, vk, tmp);
                    TensorPrimitives.MultiplyAdd<T>(gy.AsSpan(off, len), va, tmp, gx.AsSpan(off, len));
                }
            }
            foreach (var buf in bufs)
            {
                BufferPool.Return(buf);
            }
            BufferPool.Return(a);
            BufferPool.Return(b);
            BufferPool.Return(k);
        });
    }
}
