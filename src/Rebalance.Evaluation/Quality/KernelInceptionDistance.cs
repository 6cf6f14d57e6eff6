using System.Numerics;
using Rebalance.Tensors;

namespace Rebalance.Evaluation.Quality;

/// <summary>
/// KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of the squared maximum mean
/// discrepancy between real and generated features under the cubic polynomial kernel
/// k(x, y) = (xᵀy / d + 1)³, averaged over random subsets of equal size drawn without replacement;
/// reported as mean and sample standard deviation over subsets. Unlike FID it is unbiased, so it can be
/// compared across sample sizes.
/// </summary>
public static class KernelInceptionDistance
{
    /// <summary>Mean and sample standard deviation of the subset estimates (std is NaN with one subset).</summary>
    public static (double Mean, double Std) Compute(float[][] real, float[][] fake, int subsets = 100, int subsetSize = 1000, ulong seed = 0)
    {
        var x = NearestNeighbourMeasures.ToDouble(real, "real");
        var y = NearestNeighbourMeasures.ToDouble(fake, "generated");
        var d = x[0].Length;
        if (y[0].Length != d)
        {
            throw new ArgumentException($"feature dimensions differ: {d} (real) and {y[0].Length} (generated)");
        }
        var m = Math.Min(subsetSize, Math.Min(x.Length, y.Length));
        if (m < 2)
        {
            throw new ArgumentException($"KID needs at least 2 samples on each side, got {x.Length} real and {y.Length} generated");
        }
        var gen = new Generator(seed);
        var values = new double[subsets];
        for (var s = 0; s < subsets; s++)
        {
            // A subset as large as the set is the whole set, in order (and the same for every subset).
            var xi = m == x.Length ? [.. Enumerable.Range(0, m)] : Pick(gen, x.Length, m);
            var yi = m == y.Length ? [.. Enumerable.Range(0, m)] : Pick(gen, y.Length, m);
            values[s] = UnbiasedMmd2([.. xi.Select(i => x[i])], [.. yi.Select(i => y[i])]);
        }
        return ClassificationMetrics.MeanStd(values);
    }

    /// <summary>The unbiased MMD² of two equal-size samples under the cubic polynomial kernel.</summary>
    public static double UnbiasedMmd2(double[][] x, double[][] y)
    {
        var m = x.Length;
        var d = x[0].Length;
        // Rows two at a time, each row's sums in a fixed order (j ascending) and the rows added in order
        // afterwards, so the result does not depend on the thread count. k(x_i, x_j) is symmetric: the
        // pairs j > i count twice.
        var rowXx = new double[m];
        var rowYy = new double[m];
        var rowXy = new double[m];
        Parallel.For(0, (m + 1) / 2, pair =>
        {
            var i0 = 2 * pair;
            var i1 = Math.Min(i0 + 1, m - 1);
            Span<double> dots = stackalloc double[8];
            double xx0 = 0, xx1 = 0, yy0 = 0, yy1 = 0, xy0 = 0, xy1 = 0;
            static double K(double dot, int d)
            {
                var v = (dot / d) + 1;
                return v * v * v;
            }
            for (var j = i0 / 4 * 4; j < m; j += 4)
            {
                var count = Math.Min(4, m - j);
                Dots2x4(x[i0], x[i1], x, j, count, dots);
                for (var t = 0; t < count; t++)
                {
                    xx0 += j + t > i0 ? K(dots[t], d) : 0;
                    xx1 += j + t > i1 ? K(dots[4 + t], d) : 0;
                }
                Dots2x4(y[i0], y[i1], y, j, count, dots);
                for (var t = 0; t < count; t++)
                {
                    yy0 += j + t > i0 ? K(dots[t], d) : 0;
                    yy1 += j + t > i1 ? K(dots[4 + t], d) : 0;
                }
            }
            for (var j = 0; j < m; j += 4)
            {
                var count = Math.Min(4, m - j);
                Dots2x4(x[i0], x[i1], y, j, count, dots);
                for (var t = 0; t < count; t++)
                {
                    xy0 += K(dots[t], d);
                    xy1 += K(dots[4 + t], d);
                }
            }
            (rowXx[i0], rowYy[i0], rowXy[i0]) = (2 * xx0, 2 * yy0, xy0);
            if (i1 != i0)
            {
                (rowXx[i1], rowYy[i1], rowXy[i1]) = (2 * xx1, 2 * yy1, xy1);
            }
        });
        double kxx = 0, kyy = 0, kxy = 0;
        for (var i = 0; i < m; i++)
        {
            kxx += rowXx[i];
            kyy += rowYy[i];
            kxy += rowXy[i];
        }
        return (kxx / (m * (m - 1.0))) + (kyy / (m * (m - 1.0))) - (2 * kxy / ((double)m * m));
    }

    /// <summary>The dot products of rows a0 and a1 with rows j .. j + count − 1 (count ≤ 4) of b: a0's in
    /// dots[0..count), a1's in dots[4..4 + count). Eight sums share each load of a row chunk, which a
    /// product at a time cannot (it is load-bound).</summary>
    private static void Dots2x4(double[] a0, double[] a1, double[][] b, int j, int count, Span<double> dots)
    {
        var b0 = b[j];
        var b1 = b[j + Math.Min(1, count - 1)];
        var b2 = b[j + Math.Min(2, count - 1)];
        var b3 = b[j + Math.Min(3, count - 1)];
        var n = a0.Length;
        var lanes = Vector<double>.Count;
        var (s00, s01, s02, s03) = (Vector<double>.Zero, Vector<double>.Zero, Vector<double>.Zero, Vector<double>.Zero);
        var (s10, s11, s12, s13) = (Vector<double>.Zero, Vector<double>.Zero, Vector<double>.Zero, Vector<double>.Zero);
        var k = 0;
        for (; k + lanes <= n; k += lanes)
        {
            var x0 = new Vector<double>(a0, k);
            var x1 = new Vector<double>(a1, k);
            var y0 = new Vector<double>(b0, k);
            var y1 = new Vector<double>(b1, k);
            var y2 = new Vector<double>(b2, k);
            var y3 = new Vector<double>(b3, k);
            s00 = Vector.FusedMultiplyAdd(x0, y0, s00);
            s01 = Vector.FusedMultiplyAdd(x0, y1, s01);
            s02 = Vector.FusedMultiplyAdd(x0, y2, s02);
            s03 = Vector.FusedMultiplyAdd(x0, y3, s03);
            s10 = Vector.FusedMultiplyAdd(x1, y0, s10);
            s11 = Vector.FusedMultiplyAdd(x1, y1, s11);
            s12 = Vector.FusedMultiplyAdd(x1, y2, s12);
            s13 = Vector.FusedMultiplyAdd(x1, y3, s13);
        }
        double t00 = Vector.Sum(s00), t01 = Vector.Sum(s01), t02 = Vector.Sum(s02), t03 = Vector.Sum(s03);
        double t10 = Vector.Sum(s10), t11 = Vector.Sum(s11), t12 = Vector.Sum(s12), t13 = Vector.Sum(s13);
        for (; k < n; k++)
        {
            t00 += a0[k] * b0[k];
            t01 += a0[k] * b1[k];
            t02 += a0[k] * b2[k];
            t03 += a0[k] * b3[k];
            t10 += a1[k] * b0[k];
            t11 += a1[k] * b1[k];
            t12 += a1[k] * b2[k];
            t13 += a1[k] * b3[k];
        }
        (dots[0], dots[1], dots[2], dots[3]) = (t00, t01, t02, t03);
        (dots[4], dots[5], dots[6], dots[7]) = (t10, t11, t12, t13);
    }

    private static int[] Pick(Generator gen, int n, int m)
    {
        // Partial Fisher-Yates: the first m of a seeded shuffle.
        var idx = Enumerable.Range(0, n).ToArray();
        for (var i = 0; i < m; i++)
        {
            var j = i + gen.NextInt(n - i);
            (idx[i], idx[j]) = (idx[j], idx[i]);
        }
        return idx[..m];
    }
}
