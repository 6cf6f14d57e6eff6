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
/// t-SNE (van der Maaten and Hinton 2008, "Visualizing Data using t-SNE", JMLR 9): Gaussian affinities
/// tuned per point to a perplexity by bisection, symmetrised; a Student-t (one degree of freedom) kernel in
/// two dimensions; gradient descent on KL(P||Q) with momentum (0.5, then 0.8 after the early exaggeration),
/// per-parameter gains (+0.2 / x0.8, at least 0.01) and early exaggeration. As in van der Maaten's
/// Barnes-Hut-SNE (JMLR 15, 2014) and openTSNE, each point's Gaussian covers its ⌊3 x perplexity⌋ nearest
/// neighbours only (beyond them p(j|i) is below e⁻⁹ of the nearest's), so P is sparse; the repulsion is
/// exact, over all N² pairs in float32, meant for the few thousand points of a report's plot. Seeded; each
/// row's sums run in a fixed order on one thread, so the result does not depend on the thread count.
/// </summary>
public static class Tsne
{
    /// <summary>The result: one (x, y) per input row, and KL(P||Q) at the end.</summary>
    public sealed record Embedding(double[] X, double[] Y, double KlDivergence);

    /// <summary>Symmetric joint affinities summing to 1, row by row: the columns of row i (ascending) and
    /// their values.</summary>
    public sealed record Affinity(int[][] Columns, double[][] Values)
    {
        /// <summary>P_ij (0 where j is not stored in row i).</summary>
        public double this[int i, int j]
        {
            get
            {
                var k = Array.BinarySearch(Columns[i], j);
                return k >= 0 ? Values[i][k] : 0;
            }
        }
    }

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
        var xs = new float[n];
        var ys = new float[n];
        var rowSums = new double[n];
        var attract = new double[2 * n];
        var repel = new double[2 * n];
        for (var it = 0; it < settings.Iterations; it++)
        {
            var exaggeration = it < settings.ExaggerationIterations ? settings.Exaggeration : 1.0;
            var momentum = it < settings.ExaggerationIterations ? 0.5 : 0.8;
            for (var i = 0; i < n; i++)
            {
                (xs[i], ys[i]) = ((float)y[2 * i], (float)y[(2 * i) + 1]);
            }
            // With w_ij = 1 / (1 + ‖y_i − y_j‖²) and Z = Σ w, the gradient 4 Σ_j (p_ij − w_ij / Z) w_ij (y_i − y_j)
            // splits into the attraction Σ_j p_ij w_ij (y_i − y_j) over row i's stored neighbours and the
            // repulsion Σ_j w_ij² (y_i − y_j) over every j, gathered with Z's row sum in one pass.
            Parallel.For(0, n, i =>
            {
                Repulsion(i, xs, ys, rowSums, repel);
                double ax = 0, ay = 0;
                var cols = p.Columns[i];
                var vals = p.Values[i];
                for (var k = 0; k < cols.Length; k++)
                {
                    var j = cols[k];
                    var dx = y[2 * i] - y[2 * j];
                    var dy = y[(2 * i) + 1] - y[(2 * j) + 1];
                    var pw = vals[k] / (1 + (dx * dx) + (dy * dy));
                    ax += pw * dx;
                    ay += pw * dy;
                }
                (attract[2 * i], attract[(2 * i) + 1]) = (ax, ay);
            });
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
        return new Embedding([.. Enumerable.Range(0, n).Select(i => y[2 * i])], [.. Enumerable.Range(0, n).Select(i => y[(2 * i) + 1])], Divergence(p, y));
    }

    /// <summary>Row i's repulsion sums Σ_j w_ij and Σ_j w_ij² (y_i − y_j), <see cref="Vector{T}.Count"/> pairs at
    /// a time in a fixed order, in float32 (each lane's partial sums added in float64); the pair (i, i) is
    /// left out.</summary>
    private static void Repulsion(int i, float[] xs, float[] ys, double[] rowSums, double[] repel)
    {
        var n = xs.Length;
        var lanes = Vector<float>.Count;
        var one = Vector<float>.One;
        var xi = new Vector<float>(xs[i]);
        var yi = new Vector<float>(ys[i]);
        var (sw, srx, sry) = (Vector<float>.Zero, Vector<float>.Zero, Vector<float>.Zero);
        double tw = 0, trx = 0, trY = 0;
        var j = 0;
        for (var block = 0; j + lanes <= n; j += lanes, block++)
        {
            var dx = xi - new Vector<float>(xs, j);
            var dy = yi - new Vector<float>(ys, j);
            var w = one / (one + (dx * dx) + (dy * dy));
            if (i >= j && i < j + lanes)
            {
                w = Vector.WithElement(w, i - j, 0f);
            }
            var ww = w * w;
            sw += w;
            srx += ww * dx;
            sry += ww * dy;
            // Float32 partial sums are emptied into float64 every 64 blocks, before they lose digits.
            if ((block & 63) == 63)
            {
                (tw, trx, trY) = (tw + Vector.Sum(sw), trx + Vector.Sum(srx), trY + Vector.Sum(sry));
                (sw, srx, sry) = (Vector<float>.Zero, Vector<float>.Zero, Vector<float>.Zero);
            }
        }
        (tw, trx, trY) = (tw + Vector.Sum(sw), trx + Vector.Sum(srx), trY + Vector.Sum(sry));
        for (; j < n; j++)
        {
            if (j == i)
            {
                continue;
            }
            var dx = xs[i] - xs[j];
            var dy = ys[i] - ys[j];
            var w = 1 / (1 + (dx * dx) + (dy * dy));
            tw += w;
            trx += w * w * dx;
            trY += w * w * dy;
        }
        rowSums[i] = tw;
        (repel[2 * i], repel[(2 * i) + 1]) = (trx, trY);
    }

    /// <summary>KL(P||Q) of an embedding given as coordinates, for tests and for reporting.</summary>
    public static double KlDivergence(float[][] rows, double[] x, double[] y, double perplexity) =>
        Divergence(Affinities(NearestNeighbourMeasures.ToDouble(rows, "t-SNE"), perplexity), [.. x.Zip(y).SelectMany(v => new[] { v.First, v.Second })]);

    /// <summary>KL(P||Q) = Σ p_ij log(p_ij / q_ij) over the stored p_ij, with Q from the interleaved
    /// coordinates <paramref name="y"/> (Z over every pair, in float64).</summary>
    private static double Divergence(Affinity p, double[] y)
    {
        var n = p.Columns.Length;
        double W(int i, int j)
        {
            var dx = y[2 * i] - y[2 * j];
            var dy = y[(2 * i) + 1] - y[(2 * j) + 1];
            return 1 / (1 + (dx * dx) + (dy * dy));
        }
        var z = 0.0;
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                z += i == j ? 0 : W(i, j);
            }
        }
        var kl = 0.0;
        for (var i = 0; i < n; i++)
        {
            for (var k = 0; k < p.Columns[i].Length; k++)
            {
                var v = p.Values[i][k];
                kl += v * Math.Log(v / (W(i, p.Columns[i][k]) / z));
            }
        }
        return kl;
    }

    /// <summary>
    /// The symmetrised joint affinities P (summing to 1): for each point, a Gaussian over the squared
    /// distances to its ⌊3 x perplexity⌋ nearest neighbours (at most N − 1; ties broken by index) whose
    /// precision is bisected until the entropy of p(j|i) is log(perplexity) (natural logarithm), then
    /// P = (P + Pᵀ) / 2N.
    /// </summary>
    public static Affinity Affinities(double[][] x, double perplexity) => Affinities(x, perplexity, out _);

    /// <summary>As <see cref="Affinities(double[][], double)"/>, also giving each point's conditional
    /// p(j|i) over its neighbours (for tests of the perplexity).</summary>
    internal static Affinity Affinities(double[][] x, double perplexity, out (int[] Columns, double[] Values)[] conditional)
    {
        var n = x.Length;
        var neighbours = Math.Min(n - 1, (int)Math.Floor(3 * perplexity));
        var cond = new (int[] Columns, double[] Values)[n];
        var target = Math.Log(perplexity);
        Parallel.For(0, n, i =>
        {
            var d = new double[n];
            for (var j = 0; j < n; j++)
            {
                var v = TensorPrimitives.Distance<double>(x[i], x[j]);
                d[j] = v * v;
            }
            // The K nearest: everything closer than the K-th smallest distance, then ties at it by index.
            var sorted = new double[n - 1];
            for (var j = 0; j < n; j++)
            {
                if (j != i)
                {
                    sorted[j < i ? j : j - 1] = d[j];
                }
            }
            Array.Sort(sorted);
            var kth = sorted[neighbours - 1];
            var order = new int[neighbours];
            var taken = 0;
            for (var j = 0; j < n; j++)
            {
                if (j != i && d[j] < kth)
                {
                    order[taken++] = j;
                }
            }
            for (var j = 0; j < n && taken < neighbours; j++)
            {
                if (j != i && d[j] == kth)
                {
                    order[taken++] = j;
                }
            }
            Array.Sort(order, (x, y) => d[x] != d[y] ? d[x].CompareTo(d[y]) : x.CompareTo(y));
            var dist = order.Select(j => d[j]).ToArray();
            var prow = new double[neighbours];
            double beta = 1, lo = double.NegativeInfinity, hi = double.PositiveInfinity;
            // Distances are shifted by the smallest, which leaves p(j|i) unchanged and keeps exp() from
            // underflowing for far-apart points.
            var min = dist[0];
            for (var step = 0; step < 100; step++)
            {
                double sum = 0, weighted = 0;
                for (var k = 0; k < neighbours; k++)
                {
                    var v = Math.Exp(-(dist[k] - min) * beta);
                    prow[k] = v;
                    sum += v;
                    weighted += v * (dist[k] - min);
                }
                // Entropy of p(j|i) = log(sum) + beta * E[d - min].
                var h = Math.Log(sum) + (beta * weighted / sum);
                for (var k = 0; k < neighbours; k++)
                {
                    prow[k] /= sum;
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
            Array.Sort(order, prow);
            cond[i] = (order, prow);
        });
        conditional = cond;
        // P_ij = (p(j|i) + p(i|j)) / 2N over the union of both neighbour lists, each row ascending.
        var rows = Enumerable.Range(0, n).Select(_ => new SortedDictionary<int, double>()).ToArray();
        for (var i = 0; i < n; i++)
        {
            var (cols, vals) = cond[i];
            for (var k = 0; k < cols.Length; k++)
            {
                var v = vals[k] / (2.0 * n);
                var j = cols[k];
                rows[i][j] = rows[i].GetValueOrDefault(j) + v;
                rows[j][i] = rows[j].GetValueOrDefault(i) + v;
            }
        }
        return new Affinity([.. rows.Select(r => r.Keys.ToArray())], [.. rows.Select(r => r.Values.ToArray())]);
    }
}
