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
        double K(double[] a, double[] b)
        {
            var v = (System.Numerics.Tensors.TensorPrimitives.Dot<double>(a, b) / d) + 1;
            return v * v * v;
        }
        // One row per task, each row's sums in a fixed order and the rows added in order afterwards, so the
        // result does not depend on the thread count. k(x_i, x_j) is symmetric: the pairs j > i count twice.
        var rowXx = new double[m];
        var rowYy = new double[m];
        var rowXy = new double[m];
        Parallel.For(0, m, i =>
        {
            double xx = 0, yy = 0, xy = 0;
            for (var j = i + 1; j < m; j++)
            {
                xx += K(x[i], x[j]);
                yy += K(y[i], y[j]);
            }
            for (var j = 0; j < m; j++)
            {
                xy += K(x[i], y[j]);
            }
            (rowXx[i], rowYy[i], rowXy[i]) = (2 * xx, 2 * yy, xy);
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
