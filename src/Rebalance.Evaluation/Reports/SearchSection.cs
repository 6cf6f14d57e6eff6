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
}
