using System.Globalization;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Latent;

/// <summary>One multivariate normal per class, fitted to the class's codes: mean and Cholesky factor of
/// the covariance (plus 1e-4·I, so a class of one image, or of fewer images than code values, still has one).</summary>
public sealed class ClassGaussians
{
    private ClassGaussians(double[][] mean, double[][] chol) => (Mean, Chol) = (mean, chol);

    /// <summary>Mean per class (empty for a class without images).</summary>
    public double[][] Mean { get; }

    /// <summary>Lower-triangular Cholesky factor per class, row-major d x d (empty for a class without images).</summary>
    public double[][] Chol { get; }

    /// <summary>Fits a Gaussian to each class's codes (sample covariance, n − 1; only its diagonal when
    /// <paramref name="diagonal"/>: N(mean_c, std_c) per code value).</summary>
    public static ClassGaussians Fit(float[][] codes, IReadOnlyList<int> labels, int classes, bool diagonal = false)
    {
        var d = codes.Length == 0 ? 0 : codes[0].Length;
        var mean = new double[classes][];
        var chol = new double[classes][];
        for (var c = 0; c < classes; c++)
        {
            var rows = Enumerable.Range(0, codes.Length).Where(i => labels[i] == c).Select(i => codes[i]).ToArray();
            if (rows.Length == 0)
            {
                (mean[c], chol[c]) = ([], []);
                continue;
            }
            var m = new double[d];
            foreach (var r in rows)
            {
                for (var j = 0; j < d; j++)
                {
                    m[j] += r[j];
                }
            }
            for (var j = 0; j < d; j++)
            {
                m[j] /= rows.Length;
            }
            var cov = new double[d * d];
            foreach (var r in rows)
            {
                for (var a = 0; a < d; a++)
                {
                    for (var b = 0; b <= a; b++)
                    {
                        cov[(a * d) + b] += (r[a] - m[a]) * (r[b] - m[b]);
                    }
                }
            }
            for (var a = 0; a < d; a++)
            {
                for (var b = 0; b <= a; b++)
                {
                    cov[(a * d) + b] = (rows.Length > 1 && (a == b || !diagonal) ? cov[(a * d) + b] / (rows.Length - 1) : 0) + (a == b ? 1e-4 : 0);
                    cov[(b * d) + a] = cov[(a * d) + b];
                }
            }
            mean[c] = m;
            chol[c] = Cholesky(cov, d);
        }
        return new ClassGaussians(mean, chol);
    }

    /// <summary>The lower-triangular L with L Lᵀ = A (A symmetric positive definite, row-major).</summary>
    public static double[] Cholesky(double[] a, int d)
    {
        var l = new double[d * d];
        for (var i = 0; i < d; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                var s = a[(i * d) + j];
                for (var k = 0; k < j; k++)
                {
                    s -= l[(i * d) + k] * l[(j * d) + k];
                }
                if (i == j)
                {
                    if (!(s > 0))
                    {
                        throw new ArgumentException($"Cholesky: the matrix is not positive definite (pivot {i} is {s})");
                    }
                    l[(i * d) + i] = Math.Sqrt(s);
                }
                else
                {
                    l[(i * d) + j] = s / l[(j * d) + j];
                }
            }
        }
        return l;
    }

    /// <summary>Codes of class <paramref name="c"/>: μ + L ε with ε ~ N(0, I) from <paramref name="gen"/>, (n, d) float32.</summary>
    public Tensor Sample(int c, int n, Generator gen)
    {
        var m = Mean[c];
        var l = Chol[c];
        var d = m.Length;
        if (d == 0)
        {
            throw new ArgumentException($"class {c} had no images to fit a code distribution to");
        }
        var values = new float[n * d];
        var eps = new double[d];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < d; j++)
            {
                eps[j] = gen.NextNormal();
            }
            for (var a = 0; a < d; a++)
            {
                var s = m[a];
                for (var b = 0; b <= a; b++)
                {
                    s += l[(a * d) + b] * eps[b];
                }
                values[(i * d) + a] = (float)s;
            }
        }
        return Tensor.FromArray(values, n, d);
    }

    /// <summary>As tensors for a checkpoint: <c>PREFIX.mean.C</c> and <c>PREFIX.chol.C</c>.</summary>
    public void AddTo(Checkpoint c, string prefix)
    {
        for (var k = 0; k < Mean.Length; k++)
        {
            if (Mean[k].Length > 0)
            {
                c.Tensors[$"{prefix}.mean.{k}"] = Tensor.FromArray(Mean[k], Mean[k].Length);
                c.Tensors[$"{prefix}.chol.{k}"] = Tensor.FromArray(Chol[k], Chol[k].Length);
            }
        }
        c.Metadata[$"{prefix}.classes"] = Mean.Length.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Reads what <see cref="AddTo"/> wrote.</summary>
    public static ClassGaussians From(Checkpoint c, string prefix)
    {
        var k = int.Parse(c.Metadata[$"{prefix}.classes"], CultureInfo.InvariantCulture);
        var mean = new double[k][];
        var chol = new double[k][];
        for (var i = 0; i < k; i++)
        {
            mean[i] = c.Tensors.TryGetValue($"{prefix}.mean.{i}", out var m) ? m.ToDoubleArray() : [];
            chol[i] = c.Tensors.TryGetValue($"{prefix}.chol.{i}", out var l) ? l.ToDoubleArray() : [];
        }
        return new ClassGaussians(mean, chol);
    }
}
