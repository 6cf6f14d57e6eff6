using System.Text.Json.Nodes;

namespace Rebalance.Evaluation.Tests;

/// <summary>Paired intervals, Wilcoxon, Friedman and Nemenyi against scipy 1.10
/// (tools/make_significance_references.py).</summary>
public class SignificanceTests
{
    private static readonly Lazy<JsonObject> Reference = new(() => ReferenceFile.Load("significance_reference.json"));

    private static double[] Values(JsonNode? node) => [.. node!.AsArray().Select(v => (double)v!)];

    private static void Close(double expected, double? actual, double tol, string what) =>
        Assert.True(actual is { } a && Math.Abs(expected - a) <= tol * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");

    [Fact]
    public void PairedIntervalsAndWilcoxonMatchScipy()
    {
        foreach (var c in Reference.Value["paired"]!.AsArray())
        {
            var (a, b) = (Values(c!["a"]), Values(c["b"]));
            var r = Significance.Paired(a, b);
            Close((double)c["mean"]!, r.Mean, 1e-12, $"mean difference of {a.Length}");
            Assert.Equal(a.Length, r.Seeds);
            if (c["low"] is { } low)
            {
                Close((double)low, r.Low, 1e-9, $"interval low of {a.Length}");
                Close((double)c["high"]!, r.High, 1e-9, $"interval high of {a.Length}");
                Assert.Equal(r.Low > 0 || r.High < 0, r.Excludes0);
            }
            else
            {
                Assert.Null(r.Low);
                Assert.False(r.Excludes0);
            }
            if (c["wilcoxon_p"] is { } p)
            {
                Close((double)p, r.WilcoxonP, 1e-9, $"Wilcoxon p of {a.Length} seeds");
            }
            else
            {
                Assert.Null(r.WilcoxonP);
            }
        }
    }

    [Fact]
    public void WilcoxonMatchesScipyExactAndApproximate()
    {
        foreach (var c in Reference.Value["wilcoxon"]!.AsArray())
        {
            Close((double)c!["p"]!, Significance.Wilcoxon(Values(c["d"])), 1e-9, (string)c["name"]!);
        }
        Assert.True(double.IsNaN(Significance.Wilcoxon([0.0, 0.0])), "all differences 0: no test");
    }

    [Fact]
    public void FriedmanAndAverageRanksMatchScipy()
    {
        foreach (var c in Reference.Value["friedman"]!.AsArray())
        {
            var scores = c!["scores"]!.AsArray().Select(r => (IReadOnlyList<double>)Values(r)).ToList();
            var r = Significance.Ranks(scores);
            var name = (string)c["name"]!;
            Close((double)c["statistic"]!, r.FriedmanStatistic, 1e-9, $"{name}: statistic");
            Close((double)c["p"]!, r.FriedmanP, 1e-9, $"{name}: p");
            var expected = Values(c["average_ranks"]);
            for (var j = 0; j < expected.Length; j++)
            {
                Close(expected[j], r.AverageRanks[j], 1e-12, $"{name}: average rank of method {j}");
            }
            Close(Significance.NemenyiQ(expected.Length) * Math.Sqrt(expected.Length * (expected.Length + 1) / (6.0 * scores.Count)), r.CriticalDifference, 1e-12, $"{name}: critical difference");
        }
        Assert.Contains("at least 3 methods", Assert.Throws<ArgumentException>(() => Significance.Ranks([[1.0, 2.0], [2.0, 1.0]])).Message, StringComparison.Ordinal);
        Assert.Contains("at least 2 seeds", Assert.Throws<ArgumentException>(() => Significance.Ranks([[1.0, 2.0, 3.0]])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NemenyiQMatchesTheStudentizedRange()
    {
        foreach (var (k, q) in Reference.Value["nemenyi_q"]!.AsObject())
        {
            Close((double)q!, Significance.NemenyiQ(int.Parse(k, System.Globalization.CultureInfo.InvariantCulture)), 1e-6, $"q for k = {k}");
        }
    }
}
