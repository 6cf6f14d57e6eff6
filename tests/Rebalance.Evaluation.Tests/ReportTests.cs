using System.Text.Json.Nodes;
using Rebalance.Sampling;

namespace Rebalance.Evaluation.Tests;

/// <summary>The summaries a person reads: spreads, notes, chart axes, class labels, versions.</summary>
public class ReportTests
{
    private static RunResult Run(string label, ulong seed, double accuracy, params RebalanceNote[] notes)
    {
        var metrics = ClassificationMetrics.HeadlineKeys.ToDictionary(k => k, _ => accuracy);
        int[,] confusion = { { 9, 1 }, { 2, 8 } };
        return new RunResult(label, seed, "hash", metrics, [new ClassMetrics(0.8, 0.9, 0.85, 10), new ClassMetrics(0.9, 0.8, 0.85, 10)], confusion,
            [100, 10], [100, 100], 90, [new EpochRecord(1, 0.5, 0.9, 0.9)], 1, 1.5, 2.5) { Notes = notes };
    }

    private static (Experiment E, List<Report.MethodSummary> S) Study(int seeds, params RebalanceNote[] notes)
    {
        var none = new MethodSpec("none", "none", SamplingStrategy.Auto, new MethodSettings("none"));
        var bsmote = new MethodSpec("borderline-smote", "borderline-smote", SamplingStrategy.Auto, new MethodSettings("borderline-smote"));
        var e = new Experiment { Name = "t", Seeds = [.. Enumerable.Range(0, seeds).Select(i => (ulong)i)], Methods = [none, bsmote] };
        return (e, [
            new Report.MethodSummary(none, [.. Enumerable.Range(0, seeds).Select(i => Run("none", (ulong)i, 0.974 + (0.001 * i)))]),
            new Report.MethodSummary(bsmote, [.. Enumerable.Range(0, seeds).Select(i => Run("borderline-smote", (ulong)i, 0.977, i == 0 ? notes : []))]),
        ]);
    }

    [Fact]
    public void OneSeedPrintsNoSpreadAndJsonHasNoStandardDeviation()
    {
        var (e, s) = Study(1);
        var md = Report.Markdown(e, ["0", "1"], s);
        Assert.DoesNotContain("±", md, StringComparison.Ordinal);
        Assert.Contains("| 97.40 |", md, StringComparison.Ordinal);
        Assert.DoesNotContain("±", Report.Html(e, ["0", "1"], s), StringComparison.Ordinal);
        var json = Report.Json(e, ["0", "1"], s);
        Assert.Null(json["methods"]!["none"]!["accuracy"]!["std"]);
        var (e3, s3) = Study(3);
        Assert.Contains("97.50 ± 0.10", Report.Markdown(e3, ["0", "1"], s3), StringComparison.Ordinal);
    }

    [Fact]
    public void NotesAreMarkedInTheTablesAndListedInEveryOutput()
    {
        var note = new RebalanceNote("class-unchanged", "no image is in danger", "class 1 ('1')");
        var (e, s) = Study(2, note);
        var md = Report.Markdown(e, ["0", "1"], s);
        Assert.Contains("| borderline-smote † |", md, StringComparison.Ordinal);
        Assert.Contains("- borderline-smote, seed 0: class 1 ('1'): class-unchanged: no image is in danger", md, StringComparison.Ordinal);
        Assert.DoesNotContain("| none † |", md, StringComparison.Ordinal);
        var html = Report.Html(e, ["0", "1"], s);
        Assert.Contains("<h2>Notes</h2>", html, StringComparison.Ordinal);
        Assert.Contains("class-unchanged", html, StringComparison.Ordinal);
        var json = Report.Json(e, ["0", "1"], s);
        Assert.Equal("class-unchanged", (string)json["methods"]!["borderline-smote"]!["notes"]!["seed0"]![0]!["kind"]!);
        Assert.Equal(Runner.ResultsVersion, (int)json["results_version"]!);
        var run = Runner.ToJson(s[1].Runs[0]);
        Assert.Equal(Runner.ResultsVersion, (int)run["results_version"]!);
        Assert.True(run.ContainsKey("commit"));
        Assert.Equal("class-unchanged", (string)run["notes"]![0]!["kind"]!);
    }

    [Fact]
    public void BarChartAxesStartNearTheSmallestValueAndSaySo()
    {
        var start = Report.AxisStart([0.974, 0.977]);
        Assert.InRange(start, 0.9, 0.97);
        // 97.4 and 97.7 must not look equal: on a 260-pixel axis from 0 they are 0.8 px apart.
        var gap = 260 * (0.977 - 0.974) / (1 - start);
        Assert.True(gap > 8, $"bars differ by {gap:F1} px");
        Assert.Equal(0, Report.AxisStart([0.3, 0.9]));
        Assert.Equal(0, Report.AxisStart([]));
        var (_, s) = Study(2);
        var svg = Report.BarChart(s, "accuracy");
        Assert.Contains($"axis starts at {start * 100:0.#}%, not 0", svg, StringComparison.Ordinal);
    }

    [Fact]
    public void ClassLabelsDoNotRepeatAnIndexThatIsTheName()
    {
        Assert.Equal("3", Report.ClassTitle(3, "3"));
        Assert.Equal("3 dress", Report.ClassTitle(3, "dress"));
        Assert.Equal("0 T-shirt/top", Report.ClassTitle(0, "T-shirt/top"));
        var (e, s) = Study(1);
        Assert.DoesNotContain(">0 0<", Report.Html(e, ["0", "1"], s), StringComparison.Ordinal);
        Assert.Contains("| 0 (100) | 1 (10) |", Report.Markdown(e, ["0", "1"], s), StringComparison.Ordinal);
    }

    [Fact]
    public void AFixThatBumpsTheResultsVersionInvalidatesStoredRuns()
    {
        var e = new Experiment();
        var m = new MethodSpec("smote", "smote", SamplingStrategy.Auto, new MethodSettings("smote"));
        Assert.NotEqual(Runner.ConfigHash(e, m, 0), Runner.ConfigHash(e, m, 0, Runner.ResultsVersion + 1));
        Assert.Equal(Runner.ConfigHash(e, m, 0), Runner.ConfigHash(e, m, 0, Runner.ResultsVersion));
    }
}
