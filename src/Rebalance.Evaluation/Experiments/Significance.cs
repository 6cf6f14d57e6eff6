using MathNet.Numerics.Distributions;

namespace Rebalance.Evaluation;

/// <summary>A paired difference over seeds: its mean, the 95% confidence interval of the mean (Student's t
/// with n − 1 degrees of freedom; null bounds under 2 seeds) and, with six or more seeds, the two-sided
/// Wilcoxon signed-rank p-value.</summary>
public sealed record PairedDifference(double Mean, double? Low, double? High, int Seeds, double? WilcoxonP)
{
    /// <summary>Whether the interval lies wholly on one side of 0.</summary>
    public bool Excludes0 => Low is { } lo && High is { } hi && (lo > 0 || hi < 0);
}

/// <summary>Average ranks of methods over seeds with the Friedman test and the Nemenyi critical difference
/// (Demšar 2006). Rank 1 is the best (highest score); ties share the mean of their ranks.</summary>
public sealed record RankComparison(IReadOnlyList<double> AverageRanks, double FriedmanStatistic, double FriedmanP, double CriticalDifference, int Seeds);

/// <summary>
/// Whether differences between methods are real (Demšar 2006, "Statistical Comparisons of Classifiers over
/// Multiple Data Sets", JMLR 7): paired confidence intervals over seeds, the Wilcoxon signed-rank test,
/// and the Friedman test with Nemenyi's critical difference over average ranks. Each follows the formula
/// scipy 1.10 uses (checked against it by tools/make_significance_references.py).
/// </summary>
public static class Significance
{
    /// <summary>Fewest seeds for a Wilcoxon p-value: with five, even five wins out of five give p = 0.0625.</summary>
    public const int WilcoxonMinSeeds = 6;

    /// <summary>The difference <paramref name="a"/> − <paramref name="b"/>, paired by position (seed).</summary>
    public static PairedDifference Paired(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count || a.Count == 0)
        {
            throw new ArgumentException($"a paired difference needs the same seeds on both sides, got {a.Count} and {b.Count} values");
        }
        var d = a.Zip(b, (x, y) => x - y).ToArray();
        var n = d.Length;
        var mean = d.Average();
        if (n < 2)
        {
            return new PairedDifference(mean, null, null, n, null);
        }
        var sd = Math.Sqrt(d.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        var half = StudentT.InvCDF(0, 1, n - 1, 0.975) * sd / Math.Sqrt(n);
        return new PairedDifference(mean, mean - half, mean + half, n, n >= WilcoxonMinSeeds ? Wilcoxon(d) : null);
    }

    /// <summary>
    /// Two-sided Wilcoxon signed-rank p-value of paired differences: zero differences are dropped; with at
    /// most 50 left and no tied magnitudes, the exact null distribution of the positive rank sum R⁺
    /// (p = 2 min(P(R ≤ R⁺), P(R ≥ R⁺)), at most 1); otherwise the normal approximation with the tie
    /// correction and no continuity correction. NaN when every difference is 0.
    /// </summary>
    public static double Wilcoxon(IReadOnlyList<double> differences)
    {
        var zeros = differences.Count(v => v == 0);
        var d = differences.Where(v => v != 0).ToArray();
        var n = d.Length;
        if (n == 0)
        {
            return double.NaN;
        }
        var ranks = Ranks([.. d.Select(Math.Abs)]);
        var rPlus = d.Select((v, i) => v > 0 ? ranks[i] : 0).Sum();
        var ties = TieSizes([.. d.Select(Math.Abs)]);
        if (n <= 50 && zeros == 0 && ties.All(t => t == 1))
        {
            // Counts of the 2ⁿ sign patterns by positive rank sum (ranks 1..n).
            var max = n * (n + 1) / 2;
            var counts = new double[max + 1];
            counts[0] = 1;
            for (var r = 1; r <= n; r++)
            {
                for (var s = max; s >= r; s--)
                {
                    counts[s] += counts[s - r];
                }
            }
            var total = Math.Pow(2, n);
            var k = (int)Math.Round(rPlus);
            if (k == max / 2 && max % 2 == 0)
            {
                return 1.0;
            }
            var less = counts[..(k + 1)].Sum() / total;
            var greater = counts[k..].Sum() / total;
            return Math.Min(1.0, 2 * Math.Min(less, greater));
        }
        var mean = n * (n + 1) / 4.0;
        var variance = (n * (n + 1.0) * ((2.0 * n) + 1)) - (0.5 * ties.Sum(t => t * ((t * (double)t) - 1)));
        var se = Math.Sqrt(variance / 24);
        var statistic = Math.Min(rPlus, (n * (n + 1) / 2.0) - rPlus);
        var z = (statistic - mean) / se;
        return 2 * Normal.CDF(0, 1, -Math.Abs(z));
    }

    /// <summary>
    /// Average ranks of k methods over N seeds (<paramref name="scores"/>[seed][method], higher is better),
    /// the Friedman statistic with scipy's tie correction, χ²_F = 12N / (k(k+1)) (Σ R_j² − k(k+1)²/4) / (1 −
    /// Σ(t³ − t) / (N k (k² − 1))), its p-value on k − 1 degrees of freedom, and Nemenyi's critical difference
    /// at α = 0.05, q_α √(k(k+1) / 6N), with q_α the studentized range quantile over √2.
    /// </summary>
    public static RankComparison Ranks(IReadOnlyList<IReadOnlyList<double>> scores)
    {
        var seeds = scores.Count;
        if (seeds < 2)
        {
            throw new ArgumentException($"ranks over seeds need at least 2 seeds, got {seeds}");
        }
        var k = scores[0].Count;
        if (k < 3 || scores.Any(s => s.Count != k))
        {
            throw new ArgumentException($"the Friedman test needs at least 3 methods scored in every seed, got {string.Join(", ", scores.Select(s => s.Count))}");
        }
        var sums = new double[k];
        var tieTerm = 0.0;
        foreach (var row in scores)
        {
            // Rank 1 for the highest score: rank the negated scores.
            var r = Ranks([.. row.Select(v => -v)]);
            for (var j = 0; j < k; j++)
            {
                sums[j] += r[j];
            }
            tieTerm += TieSizes([.. row]).Sum(t => (t * (double)t * t) - t);
        }
        var average = sums.Select(s => s / seeds).ToArray();
        var ssr = average.Sum(r => r * r);
        var chi = 12.0 * seeds / (k * (k + 1.0)) * (ssr - (k * (k + 1.0) * (k + 1.0) / 4));
        var correction = 1 - (tieTerm / (seeds * k * ((k * (double)k) - 1)));
        chi = correction > 0 ? chi / correction : double.NaN;
        var p = double.IsFinite(chi) ? 1 - ChiSquared.CDF(k - 1, chi) : double.NaN;
        var cd = NemenyiQ(k) * Math.Sqrt(k * (k + 1.0) / (6.0 * seeds));
        return new RankComparison(average, chi, p, cd, seeds);
    }

    /// <summary>
    /// q_α for Nemenyi's test at α = 0.05 with k methods: the 0.95 quantile of the studentized range of k
    /// standard normals (infinite degrees of freedom) divided by √2 (Demšar's table: 1.960 for k = 2, 3.164
    /// for k = 10). P(range ≤ q) = k ∫ φ(z) (Φ(z) − Φ(z − q))^(k−1) dz by Simpson's rule, then bisection.
    /// </summary>
    public static double NemenyiQ(int k)
    {
        if (k < 2)
        {
            throw new ArgumentException($"Nemenyi's test compares at least 2 methods, got {k}");
        }
        double RangeCdf(double q)
        {
            const int steps = 2000;
            const double lo = -9, hi = 9;
            var h = (hi - lo) / steps;
            var sum = 0.0;
            for (var i = 0; i <= steps; i++)
            {
                var z = lo + (i * h);
                var f = Normal.PDF(0, 1, z) * Math.Pow(Normal.CDF(0, 1, z) - Normal.CDF(0, 1, z - q), k - 1);
                sum += f * (i == 0 || i == steps ? 1 : i % 2 == 1 ? 4 : 2);
            }
            return k * sum * h / 3;
        }
        double a = 0, b = 20;
        for (var it = 0; it < 100; it++)
        {
            var mid = (a + b) / 2;
            if (RangeCdf(mid) < 0.95)
            {
                a = mid;
            }
            else
            {
                b = mid;
            }
        }
        return (a + b) / 2 / Math.Sqrt(2);
    }

    /// <summary>Ranks 1..n of the values, ascending, ties given the mean of the ranks they span (scipy's
    /// <c>rankdata</c>, method "average").</summary>
    public static double[] Ranks(double[] values)
    {
        var order = Enumerable.Range(0, values.Length).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Length];
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]])
            {
                end++;
            }
            var rank = ((start + end) / 2.0) + 1;
            for (var i = start; i <= end; i++)
            {
                ranks[order[i]] = rank;
            }
            start = end + 1;
        }
        return ranks;
    }

    /// <summary>Sizes of the groups of equal values (1 for a value that is not tied).</summary>
    private static int[] TieSizes(double[] values) => [.. values.GroupBy(v => v).Select(g => g.Count())];
}
