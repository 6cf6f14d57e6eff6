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
    public void DifferencesOverNoneAndTheBestClassicMethodCarryIntervalsRanksAndADiagram()
    {
        // Six seeds of four methods: cgan always 2 to 2.1 points above none, smote 1 above with noise, random-over
        // as none. The best classic method is smote; the ranks put cgan first in every seed.
        MethodSpec Spec(string name) => new(name, name, SamplingStrategy.Auto, new MethodSettings(name));
        double[] noise = [0.001, -0.002, 0.0005, 0.0015, -0.001, 0.0];
        var specs = new[] { Spec("none"), Spec("random-over"), Spec("smote"), Spec("cgan") };
        double Score(string m, int seed) => 0.80 + seed * 0.003 + m switch { "cgan" => 0.02 + (seed * 0.0002), "smote" => 0.01 + noise[seed], "random-over" => 0.0001, _ => 0 };
        var summaries = specs.Select(m => new Report.MethodSummary(m, [.. Enumerable.Range(0, 6).Select(i => Run(m.Label, (ulong)i, Score(m.Label, i)))])).ToList();
        var e = new Experiment { Name = "t", Seeds = [.. Enumerable.Range(0, 6).Select(i => (ulong)i)], Methods = specs };
        var json = Report.Json(e, ["0", "1"], summaries);
        var cgan = json["methods"]!["cgan"]!["significance"]!;
        Assert.Equal("smote", (string)cgan["best_classic"]!);
        Assert.Equal(0.0205, (double)cgan["over_none"]!["mean"]!, 12);
        Assert.True((bool)cgan["over_none"]!["interval_excludes_0"]!);
        // Six wins out of six: the exact Wilcoxon p-value is 2 / 2⁶.
        Assert.Equal(2.0 / 64, (double)cgan["over_none"]!["wilcoxon_p"]!, 12);
        Assert.Equal(0.0105 - noise.Average(), (double)cgan["over_best_classic"]!["mean"]!, 12);
        Assert.Null(json["methods"]!["none"]!["significance"]!["over_none"]);
        Assert.Null(json["methods"]!["smote"]!["significance"]!["over_best_classic"]);
        var ranks = json["ranks"]!;
        Assert.Equal(1.0, (double)ranks["average_rank"]!["cgan"]!);
        Assert.Equal(2.0, (double)ranks["average_rank"]!["smote"]!);
        Assert.InRange((double)ranks["friedman_p"]!, 0.0, 0.001);
        Assert.Equal(Significance.NemenyiQ(4) * Math.Sqrt(4 * 5 / 36.0), (double)ranks["nemenyi_cd"]!, 12);
        var md = Report.Markdown(e, ["0", "1"], summaries);
        Assert.Contains("## Is the difference real?", md, StringComparison.Ordinal);
        Assert.Contains("| cgan | +2.05 [2.01, 2.09] p=0.031 * |", md, StringComparison.Ordinal);
        var html = Report.Html(e, ["0", "1"], summaries);
        Assert.Contains("<h2>Is the difference real?</h2>", html, StringComparison.Ordinal);
        Assert.Contains("CD = ", html, StringComparison.Ordinal);
        Assert.Contains("cgan (1.00)", html, StringComparison.Ordinal);
        // With one seed there is no interval, no p-value and no ranking.
        var one = specs.Select(m => new Report.MethodSummary(m, [Run(m.Label, 0, Score(m.Label, 0))])).ToList();
        var json1 = Report.Json(e with { Seeds = [0] }, ["0", "1"], one);
        Assert.Null(json1["methods"]!["cgan"]!["significance"]!["over_none"]!["ci95"]);
        Assert.Null(json1["ranks"]);
        Assert.DoesNotContain("CD = ", Report.Html(e with { Seeds = [0] }, ["0", "1"], one), StringComparison.Ordinal);
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

    [Fact]
    public void ClassifierSchedulesChangeTheRunDigestOnlyWhenUsed()
    {
        // Runs stored before the schedule settings existed keep their digests: the defaults add nothing.
        var e = new Experiment();
        var m = new MethodSpec("smote", "smote", SamplingStrategy.Auto, new MethodSettings("smote"));
        var plain = Runner.ConfigHash(e, m, 0);
        Assert.Equal(plain, Runner.ConfigHash(e with { Training = e.Training with { TrainOn = TrainOn.Real, Schedule = TrainSchedule.Together } }, m, 0));
        var synthetic = Runner.ConfigHash(e with { Training = e.Training with { TrainOn = TrainOn.Synthetic } }, m, 0);
        var then = Runner.ConfigHash(e with { Training = e.Training with { Schedule = TrainSchedule.SyntheticThenReal } }, m, 0);
        var thenThree = Runner.ConfigHash(e with { Training = e.Training with { Schedule = TrainSchedule.SyntheticThenReal, SyntheticEpochs = 3 } }, m, 0);
        Assert.Equal(4, new[] { plain, synthetic, then, thenThree }.Distinct().Count());
    }
}
