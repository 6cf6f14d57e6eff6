using System.Globalization;
using System.Net;
using System.Text;

namespace Rebalance.Evaluation;

/// <summary>"Hyper-parameter search" in results.md and the report: for each searched method, every
/// trial's settings, budget and validation score, best first, and the settings chosen.</summary>
internal static class SearchSection
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static IEnumerable<SearchTrial> Ranked(SearchOutcome o) =>
        o.Trials.OrderByDescending(t => t.Rung).ThenByDescending(t => t.Score ?? double.NegativeInfinity).ThenBy(t => t.Candidate);

    private static string Describe(SearchOutcome o) =>
        $"{o.Spec.Strategy} search over {string.Join("; ", o.Spec.Space)}"
        + (o.Spec.Strategy == "halving" ? $" (η = {o.Spec.Eta}; generator steps and classifier epochs scaled by the budget)" : "")
        + $", {o.Trials.Count} trial(s) scored by the validation balanced accuracy on seed(s) {string.Join(", ", o.Seeds)}; "
        + (o.Chosen is { } c ? $"chosen: {SearchSpec.Text(c)}" : "not finished");

    public static void Markdown(StringBuilder sb, IReadOnlyDictionary<string, SearchOutcome>? searches)
    {
        if (searches is null || searches.Count == 0)
        {
            return;
        }
        sb.AppendLine();
        sb.AppendLine("## Hyper-parameter search");
        sb.AppendLine();
        sb.AppendLine("Trials are scored on the validation split only, never on the test set; the chosen settings then run for every seed.");
        foreach (var (label, o) in searches)
        {
            sb.AppendLine();
            sb.AppendLine(Inv, $"**{label}**: {Describe(o)}.");
            sb.AppendLine();
            sb.AppendLine("| settings | budget | validation balanced accuracy | seconds |");
            sb.AppendLine("| --- | --- | --- | --- |");
            foreach (var t in Ranked(o))
            {
                var mark = o.Chosen is { } c && SearchSpec.Text(c) == SearchSpec.Text(t.Settings) && t.Rung == o.Trials.Max(x => x.Rung) ? " (chosen)" : "";
                sb.AppendLine(Inv, $"| {SearchSpec.Text(t.Settings)}{mark} | {t.Budget:0.###} | {(t.Score is { } v ? (v * 100).ToString("F2", Inv) : "not run")} | {t.Seconds:F0} |");
            }
        }
    }

    public static void Html(StringBuilder sb, IReadOnlyDictionary<string, SearchOutcome>? searches)
    {
        if (searches is null || searches.Count == 0)
        {
            return;
        }
        static string H(string x) => WebUtility.HtmlEncode(x);
        sb.AppendLine("<h2>Hyper-parameter search</h2><p><small>Trials are scored on the validation split only, never on the test set; the chosen settings then run for every seed.</small></p>");
        foreach (var (label, o) in searches)
        {
            sb.AppendLine(Inv, $"<p><b>{H(label)}</b>: {H(Describe(o))}.</p><table><tr><th>settings</th><th>budget</th><th>validation balanced accuracy</th><th>seconds</th></tr>");
            foreach (var t in Ranked(o))
            {
                var chosen = o.Chosen is { } c && SearchSpec.Text(c) == SearchSpec.Text(t.Settings) && t.Rung == o.Trials.Max(x => x.Rung);
                sb.AppendLine(Inv, $"<tr{(chosen ? " style=\"font-weight:bold\"" : "")}><td style=\"text-align:left\">{H(SearchSpec.Text(t.Settings))}</td><td>{t.Budget:0.###}</td><td>{(t.Score is { } v ? (v * 100).ToString("F2", Inv) : "not run")}</td><td>{t.Seconds:F0}</td></tr>");
            }
            sb.AppendLine("</table>");
        }
    }

    private static IEnumerable<(Report.MethodSummary Summary, RunResult Run)> AutoRuns(IReadOnlyList<Report.MethodSummary> summaries) =>
        summaries.Where(x => x.Spec.Auto is not null).SelectMany(x => x.Runs.Where(r => r.Auto is not null).Select(r => (x, r)));

    private static (string Picked, double Score, string Next) Pick(RunResult r)
    {
        var list = r.Auto!["screening"]!.AsArray();
        var next = list.Count > 1 ? $"{(string)list[1]!["label"]!} {((double)list[1]!["score"]! * 100).ToString("F2", Inv)}" : "";
        return ((string)r.Auto["picked"]!, (double)list[0]!["score"]!, next);
    }

    /// <summary>The picks of <c>auto</c> per seed for results.json.</summary>
    public static System.Text.Json.Nodes.JsonArray AutoJson(Report.MethodSummary s) =>
        new([.. s.Runs.Where(r => r.Auto is not null).Select(r =>
        {
            var o = (System.Text.Json.Nodes.JsonObject)r.Auto!.DeepClone();
            o["seed"] = r.Seed;
            o["test_balanced_accuracy"] = r.Metrics["balanced_accuracy"];
            return (System.Text.Json.Nodes.JsonNode)o;
        })]);

    public static void AutoMarkdown(StringBuilder sb, IReadOnlyList<Report.MethodSummary> summaries)
    {
        var runs = AutoRuns(summaries).ToList();
        if (runs.Count == 0)
        {
            return;
        }
        sb.AppendLine();
        sb.AppendLine("## Automatic method choice");
        sb.AppendLine();
        sb.AppendLine("For each seed, every candidate was screened by the validation balanced accuracy of the classifier trained for a share of its epochs; the pick then ran in full and its test result is the seed's result.");
        sb.AppendLine();
        sb.AppendLine("| method | seed | picked | validation balanced accuracy | next best | test balanced accuracy |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var (x, r) in runs)
        {
            var (picked, score, next) = Pick(r);
            sb.AppendLine(Inv, $"| {x.Spec.Label} | {r.Seed} | {picked} | {score * 100:F2} | {next} | {r.Metrics["balanced_accuracy"] * 100:F2} |");
        }
    }

    public static void AutoHtml(StringBuilder sb, IReadOnlyList<Report.MethodSummary> summaries)
    {
        var runs = AutoRuns(summaries).ToList();
        if (runs.Count == 0)
        {
            return;
        }
        static string H(string x) => WebUtility.HtmlEncode(x);
        sb.AppendLine("<h2>Automatic method choice</h2><p><small>For each seed, every candidate was screened by the validation balanced accuracy of the classifier trained for a share of its epochs; the pick then ran in full and its test result is the seed's result.</small></p>");
        sb.AppendLine("<table><tr><th>method</th><th>seed</th><th>picked</th><th>validation balanced accuracy</th><th>next best</th><th>test balanced accuracy</th></tr>");
        foreach (var (x, r) in runs)
        {
            var (picked, score, next) = Pick(r);
            sb.AppendLine(Inv, $"<tr><td>{H(x.Spec.Label)}</td><td>{r.Seed}</td><td>{H(picked)}</td><td>{score * 100:F2}</td><td>{H(next)}</td><td>{r.Metrics["balanced_accuracy"] * 100:F2}</td></tr>");
        }
        sb.AppendLine("</table>");
    }
}
