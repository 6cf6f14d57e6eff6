using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Rebalance.Evaluation;

/// <summary>
/// "Is the difference real?" in results.json, results.md and the report: each method's balanced-accuracy
/// difference from <c>none</c> and from the best classic method (the non-generative sampler with the
/// highest mean), paired by seed, with its 95% interval and, with six or more seeds, a Wilcoxon p-value;
/// across methods, average ranks, the Friedman test and Nemenyi's critical-difference diagram over the
/// seeds every method has run.
/// </summary>
internal static class SignificanceSection
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The metric compared (the experiment's headline).</summary>
    public const string Metric = "balanced_accuracy";

    internal sealed record MethodRow(Report.MethodSummary Summary, PairedDifference? OverNone, PairedDifference? OverBestClassic);

    internal sealed record Result(string? BestClassic, IReadOnlyList<MethodRow> Rows, IReadOnlyList<string> RankedLabels, RankComparison? Ranks);

    public static Result Compute(IReadOnlyList<Report.MethodSummary> summaries)
    {
        var none = summaries.FirstOrDefault(s => s.Spec.Method == "none");
        var best = summaries.Where(s => s.Spec.Method != "none" && !Generative.Methods.GenerativeMethods.IsKnown(s.Spec.Method))
            .OrderByDescending(s => s.Metric(Metric).Mean).FirstOrDefault();
        var rows = summaries.Select(s => new MethodRow(s, Difference(s, none), Difference(s, best))).ToList();
        var seeds = summaries.Select(s => s.Runs.Select(r => r.Seed).ToHashSet()).Aggregate((a, b) => [.. a.Intersect(b)]).Order().ToList();
        RankComparison? ranks = null;
        if (summaries.Count >= 3 && seeds.Count >= 2)
        {
            ranks = Significance.Ranks([.. seeds.Select(seed => (IReadOnlyList<double>)[.. summaries.Select(s => s.Runs.First(r => r.Seed == seed).Metrics[Metric])])]);
        }
        return new Result(best?.Spec.Label, rows, [.. summaries.Select(s => s.Spec.Label)], ranks);
    }

    /// <summary>The paired difference of <paramref name="s"/> from <paramref name="other"/> over their common
    /// seeds (null against itself, against nothing, or with no common seed).</summary>
    private static PairedDifference? Difference(Report.MethodSummary s, Report.MethodSummary? other)
    {
        if (other is null || ReferenceEquals(s, other))
        {
            return null;
        }
        var common = s.Runs.Select(r => r.Seed).Intersect(other.Runs.Select(r => r.Seed)).Order().ToList();
        if (common.Count == 0)
        {
            return null;
        }
        double Value(Report.MethodSummary m, ulong seed) => m.Runs.First(r => r.Seed == seed).Metrics[Metric];
        return Significance.Paired([.. common.Select(x => Value(s, x))], [.. common.Select(x => Value(other, x))]);
    }

    private static JsonNode? Json(PairedDifference? d) => d is null ? null : new JsonObject
    {
        ["mean"] = d.Mean,
        ["ci95"] = d.Low is { } lo && d.High is { } hi ? new JsonArray(lo, hi) : null,
        ["seeds"] = d.Seeds,
        ["wilcoxon_p"] = d.WilcoxonP is { } p && double.IsFinite(p) ? p : null,
        ["interval_excludes_0"] = d.Excludes0,
    };

    /// <summary>The method's block: differences over none and over the best classic method.</summary>
    public static JsonObject MethodJson(Result r, MethodRow row) => new()
    {
        ["metric"] = Metric,
        ["over_none"] = Json(row.OverNone),
        ["over_best_classic"] = Json(row.OverBestClassic),
        ["best_classic"] = r.BestClassic,
    };

    /// <summary>The experiment's block: average ranks, Friedman, Nemenyi (null under 3 methods or 2 common seeds).</summary>
    public static JsonObject? RanksJson(Result r) => r.Ranks is not { } k ? null : new JsonObject
    {
        ["metric"] = Metric,
        ["seeds"] = k.Seeds,
        ["average_rank"] = new JsonObject(r.RankedLabels.Select((l, i) => KeyValuePair.Create(l, (JsonNode?)k.AverageRanks[i]))),
        ["friedman_statistic"] = double.IsFinite(k.FriedmanStatistic) ? k.FriedmanStatistic : null,
        ["friedman_p"] = double.IsFinite(k.FriedmanP) ? k.FriedmanP : null,
        ["nemenyi_cd"] = k.CriticalDifference,
        ["how"] = "rank 1 is the highest balanced accuracy in a seed; methods whose average ranks differ by less than nemenyi_cd (alpha 0.05) are not significantly different (Demsar 2006)",
    };

    private static string Cell(PairedDifference? d)
    {
        if (d is null)
        {
            return "-";
        }
        var text = string.Create(Inv, $"{(d.Mean >= 0 ? "+" : "")}{d.Mean * 100:F2}");
        if (d.Low is { } lo && d.High is { } hi)
        {
            text += string.Create(Inv, $" [{lo * 100:F2}, {hi * 100:F2}]");
        }
        if (d.WilcoxonP is { } p && double.IsFinite(p))
        {
            text += p < 0.001 ? " p<0.001" : string.Create(Inv, $" p={p:F3}");
        }
        return d.Excludes0 ? text + " *" : text;
    }

    private static string Caption(Result r) =>
        $"Balanced-accuracy difference in percentage points, paired by seed, with its 95% interval (Student's t; none with one seed){(r.Rows.Any(x => x.OverNone?.WilcoxonP is not null) ? " and the Wilcoxon signed-rank p-value" : "")}; * marks an interval that excludes 0. The best classic method is {(r.BestClassic is null ? "absent" : $"`{r.BestClassic}`")} (highest mean among the non-generative samplers).";

    private static string RanksText(Result r) => r.Ranks is not { } k ? "" : string.Create(Inv,
        $"Average rank over the {k.Seeds} seeds every method ran (1 = best): Friedman χ² = {k.FriedmanStatistic:F2}, p {(k.FriedmanP < 0.001 ? "< 0.001" : $"= {k.FriedmanP:F3}")}; Nemenyi critical difference {k.CriticalDifference:F2} (α = 0.05): methods closer than that in average rank are not significantly different. With few seeds and many methods the test has little power, so a missing difference is not evidence of none.");

    public static void Markdown(StringBuilder sb, Result r)
    {
        sb.AppendLine();
        sb.AppendLine("## Is the difference real?");
        sb.AppendLine();
        sb.AppendLine(Caption(r));
        sb.AppendLine();
        sb.AppendLine("| method | vs none | vs best classic |" + (r.Ranks is null ? "" : " average rank |"));
        sb.AppendLine("| --- | --- | --- |" + (r.Ranks is null ? "" : " --- |"));
        for (var i = 0; i < r.Rows.Count; i++)
        {
            var row = r.Rows[i];
            sb.AppendLine(string.Create(Inv, $"| {row.Summary.Spec.Label} | {Cell(row.OverNone)} | {Cell(row.OverBestClassic)} |") + (r.Ranks is { } k ? string.Create(Inv, $" {k.AverageRanks[i]:F2} |") : ""));
        }
        if (r.Ranks is not null)
        {
            sb.AppendLine();
            sb.AppendLine(RanksText(r));
        }
    }

    public static void Html(StringBuilder sb, Result r)
    {
        sb.AppendLine("<h2>Is the difference real?</h2>");
        sb.AppendLine(Inv, $"<p><small>{WebUtility.HtmlEncode(Caption(r).Replace("`", "", StringComparison.Ordinal))}</small></p>");
        sb.AppendLine("<table><tr><th>method</th><th>vs none</th><th>vs best classic</th>" + (r.Ranks is null ? "" : "<th>average rank</th>") + "</tr>");
        for (var i = 0; i < r.Rows.Count; i++)
        {
            var row = r.Rows[i];
            sb.AppendLine(string.Create(Inv, $"<tr><td>{WebUtility.HtmlEncode(row.Summary.Spec.Label)}</td><td>{WebUtility.HtmlEncode(Cell(row.OverNone))}</td><td>{WebUtility.HtmlEncode(Cell(row.OverBestClassic))}</td>") + (r.Ranks is { } k ? string.Create(Inv, $"<td>{k.AverageRanks[i]:F2}</td>") : "") + "</tr>");
        }
        sb.AppendLine("</table>");
        if (r.Ranks is { } ranks)
        {
            sb.AppendLine(Inv, $"<p><small>{WebUtility.HtmlEncode(RanksText(r))}</small></p>");
            sb.AppendLine(CriticalDifferenceSvg(r.RankedLabels, ranks.AverageRanks, ranks.CriticalDifference));
        }
    }

    /// <summary>
    /// Demšar's critical-difference diagram: an axis of ranks 1..k, each method hung from its average rank
    /// (the better half labelled on the left, the rest on the right), a bar of the critical difference's
    /// length, and a thick line joining each maximal group of methods whose ranks lie within it.
    /// </summary>
    public static string CriticalDifferenceSvg(IReadOnlyList<string> labels, IReadOnlyList<double> ranks, double cd)
    {
        var k = labels.Count;
        const double width = 760, left = 190, right = 190, top = 50, rowHeight = 20;
        var axis = width - left - right;
        double X(double rank) => left + ((rank - 1) / Math.Max(1, k - 1) * axis);
        var order = Enumerable.Range(0, k).OrderBy(i => ranks[i]).ThenBy(i => i).ToArray();
        var half = (k + 1) / 2;
        // Groups: maximal runs of the rank-sorted methods whose spread is below the critical difference.
        var groups = new List<(int From, int To)>();
        for (var a = 0; a < k; a++)
        {
            var b = a;
            while (b + 1 < k && ranks[order[b + 1]] - ranks[order[a]] < cd)
            {
                b++;
            }
            if (b > a && !groups.Any(g => g.From <= a && g.To >= b))
            {
                groups.Add((a, b));
            }
        }
        var lineTop = top + 18 + (groups.Count * 8);
        var height = lineTop + (Math.Max(half, k - half) * rowHeight) + 20;
        var sb = new StringBuilder();
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height:F0}\" viewBox=\"0 0 {width} {height:F0}\" font-family=\"sans-serif\" font-size=\"12\">");
        sb.Append(Inv, $"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left + axis}\" y2=\"{top}\" stroke=\"#333\"/>");
        for (var r = 1; r <= k; r++)
        {
            sb.Append(Inv, $"<line x1=\"{X(r):F1}\" y1=\"{top - 5}\" x2=\"{X(r):F1}\" y2=\"{top}\" stroke=\"#333\"/><text x=\"{X(r):F1}\" y=\"{top - 9}\" text-anchor=\"middle\">{r}</text>");
        }
        // The critical difference, drawn above the axis from rank 1.
        sb.Append(Inv, $"<line x1=\"{X(1):F1}\" y1=\"{top - 30}\" x2=\"{X(1) + (cd / Math.Max(1, k - 1) * axis):F1}\" y2=\"{top - 30}\" stroke=\"#c00\" stroke-width=\"2\"/><text x=\"{X(1):F1}\" y=\"{top - 36}\" fill=\"#c00\">CD = {cd:F2}</text>");
        for (var g = 0; g < groups.Count; g++)
        {
            var (from, to) = groups[g];
            var y = top + 10 + (g * 8);
            sb.Append(Inv, $"<line x1=\"{X(ranks[order[from]]) - 3:F1}\" y1=\"{y}\" x2=\"{X(ranks[order[to]]) + 3:F1}\" y2=\"{y}\" stroke=\"#000\" stroke-width=\"3\"/>");
        }
        for (var p = 0; p < k; p++)
        {
            var i = order[p];
            var x = X(ranks[i]);
            var onLeft = p < half;
            var y = lineTop + ((onLeft ? p : k - 1 - p) * rowHeight);
            var end = onLeft ? left - 10 : left + axis + 10;
            sb.Append(Inv, $"<polyline points=\"{x:F1},{top} {x:F1},{y:F1} {end:F1},{y:F1}\" fill=\"none\" stroke=\"#555\"/>");
            var text = WebUtility.HtmlEncode($"{labels[i]} ({ranks[i].ToString("F2", Inv)})");
            sb.Append(Inv, $"<text x=\"{(onLeft ? end - 4 : end + 4):F1}\" y=\"{y + 4:F1}\" text-anchor=\"{(onLeft ? "end" : "start")}\">{text}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }
}
