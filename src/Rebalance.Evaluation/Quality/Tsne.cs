using System.Numerics.Tensors;

namespace Rebalance.Evaluation.Quality;

/// <summary>Settings of a t-SNE embedding.</summary>
public sealed record TsneSettings
{
    /// <summary>Effective number of neighbours each point's Gaussian is tuned to (van der Maaten and Hinton use 5 to 50).</summary>
    public double Perplexity { get; init; } = 30;

    /// <summary>Gradient steps in all.</summary>
    public int Iterations { get; init; } = 750;

    /// <summary>Steps at the start with P multiplied by <see cref="Exaggeration"/> (early exaggeration).</summary>
    public int ExaggerationIterations { get; init; } = 250;

    /// <summary>Early exaggeration factor.</summary>
    public double Exaggeration { get; init; } = 12;

    /// <summary>Step size; 0 = max(N / exaggeration / 4, 50), the rule of Belkina et al. 2019 that
    /// scikit-learn uses as 'auto'.</summary>
    public double LearningRate { get; init; }
}

/// <summary>
/// Exact t-SNE (van der Maaten and Hinton 2008, "Visualizing Data using t-SNE", JMLR 9): Gaussian
/// affinities tuned per point to a perplexity by bisection, symmetrised; a Student-t (one degree of
/// freedom) kernel in two dimensions; gradient descent on KL(P||Q) with momentum (0.5, then 0.8 after the
/// early exaggeration), per-parameter gains (+0.2 / x0.8, at least 0.01) and early exaggeration. O(N²) per
/// step, meant for the few thousand points of a report's plot. Seeded; each row's sums run in a fixed
/// order on one thread, so the result does not depend on the thread count.
/// </summary>
public static class Tsne
{
    /// <summary>The result: one (x, y) per input row, and KL(P||Q) at the end.</summary>
    public sealed record Embedding(double[] X, double[] Y, double KlDivergence);

    /// <summary>Embeds <paramref name="rows"/> (all of one length) in two dimensions.</summary>
    public static Embedding Fit(float[][] rows, ulong seed, TsneSettings? settings = null)
    {
        settings ??= new TsneSettings();
        var n = rows.Length;
        if (n < 4)
        {
            throw new ArgumentException($"t-SNE needs at least 4 points, got {n}");
        }
        if (!(settings.Perplexity > 0) || settings.Perplexity >= n - 1)
        {
            throw new ArgumentException($"t-SNE perplexity must be above 0 and below the number of points less one ({n - 1}), got {settings.Perplexity}");
        }
        var p = Affinities(NearestNeighbourMeasures.ToDouble(rows, "t-SNE"), settings.Perplexity);
        var lr = settings.LearningRate > 0 ? settings.LearningRate : Math.Max(n / settings.Exaggeration / 4, 50);
        var gen = new Tensors.Generator(seed);
        var y = new double[2 * n];
        for (var i = 0; i < y.Length; i++)
        {
            y[i] = 1e-4 * gen.NextNormal();
        }
        var update = new double[2 * n];
        var gains = Enumerable.Repeat(1.0, 2 * n).ToArray();
        var grad = new double[2 * n];
        var num = new double[n * n];
        var rowSums = new double[n];
        double kl;
        for (var it = 0; it < settings.Iterations; it++)
        {
            var exaggeration = it < settings.ExaggerationIterations ? settings.Exaggeration : 1.0;
            var momentum = it < settings.ExaggerationIterations ? 0.5 : 0.8;
            Parallel.For(0, n, i =>
            {
                var s = 0.0;
                var row = num.AsSpan(i * n, n);
                for (var j = 0; j < n; j++)
                {
                    var dx = y[2 * i] - y[2 * j];
                    var dy = y[(2 * i) + 1] - y[(2 * j) + 1];
                    var v = j == i ? 0 : 1 / (1 + (dx * dx) + (dy * dy));
                    row[j] = v;
                    s += v;
                }
                rowSums[i] = s;
            });
            var z = 0.0;
            for (var i = 0; i < n; i++)
            {
                z += rowSums[i];
            }
            Parallel.For(0, n, i =>
            {
                double gx = 0, gy = 0;
                for (var j = 0; j < n; j++)
                {
                    var w = num[(i * n) + j];
                    var f = ((exaggeration * p[(i * n) + j]) - (w / z)) * w;
                    gx += f * (y[2 * i] - y[2 * j]);
                    gy += f * (y[(2 * i) + 1] - y[(2 * j) + 1]);
                }
                grad[2 * i] = 4 * gx;
                grad[(2 * i) + 1] = 4 * gy;
            });
            for (var k = 0; k < 2 * n; k++)
            {
                gains[k] = Math.Sign(grad[k]) != Math.Sign(update[k]) ? gains[k] + 0.2 : gains[k] * 0.8;
                gains[k] = Math.Max(gains[k], 0.01);
                update[k] = (momentum * update[k]) - (lr * gains[k] * grad[k]);
                y[k] += update[k];
            }
            double mx = 0, my = 0;
            for (var i = 0; i < n; i++)
            {
                mx += y[2 * i];
                my += y[(2 * i) + 1];
            }
            for (var i = 0; i < n; i++)
            {
                y[2 * i] -= mx / n;
                y[(2 * i) + 1] -= my / n;
            }
        }
        kl = Divergence(p, y, n);
        return new Embedding([.. Enumerable.Range(0, n).Select(i => y[2 * i])], [.. Enumerable.Range(0, n).Select(i => y[(2 * i) + 1])], kl);
    }

    /// <summary>KL(P||Q) of an embedding given as coordinates, for tests and for reporting.</summary>
    public static double KlDivergence(float[][] rows, double[] x, double[] y, double perplexity)
    {
        var p = Affinities(NearestNeighbourMeasures.ToDouble(rows, "t-SNE"), perplexity);
        return Divergence(p, [.. x.Zip(y).SelectMany(v => new[] { v.First, v.Second })], rows.Length);
    }

    /// <summary>KL(P||Q) with Q from the interleaved coordinates <paramref name="y"/>.</summary>
    private static double Divergence(double[] p, double[] y, int n)
    {
        var num = new double[n * n];
        var z = 0.0;
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var dx = y[2 * i] - y[2 * j];
                var dy = y[(2 * i) + 1] - y[(2 * j) + 1];
                var v = i == j ? 0 : 1 / (1 + (dx * dx) + (dy * dy));
                num[(i * n) + j] = v;
                z += v;
            }
        }
        var kl = 0.0;
        for (var k = 0; k < n * n; k++)
        {
            if (p[k] > 1e-12 && num[k] > 0)
            {
                kl += p[k] * Math.Log(p[k] / (num[k] / z));
            }
        }
        return kl;
    }

    /// <summary>The symmetrised joint affinities P (row-major N x N, summing to 1): for each point, a
    /// Gaussian over squared distances whose precision is bisected until the entropy of p(j|i) is
    /// log(perplexity) (natural logarithm), then P = (P + Pᵀ) / 2N.</summary>
    internal static double[] Affinities(double[][] x, double perplexity)
    {
        var n = x.Length;
        var d = new double[n * n];
        Parallel.For(0, n, i =>
        {
            for (var j = 0; j < n; j++)
            {
                var v = TensorPrimitives.Distance<double>(x[i], x[j]);
                d[(i * n) + j] = v * v;
            }
        });
        var cond = new double[n * n];
        var target = Math.Log(perplexity);
        Parallel.For(0, n, i =>
        {
            var row = d.AsSpan(i * n, n);
            var prow = cond.AsSpan(i * n, n);
            double beta = 1, lo = double.NegativeInfinity, hi = double.PositiveInfinity;
            // Distances are shifted by the smallest off-diagonal one, which leaves p(j|i) unchanged and keeps
            // exp() from underflowing for far-apart points.
            var min = double.PositiveInfinity;
            for (var j = 0; j < n; j++)
            {
                if (j != i)
                {
                    min = Math.Min(min, row[j]);
                }
            }
            for (var step = 0; step < 100; step++)
            {
                double sum = 0, weighted = 0;
                for (var j = 0; j < n; j++)
                {
                    var v = j == i ? 0 : Math.Exp(-(row[j] - min) * beta);
                    prow[j] = v;
                    sum += v;
                    weighted += v * (row[j] - min);
                }
                // Entropy of p(j|i) = log(sum) + beta * E[d - min].
                var h = Math.Log(sum) + (beta * weighted / sum);
                for (var j = 0; j < n; j++)
                {
                    prow[j] /= sum;
                }
                if (Math.Abs(h - target) < 1e-5)
                {
                    break;
                }
                if (h > target)
                {
                    lo = beta;
                    beta = double.IsPositiveInfinity(hi) ? beta * 2 : (beta + hi) / 2;
                }
                else
                {
                    hi = beta;
                    beta = double.IsNegativeInfinity(lo) ? beta / 2 : (beta + lo) / 2;
                }
            }
        });
        var p = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                p[(i * n) + j] = Math.Max((cond[(i * n) + j] + cond[(j * n) + i]) / (2.0 * n), 1e-12);
            }
        }
        return p;
    }
}
