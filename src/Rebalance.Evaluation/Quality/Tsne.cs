using System.Numerics;
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
        // The step reads P once per row; a float32 copy halves the memory traffic that bounds it.
        var pf = Array.ConvertAll(p, v => (float)v);
        var xs = new double[n];
        var ys = new double[n];
        var rowSums = new double[n];
        var attract = new double[2 * n];
        var repel = new double[2 * n];
        double kl;
        for (var it = 0; it < settings.Iterations; it++)
        {
            var exaggeration = it < settings.ExaggerationIterations ? settings.Exaggeration : 1.0;
            var momentum = it < settings.ExaggerationIterations ? 0.5 : 0.8;
            for (var i = 0; i < n; i++)
            {
                (xs[i], ys[i]) = (y[2 * i], y[(2 * i) + 1]);
            }
            // With w_ij = 1 / (1 + ‖y_i − y_j‖²) and Z = Σ w, the gradient 4 Σ_j (p_ij − w_ij / Z) w_ij (y_i − y_j)
            // splits into Σ_j p_ij w_ij (y_i − y_j) and Σ_j w_ij² (y_i − y_j), both gathered in one pass over
            // the row with Z's row sum, so no N x N matrix of w is stored.
            Parallel.For(0, n, i => Row(i, n, xs, ys, pf, rowSums, attract, repel));
            var z = 0.0;
            for (var i = 0; i < n; i++)
            {
                z += rowSums[i];
            }
            for (var k = 0; k < 2 * n; k++)
            {
                grad[k] = 4 * ((exaggeration * attract[k]) - (repel[k] / z));
            }
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

    /// <summary>Row i's sums for a gradient step (see <see cref="Fit"/>), <see cref="Vector{T}.Count"/> pairs at a
    /// time in a fixed order; the pair (i, i) is left out.</summary>
    private static void Row(int i, int n, double[] xs, double[] ys, float[] p, double[] rowSums, double[] attract, double[] repel)
    {
        var lanes = Vector<double>.Count;
        var one = Vector<double>.One;
        var xi = new Vector<double>(xs[i]);
        var yi = new Vector<double>(ys[i]);
        var (sw, sax, say, srx, sry) = (Vector<double>.Zero, Vector<double>.Zero, Vector<double>.Zero, Vector<double>.Zero, Vector<double>.Zero);
        Span<double> pl = stackalloc double[lanes];
        var prow = p.AsSpan(i * n, n);
        var j = 0;
        for (; j + lanes <= n; j += lanes)
        {
            var dx = xi - new Vector<double>(xs, j);
            var dy = yi - new Vector<double>(ys, j);
            var w = one / (one + (dx * dx) + (dy * dy));
            if (i >= j && i < j + lanes)
            {
                w = Vector.WithElement(w, i - j, 0.0);
            }
            for (var l = 0; l < lanes; l++)
            {
                pl[l] = prow[j + l];
            }
            var pw = new Vector<double>(pl) * w;
            var ww = w * w;
            sw += w;
            sax += pw * dx;
            say += pw * dy;
            srx += ww * dx;
            sry += ww * dy;
        }
        double tw = Vector.Sum(sw), tax = Vector.Sum(sax), tay = Vector.Sum(say);
        double trx = Vector.Sum(srx), trY = Vector.Sum(sry);
        for (; j < n; j++)
        {
            if (j == i)
            {
                continue;
            }
            var dx = xs[i] - xs[j];
            var dy = ys[i] - ys[j];
            var w = 1 / (1 + (dx * dx) + (dy * dy));
            var pw = prow[j] * w;
            tw += w;
            tax += pw * dx;
            tay += pw * dy;
            trx += w * w * dx;
            trY += w * w * dy;
        }
        rowSums[i] = tw;
        (attract[2 * i], attract[(2 * i) + 1]) = (tax, tay);
        (repel[2 * i], repel[(2 * i) + 1]) = (trx, trY);
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
