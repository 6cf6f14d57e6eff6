using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Rebalance.Data;
using Rebalance.Evaluation.Quality;
using Rebalance.Sampling;

namespace Rebalance.Evaluation;

/// <summary>Writes results.json, results.md and report.html from the finished runs.</summary>
public static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly string[] Palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

    /// <summary>Per-method summary over seeds.</summary>
    internal sealed record MethodSummary(MethodSpec Spec, IReadOnlyList<RunResult> Runs)
    {
        public (double Mean, double Std) Metric(string key) => ClassificationMetrics.MeanStd([.. Runs.Select(r => r.Metrics[key])]);

        public (double Mean, double Std) PerClass(int c, Func<ClassMetrics, double> pick) => ClassificationMetrics.MeanStd([.. Runs.Select(r => pick(r.PerClass[c]))]);

        public int[,] Confusion()
        {
            var k = Runs[0].Confusion.GetLength(0);
            var sum = new int[k, k];
            foreach (var r in Runs)
            {
                for (var i = 0; i < k; i++)
                {
                    for (var j = 0; j < k; j++)
                    {
                        sum[i, j] += r.Confusion[i, j];
                    }
                }
            }
            return sum;
        }
    }

    /// <summary>Writes the three summary files into the experiment's output folder (atomically).</summary>
    public static void WriteAll(Experiment e, Runner.PreparedData data, IReadOnlyList<RunResult> results) => WriteAll(e, data.Train.ClassNames, results);

    /// <summary>Writes results.json, results.md and report.html for <paramref name="results"/>, with the dataset's class names.</summary>
    public static void WriteAll(Experiment e, IReadOnlyList<string> classNames, IReadOnlyList<RunResult> results, IReadOnlyDictionary<string, SearchOutcome>? searches = null)
    {
        var summaries = e.Methods.Select(m => new MethodSummary(m, [.. results.Where(r => r.Label == m.Label).OrderBy(r => r.Seed)]))
            .Where(s => s.Runs.Count > 0).ToList();
        Write(Path.Combine(e.Output, "results.json"), Json(e, classNames, summaries, searches).ToJsonString(Runner.JsonOptions));
        Write(Path.Combine(e.Output, "results.md"), Markdown(e, classNames, summaries, searches));
        Write(Path.Combine(e.Output, "report.html"), Html(e, classNames, summaries, searches));
    }

    private static void Write(string path, string text) => AtomicFile.Write(path, Encoding.UTF8.GetBytes(text));

    private static MethodSummary? Baseline(IReadOnlyList<MethodSummary> s) => s.FirstOrDefault(m => m.Spec.Method == "none");

    internal static JsonObject Json(Experiment e, IReadOnlyList<string> classNames, IReadOnlyList<MethodSummary> summaries, IReadOnlyDictionary<string, SearchOutcome>? searches = null)
    {
        var baseline = Baseline(summaries);
        var significance = SignificanceSection.Compute(summaries);
        var methods = new JsonObject();
        foreach (var s in summaries)
        {
            var o = new JsonObject
            {
                ["method"] = s.Spec.Method,
                ["strategy"] = s.Spec.Strategy.Spec,
                ["settings"] = new JsonObject(s.Spec.Settings.Values.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["seeds"] = new JsonArray([.. s.Runs.Select(r => (JsonNode)r.Seed)]),
            };
            foreach (var key in ClassificationMetrics.HeadlineKeys)
            {
                var (mean, std) = s.Metric(key);
                o[key] = new JsonObject
                {
                    ["mean"] = mean,
                    ["std"] = StdJson(std),
                    ["per_seed"] = new JsonArray([.. s.Runs.Select(r => (JsonNode)r.Metrics[key])]),
                    ["gain_over_none"] = baseline is null ? null : ClassificationMetrics.Gain(mean, baseline.Metric(key).Mean),
                };
            }
            o["per_class"] = new JsonArray([.. classNames.Select((name, c) => (JsonNode)new JsonObject
            {
                ["class"] = name,
                ["support"] = s.Runs[0].PerClass[c].Support,
                ["train_count"] = s.Runs[0].TrainCounts[c],
                ["recall"] = MeanStdJson(s.PerClass(c, p => p.Recall)),
                ["precision"] = MeanStdJson(s.PerClass(c, p => p.Precision)),
                ["f1"] = MeanStdJson(s.PerClass(c, p => p.F1)),
            })]);
            o["notes"] = new JsonObject(s.Runs.Where(r => r.Notes.Count > 0).Select(r => KeyValuePair.Create($"seed{r.Seed}", (JsonNode?)Runner.NotesJson(r.Notes))));
            if (ConditionRows(s).ToList() is { Count: > 0 } checks)
            {
                o["condition_check"] = new JsonArray([.. checks.Select(c => (JsonNode)new JsonObject
                {
                    ["attribute"] = c.Attribute,
                    ["generated"] = MeanStdJson(Stat(c.Generated)),
                    ["ignored"] = MeanStdJson(Stat(c.Ignored)),
                    ["real"] = MeanStdJson(Stat(c.Real)),
                })]);
            }
            var conf = s.Confusion();
            o["confusion_sum"] = new JsonArray([.. Enumerable.Range(0, classNames.Count).Select(i => (JsonNode)new JsonArray([.. Enumerable.Range(0, classNames.Count).Select(j => (JsonNode)conf[i, j])]))]);
            if (QualityJson(s, classNames) is { } quality)
            {
                o["quality"] = quality;
            }
            o["significance"] = SignificanceSection.MethodJson(significance, significance.Rows.First(r => ReferenceEquals(r.Summary, s)));
            if (searches is not null && searches.TryGetValue(s.Spec.Label, out var search))
            {
                o["search"] = Search.Json(search);
            }
            if (s.Spec.Auto is not null)
            {
                o["auto"] = SearchSection.AutoJson(s);
            }
            methods[s.Spec.Label] = o;
        }
        var t = e.Training;
        return new JsonObject
        {
            ["experiment"] = e.Name,
            ["dataset"] = e.Dataset,
            ["protocol"] = e.Protocol,
            ["validation"] = e.Validation,
            ["classifier"] = new JsonObject
            {
                ["name"] = e.Classifier,
                ["epochs"] = t.Epochs,
                ["batch_size"] = t.BatchSize,
                ["optimizer"] = t.Optimizer,
                ["lr"] = t.LearningRate,
                ["weight_decay"] = t.WeightDecay,
                ["augment"] = new JsonArray([.. t.Augment.Select(a => (JsonNode)a)]),
                ["patience"] = t.Patience,
                ["epoch_size"] = t.EpochSize == EpochSize.Original ? "original" : "resampled",
                ["train_on"] = t.TrainOn == TrainOn.Synthetic ? "synthetic" : "real",
                ["schedule"] = t.Schedule == TrainSchedule.SyntheticThenReal ? "synthetic-then-real" : "together",
                ["synthetic_epochs"] = t.Schedule == TrainSchedule.SyntheticThenReal ? (t.SyntheticEpochs > 0 ? t.SyntheticEpochs : t.Epochs) : null,
            },
            ["seeds"] = new JsonArray([.. e.Seeds.Select(x => (JsonNode)x)]),
            ["class_names"] = new JsonArray([.. classNames.Select(n => (JsonNode)n)]),
            ["std"] = "sample standard deviation over seeds (n - 1); null with one seed",
            ["results_version"] = Runner.ResultsVersion,
            ["runs"] = new JsonArray([.. summaries.SelectMany(s => s.Runs).Select(r => (JsonNode)new JsonObject
            {
                ["label"] = r.Label,
                ["seed"] = r.Seed,
                ["results_version"] = r.ResultsVersion,
                ["commit"] = r.Commit,
            })]),
            ["methods"] = methods,
            ["ranks"] = SignificanceSection.RanksJson(significance),
        };
    }

    /// <summary>The quality blocks of a method's runs that hold figures (not skipped, not absent).</summary>
    internal static IReadOnlyList<JsonObject> Judged(MethodSummary s) =>
        [.. s.Runs.Select(r => r.Quality).OfType<JsonObject>().Where(q => q["skipped"] is null && q["fid"] is not null)];

    // A number node built in memory holds an int or a double, one read from a file a JsonElement; this reads any of them.
    private static double D(JsonNode? n) =>
        n is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number ? double.Parse(v.ToJsonString(), Inv) : double.NaN;

    /// <summary>The headline quality figures, each read from one run's quality block.</summary>
    internal static readonly (string Key, string Title, Func<JsonObject, double> Pick, string Format)[] QualityColumns =
    [
        ("fid", "FID", q => D(q["fid"]), "F2"),
        ("kid", "KID", q => D(q["kid"]?["mean"]), "F4"),
        ("inception_score", "IS", q => D(q["inception_score"]?["mean"]), "F2"),
        ("precision", "precision", q => D(q["precision"]), "P1"),
        ("recall", "recall", q => D(q["recall"]), "P1"),
        ("density", "density", q => D(q["density"]), "F3"),
        ("coverage", "coverage", q => D(q["coverage"]), "P1"),
        ("judged_as_class", "judged as class", q => JudgedAsClass(q), "P1"),
        ("near_copy_share", "near-copies", q => D(q["near_copy_share"]), "P1"),
        ("ssim_near_copy_share", "pixel near-copies", q => D(q["ssim_near_copy_share"]), "P1"),
    ];

    /// <summary>The share of a run's judged images the judge assigns to the class they were made for.</summary>
    private static double JudgedAsClass(JsonObject q)
    {
        var per = q["per_class"]?.AsObject();
        if (per is null)
        {
            return double.NaN;
        }
        double hit = 0, count = 0;
        foreach (var (_, v) in per)
        {
            var n = D(v?["count"]);
            var share = D(v?["judged_as_class"]);
            if (double.IsFinite(n) && double.IsFinite(share))
            {
                hit += share * n;
                count += n;
            }
        }
        return count == 0 ? double.NaN : hit / count;
    }

    /// <summary>Mean recall, with a classifier trained on generated images only, of the classes that were generated.</summary>
    private static double CasRecall(JsonObject q)
    {
        if (q["cas"] is not JsonObject cas)
        {
            return double.NaN;
        }
        var classes = cas["generated_classes"]!.AsArray().Select(c => (string)c!).ToList();
        return classes.Count == 0 ? double.NaN : classes.Average(c => D(cas["recall"]![c]));
    }

    private static (double Mean, double Std) Stat(IEnumerable<double> values) => ClassificationMetrics.MeanStd([.. values]);

    private static JsonObject? QualityJson(MethodSummary s, IReadOnlyList<string> classNames)
    {
        var judged = Judged(s);
        var skipped = s.Runs.Select(r => (string?)r.Quality?["skipped"]).OfType<string>().Distinct().ToList();
        if (judged.Count == 0)
        {
            return skipped.Count == 0 ? null : new JsonObject { ["skipped"] = skipped[0] };
        }
        var o = new JsonObject
        {
            ["runs"] = judged.Count,
            ["images_judged"] = Stat(judged.Select(q => D(q["generated"]))).Mean,
            ["judge_test_accuracy"] = D(judged[0]["judge"]?["test_accuracy"]),
        };
        foreach (var (key, _, pick, _) in QualityColumns)
        {
            o[key] = MeanStdJson(Stat(judged.Select(pick)));
        }
        o["per_class"] = new JsonObject(classNames.Where(n => judged.Any(q => q["per_class"]?[n] is not null)).Select(n => KeyValuePair.Create(n, (JsonNode?)new JsonObject
        {
            ["fid"] = MeanStdJson(Stat(judged.Select(q => D(q["per_class"]?[n]?["fid"])).Where(double.IsFinite))),
            ["judged_as_class"] = MeanStdJson(Stat(judged.Select(q => D(q["per_class"]?[n]?["judged_as_class"])).Where(double.IsFinite))),
            ["near_copy_share"] = MeanStdJson(Stat(judged.Select(q => D(q["per_class"]?[n]?["near_copy_share"])).Where(double.IsFinite))),
            ["ssim_near_copy_share"] = MeanStdJson(Stat(judged.Select(q => D(q["per_class"]?[n]?["ssim_near_copy_share"])).Where(double.IsFinite))),
        })));
        var cas = judged.Where(q => q["cas"] is JsonObject).ToList();
        if (cas.Count > 0)
        {
            o["cas"] = new JsonObject
            {
                ["runs"] = cas.Count,
                ["balanced_accuracy"] = MeanStdJson(Stat(cas.Select(q => D(q["cas"]!["balanced_accuracy"])))),
                ["generated_class_recall"] = MeanStdJson(Stat(cas.Select(CasRecall))),
                ["recall"] = new JsonObject(classNames.Select(n => KeyValuePair.Create(n, (JsonNode?)MeanStdJson(Stat(cas.Select(q => D(q["cas"]!["recall"]?[n]))))))),
            };
        }
        o["warnings"] = new JsonArray([.. judged.SelectMany(q => q["warnings"]?.AsArray() ?? []).Select(w => (string)w!).Distinct().Select(w => (JsonNode)w)]);
        return o;
    }

    private static string QualityCell((double Mean, double Std) v, string format)
    {
        string F(double x) => format == "P1" ? (x * 100).ToString("F1", Inv) : x.ToString(format, Inv);
        if (!double.IsFinite(v.Mean))
        {
            return "-";
        }
        return double.IsFinite(v.Std) ? $"{F(v.Mean)} ± {F(v.Std)}" : F(v.Mean);
    }

    private static JsonObject MeanStdJson((double Mean, double Std) v) => new() { ["mean"] = StdJson(v.Mean), ["std"] = StdJson(v.Std) };

    // With one seed the spread is unknown: MeanStd gives NaN, which JSON cannot hold and tables must not show as 0.
    private static JsonNode? StdJson(double std) => double.IsFinite(std) ? std : null;

    private static string Pct((double Mean, double Std) v) => ClassificationMetrics.Percent(v);

    private static string GainText(double? g) => g is { } x ? $"{(x >= 0 ? "+" : "")}{x * 100:F1}%" : "-";

    internal static string Markdown(Experiment e, IReadOnlyList<string> classNames, IReadOnlyList<MethodSummary> summaries, IReadOnlyDictionary<string, SearchOutcome>? searches = null)
    {
        var sb = new StringBuilder();
        var baseline = Baseline(summaries);
        sb.AppendLine(Inv, $"# {e.Name}");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Dataset `{e.Dataset}`, protocol `{e.Protocol}`, classifier `{e.Classifier}` ({Describe(e.Training)}), seeds {string.Join(", ", e.Seeds)}. Figures are percentages on the untouched test set, {Spread(e)}.");
        sb.AppendLine();
        sb.AppendLine("| method | " + string.Join(" | ", ClassificationMetrics.HeadlineKeys.Select(ClassificationMetrics.Title)) + " | balanced accuracy vs none |");
        sb.AppendLine("| --- |" + string.Concat(Enumerable.Repeat(" --- |", ClassificationMetrics.HeadlineKeys.Count + 1)));
        foreach (var s in summaries)
        {
            var gain = baseline is null ? null : ClassificationMetrics.Gain(s.Metric("balanced_accuracy").Mean, baseline.Metric("balanced_accuracy").Mean);
            sb.AppendLine(Inv, $"| {Label(s)} | {string.Join(" | ", ClassificationMetrics.HeadlineKeys.Select(k => Pct(s.Metric(k))))} | {GainText(gain)} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Recall per class");
        sb.AppendLine();
        sb.AppendLine("| method | " + string.Join(" | ", classNames.Select((n, c) => $"{ClassTitle(c, n)} ({summaries[0].Runs[0].TrainCounts[c]})")) + " |");
        sb.AppendLine("| --- |" + string.Concat(Enumerable.Repeat(" --- |", classNames.Count)));
        foreach (var s in summaries)
        {
            sb.AppendLine(Inv, $"| {Label(s)} | {string.Join(" | ", classNames.Select((_, c) => Pct(s.PerClass(c, p => p.Recall))))} |");
        }
        sb.AppendLine();
        sb.AppendLine("Column headers give the class and its training count (first seed). Confusion matrices and learning curves are in report.html.");
        SignificanceSection.Markdown(sb, SignificanceSection.Compute(summaries));
        SearchSection.Markdown(sb, searches);
        SearchSection.AutoMarkdown(sb, summaries);
        var judgedMethods = summaries.Where(x => Judged(x).Count > 0).ToList();
        if (judgedMethods.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Generated images");
            sb.AppendLine();
            sb.AppendLine(Inv, $"What the judge (cnn28 trained on the dataset's whole training split, test accuracy {D(Judged(judgedMethods[0])[0]["judge"]?["test_accuracy"]):P2}) says of the images each method added, against the real test images of the same classes; {Spread(e)}. Percentages except FID, KID, IS and density. Lower is better for FID, KID and near-copies; higher for the rest. The judge only judges: it chose no model and no method.");
            sb.AppendLine();
            var withCas = judgedMethods.Any(x => Judged(x).Any(q => q["cas"] is JsonObject));
            sb.AppendLine("| method | images judged | " + string.Join(" | ", QualityColumns.Select(c => c.Title)) + (withCas ? " | train-on-synthetic recall |" : " |"));
            sb.AppendLine("| --- | --- |" + string.Concat(Enumerable.Repeat(" --- |", QualityColumns.Length + (withCas ? 1 : 0))));
            foreach (var x in judgedMethods)
            {
                var q = Judged(x);
                sb.Append(Inv, $"| {Label(x)} | {q.Average(v => D(v["generated"])):F0} | {string.Join(" | ", QualityColumns.Select(c => QualityCell(Stat(q.Select(c.Pick)), c.Format)))} |");
                if (withCas)
                {
                    sb.Append(Inv, $" {QualityCell(Stat(q.Where(v => v["cas"] is JsonObject).Select(CasRecall)), "P1")} |");
                }
                sb.AppendLine();
            }
        }
        if (summaries.Any(s => ConditionRows(s).Any()))
        {
            sb.AppendLine();
            sb.AppendLine("## Condition check");
            sb.AppendLine();
            sb.AppendLine(ConditionIntro);
            sb.AppendLine();
            sb.AppendLine("| method | attribute | generated images | a generator ignoring the request | real images re-measured |");
            sb.AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var s in summaries)
            {
                foreach (var c in ConditionRows(s))
                {
                    sb.AppendLine(Inv, $"| {s.Spec.Label} | {c.Attribute} | {ConditionCell(c.Generated)} | {ConditionCell(c.Ignored)} | {ConditionCell(c.Real)} |");
                }
            }
        }
        if (summaries.Any(s => s.Runs.Any(r => r.Notes.Count > 0)))
        {
            sb.AppendLine();
            sb.AppendLine("## Notes");
            sb.AppendLine();
            sb.AppendLine("Methods marked † did something a table alone would hide:");
            sb.AppendLine();
            foreach (var (label, seed, note) in Notes(summaries))
            {
                sb.AppendLine(Inv, $"- {label}, seed {seed}: {note}");
            }
        }
        return sb.ToString();
    }

    private const string ConditionIntro = "For generators conditioned on attributes that can be measured on an image (Morpho-MNIST's): the mean absolute difference between the value an image was requested with and the value measured on it, over 500 requests drawn from the training images' attributes; beside it, what a generator drawing realistic images without regard to the request would score, and the measurement's own difference on real images. Mean ± std over seeds.";

    /// <summary>Per attribute, the condition check of every seed of a method.</summary>
    private static IEnumerable<(string Attribute, double[] Generated, double[] Ignored, double[] Real)> ConditionRows(MethodSummary s)
    {
        var runs = s.Runs.Where(r => r.ConditionCheck.Count > 0).ToList();
        return runs.Count == 0
            ? []
            : runs[0].ConditionCheck.Select(c => c.Attribute).Select(a =>
            {
                var per = runs.Select(r => r.ConditionCheck.First(c => c.Attribute == a)).ToList();
                return (a, per.Select(c => c.Generated).ToArray(), per.Select(c => c.Ignored).ToArray(), per.Select(c => c.Real).ToArray());
            });
    }

    private static string ConditionCell(double[] v)
    {
        var mean = v.Average();
        return v.Length < 2 ? mean.ToString("G3", Inv) : $"{mean.ToString("G3", Inv)} ± {Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)).ToString("G2", Inv)}";
    }

    private static string Label(MethodSummary s) =>
        (s.Spec.SettingsText.Length == 0 ? s.Spec.Label : $"{s.Spec.Label} ({s.Spec.SettingsText})") + (s.Runs.Any(r => r.Notes.Count > 0) ? " †" : "");

    private static IEnumerable<(string Label, ulong Seed, RebalanceNote Note)> Notes(IReadOnlyList<MethodSummary> summaries) =>
        summaries.SelectMany(s => s.Runs.SelectMany(r => r.Notes.Select(n => (s.Spec.Label, r.Seed, n))));

    private static string Spread(Experiment e) => e.Seeds.Count > 1 ? "mean ± sample standard deviation over seeds" : "one seed, so no spread is known";

    private static string Describe(TrainSettings t) =>
        $"{t.Epochs} epochs{(t.EpochSize == EpochSize.Original ? " of the imbalanced set's length (equal steps for every method)" : "")}, batch {t.BatchSize}, {t.Optimizer} lr {t.LearningRate.ToString(Inv)}"
        + (t.Augment.Count > 0 ? $", augment {string.Join("+", t.Augment)}" : "")
        + (t.Patience > 0 ? $", early stopping after {t.Patience}" : "")
        + ", best validation epoch kept";

    internal static string Html(Experiment e, IReadOnlyList<string> classNames, IReadOnlyList<MethodSummary> summaries, IReadOnlyDictionary<string, SearchOutcome>? searches = null)
    {
        var sb = new StringBuilder();
        var baseline = Baseline(summaries);
        string H(string s) => WebUtility.HtmlEncode(s);
        sb.AppendLine("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.AppendLine(Inv, $"<title>{H(e.Name)} - Rebalance report</title>");
        sb.AppendLine("<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;font-variant-numeric:tabular-nums}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}.best{font-weight:bold;background:#e8f4e8}.grid{display:flex;flex-wrap:wrap;gap:18px}.card{border:1px solid #ddd;padding:8px}h2{margin-top:32px}small{color:#666}</style>");
        sb.AppendLine("</head><body>");
        sb.AppendLine(Inv, $"<h1>{H(e.Name)}</h1>");
        sb.AppendLine(Inv, $"<p>Dataset <b>{H(e.Dataset)}</b>, protocol <b>{H(e.Protocol)}</b>, validation {e.Validation:P0} of the imbalanced training split. Classifier <b>{H(e.Classifier)}</b>: {H(Describe(e.Training))}. Seeds: {H(string.Join(", ", e.Seeds))}.</p>");
        sb.AppendLine(Inv, $"<p><small>All figures are on the real test set, which no sampler or generator touches; {H(Spread(e))}, in percent.</small></p>");

        sb.AppendLine("<h2>Summary</h2><table><tr><th>method</th>");
        foreach (var k in ClassificationMetrics.HeadlineKeys)
        {
            sb.Append(Inv, $"<th>{H(ClassificationMetrics.Title(k))}</th>");
        }
        sb.AppendLine("<th>balanced accuracy vs none</th><th>synthetic images</th><th>rebalancing s</th><th>classifier s</th></tr>");
        var bestOf = ClassificationMetrics.HeadlineKeys.ToDictionary(k => k, k => summaries.Max(s => s.Metric(k).Mean));
        foreach (var s in summaries)
        {
            sb.Append(Inv, $"<tr><td>{H(Label(s))}</td>");
            foreach (var k in ClassificationMetrics.HeadlineKeys)
            {
                var v = s.Metric(k);
                sb.Append(Inv, $"<td{(v.Mean == bestOf[k] && summaries.Count > 1 ? " class=\"best\"" : "")}>{Pct(v)}</td>");
            }
            var gain = baseline is null ? null : ClassificationMetrics.Gain(s.Metric("balanced_accuracy").Mean, baseline.Metric("balanced_accuracy").Mean);
            sb.AppendLine(Inv, $"<td>{GainText(gain)}</td><td>{s.Runs.Average(r => r.Synthetic):F0}</td><td>{s.Runs.Average(r => r.ResampleSeconds):F1}</td><td>{s.Runs.Average(r => r.TrainSeconds):F1}</td></tr>");
        }
        sb.AppendLine("</table>");
        SignificanceSection.Html(sb, SignificanceSection.Compute(summaries));
        SearchSection.Html(sb, searches);
        SearchSection.AutoHtml(sb, summaries);

        if (summaries.Any(s => ConditionRows(s).Any()))
        {
            sb.AppendLine(Inv, $"<h2>Condition check</h2><p><small>{H(ConditionIntro)}</small></p><table><tr><th>method</th><th>attribute</th><th>generated images</th><th>a generator ignoring the request</th><th>real images re-measured</th></tr>");
            foreach (var s in summaries)
            {
                foreach (var c in ConditionRows(s))
                {
                    sb.AppendLine(Inv, $"<tr><td>{H(s.Spec.Label)}</td><td>{H(c.Attribute)}</td><td>{H(ConditionCell(c.Generated))}</td><td>{H(ConditionCell(c.Ignored))}</td><td>{H(ConditionCell(c.Real))}</td></tr>");
                }
            }
            sb.AppendLine("</table>");
        }

        if (summaries.Any(s => s.Runs.Any(r => r.Notes.Count > 0)))
        {
            sb.AppendLine("<h2>Notes</h2><p><small>Methods marked † did something the table alone would hide: a class left as it was, copies instead of new images, a generator's training restarted after divergence or its learning rates cut on a plateau.</small></p><table><tr><th>method</th><th>seed</th><th>what</th><th>where</th><th>step</th><th>detail</th></tr>");
            foreach (var (label, seed, note) in Notes(summaries))
            {
                sb.AppendLine(Inv, $"<tr><td>{H(label)}</td><td>{seed}</td><td>{H(note.Kind)}</td><td>{H(note.Source ?? "")}</td><td>{(note.Step is { } st ? st.ToString(Inv) : "")}</td><td style=\"text-align:left\">{H(note.Detail)}</td></tr>");
            }
            sb.AppendLine("</table>");
        }

        sb.AppendLine("<h2>Metrics by method</h2><div class=\"grid\">");
        foreach (var k in ClassificationMetrics.HeadlineKeys)
        {
            sb.AppendLine(Inv, $"<div class=\"card\"><b>{H(ClassificationMetrics.Title(k))}</b><br>{BarChart(summaries, k)}</div>");
        }
        sb.AppendLine("</div>");

        sb.AppendLine("<h2>Recall per class</h2><table><tr><th>method</th>");
        for (var c = 0; c < classNames.Count; c++)
        {
            sb.Append(Inv, $"<th>{H(ClassTitle(c, classNames[c]))}<br><small>{summaries[0].Runs[0].TrainCounts[c]} train</small></th>");
        }
        sb.AppendLine("</tr>");
        foreach (var s in summaries)
        {
            sb.Append(Inv, $"<tr><td>{H(Label(s))}</td>");
            for (var c = 0; c < classNames.Count; c++)
            {
                sb.Append(Inv, $"<td>{Pct(s.PerClass(c, p => p.Recall))}</td>");
            }
            sb.AppendLine("</tr>");
        }
        sb.AppendLine("</table>");

        sb.AppendLine("<h2>Confusion matrices</h2><p><small>Rows: true class; columns: predicted class; summed over seeds. Darker is more.</small></p><div class=\"grid\">");
        foreach (var s in summaries)
        {
            sb.AppendLine(Inv, $"<div class=\"card\"><b>{H(s.Spec.Label)}</b><br>{ConfusionSvg(s.Confusion(), classNames)}</div>");
        }
        sb.AppendLine("</div>");

        var grids = summaries.Where(s => s.Runs.Any(r => r.Synthetic > 0))
            .Select(s => (s, File: $"samples/{Files.Safe(s.Spec.Label)}-seed{s.Runs[0].Seed}.png"))
            .Where(x => File.Exists(Path.Combine(e.Output, x.File))).ToList();
        if (grids.Count > 0)
        {
            sb.AppendLine("<h2>Added images</h2><p><small>For each class that received images: a row of real training images, then two rows of added ones (first seed). Rebalancing time includes training the generators; a generator trained for one fill level is reused by the others.</small></p><div class=\"grid\">");
            foreach (var (sm, file) in grids)
            {
                sb.Append(Inv, $"<div class=\"card\"><b>{H(sm.Spec.Label)}</b><br><img src=\"{H(file)}\" alt=\"added images of {H(sm.Spec.Label)}\" style=\"image-rendering:pixelated;width:{2 * 362}px;max-width:100%\">");
                var prefix = $"{Files.Safe(sm.Spec.Label)}-seed{sm.Runs[0].Seed}-generator-";
                var samplesDir = Path.Combine(e.Output, "samples");
                foreach (var g in Directory.GetFiles(samplesDir, prefix + "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal))
                {
                    var tag = g![prefix.Length..^4];
                    sb.Append(Inv, $"<br><small>generator {H(tag)} after training (fixed latent codes)</small><br><img src=\"samples/{H(g)}\" alt=\"samples of generator {H(tag)}\" style=\"image-rendering:pixelated;width:{2 * 302}px;max-width:100%\">");
                }
                sb.AppendLine("</div>");
            }
            sb.AppendLine("</div>");
        }

        QualitySection(sb, e, classNames, summaries);

        sb.AppendLine("<h2>Learning curves</h2><div class=\"grid\">");
        sb.AppendLine(Inv, $"<div class=\"card\"><b>Training loss per epoch</b> (mean over seeds)<br>{CurveSvg(summaries, ep => ep.TrainLoss)}</div>");
        if (summaries.Any(s => s.Runs.Any(r => r.Epochs.Any(ep => ep.ValidationBalancedAccuracy is not null))))
        {
            sb.AppendLine(Inv, $"<div class=\"card\"><b>Validation balanced accuracy per epoch</b> (mean over seeds)<br>{CurveSvg(summaries, ep => ep.ValidationBalancedAccuracy ?? double.NaN)}</div>");
        }
        sb.AppendLine("</div>");
        sb.AppendLine("</body></html>");
        return sb.ToString();
    }

    /// <summary>The "Generated images" section: the judge's figures per method, per class, the
    /// mode-collapse matrices, t-SNE maps and the generators' training losses.</summary>
    private static void QualitySection(StringBuilder sb, Experiment e, IReadOnlyList<string> classNames, IReadOnlyList<MethodSummary> summaries)
    {
        string H(string x) => WebUtility.HtmlEncode(x);
        var judged = summaries.Where(x => Judged(x).Count > 0).ToList();
        var skipped = summaries.SelectMany(x => x.Runs.Select(r => (x.Spec.Label, Reason: (string?)r.Quality?["skipped"]))).Where(x => x.Reason is not null).DistinctBy(x => x.Label).ToList();
        if (judged.Count == 0 && skipped.Count == 0)
        {
            return;
        }
        sb.AppendLine("<h2>Generated images</h2>");
        foreach (var (label, reason) in skipped)
        {
            sb.AppendLine(Inv, $"<p><small>{H(label)}: not judged: {H(reason!)}</small></p>");
        }
        if (judged.Count == 0)
        {
            return;
        }
        var first = Judged(judged[0])[0];
        sb.AppendLine(Inv, $"<p><small>A judge network (cnn28 trained on the dataset's whole training split before any imbalance, test accuracy {D(first["judge"]?["test_accuracy"]):P2}) looks at the images each method added (at most {e.Quality.PerClass} per class and seed) and compares them with the real test images of the same classes, which no method saw. The judge only judges: it chose no model and no method. Figures: {H(Spread(e))}.</small></p>");
        sb.AppendLine("<ul style=\"font-size:smaller;color:#555\">");
        sb.AppendLine("<li><b>FID</b>: Fréchet distance between Gaussian fits to judge features (Heusel et al. 2017); <b>KID</b>: unbiased squared MMD with a cubic kernel (Bińkowski et al. 2018). Lower is closer to real images.</li>");
        sb.AppendLine("<li><b>IS</b>: Inception Score with the judge's class probabilities (Salimans et al. 2016); with one generated class it is near 1 by construction.</li>");
        sb.AppendLine("<li><b>precision / recall</b> (Kynkäänniemi et al. 2019, k = 3): how many generated images look real, and how much of the real variety is reached; <b>density / coverage</b> (Naeem et al. 2020, k = 5) the same, less swayed by outliers.</li>");
        sb.AppendLine("<li><b>judged as class</b>: share of added images the judge assigns to the class they were made for (the SCDL-GAN study's mode-collapse test).</li>");
        sb.AppendLine("<li><b>near-copies</b>: share of added images closer to a training image of their class than 95% of unseen real images are (judge features; pixels: highest SSIM). About 5% is fresh; near 100% is copying.</li>");
        sb.AppendLine("<li><b>train-on-synthetic recall</b> (with <code>cas: true</code>): recall of the generated classes when a classifier learns them from generated images only.</li>");
        sb.AppendLine("</ul>");
        var withCas = judged.Any(x => Judged(x).Any(q => q["cas"] is JsonObject));
        sb.Append("<table><tr><th>method</th><th>images judged</th>");
        foreach (var c in QualityColumns)
        {
            sb.Append(Inv, $"<th>{H(c.Title)}</th>");
        }
        sb.AppendLine(withCas ? "<th>train-on-synthetic recall</th><th>train-on-synthetic balanced accuracy</th></tr>" : "</tr>");
        foreach (var x in judged)
        {
            var q = Judged(x);
            sb.Append(Inv, $"<tr><td>{H(Label(x))}</td><td>{q.Average(v => D(v["generated"])):F0}</td>");
            foreach (var c in QualityColumns)
            {
                sb.Append(Inv, $"<td>{QualityCell(Stat(q.Select(c.Pick)), c.Format)}</td>");
            }
            if (withCas)
            {
                var cas = q.Where(v => v["cas"] is JsonObject).ToList();
                sb.Append(Inv, $"<td>{QualityCell(Stat(cas.Select(CasRecall)), "P1")}</td><td>{QualityCell(Stat(cas.Select(v => D(v["cas"]!["balanced_accuracy"]))), "P1")}</td>");
            }
            sb.AppendLine("</tr>");
        }
        sb.AppendLine("</table>");

        var generatedClasses = classNames.Select((n, c) => (n, c)).Where(p => judged.Any(x => Judged(x).Any(q => q["per_class"]?[p.n] is not null))).ToList();
        sb.AppendLine("<h3>Per generated class</h3><p><small>Intra-class FID against the class's real test images / judged as class / near-copies (features), mean over seeds.</small></p>");
        sb.Append("<table><tr><th>method</th>");
        foreach (var (n, c) in generatedClasses)
        {
            sb.Append(Inv, $"<th>{H(ClassTitle(c, n))}</th>");
        }
        sb.AppendLine("</tr>");
        foreach (var x in judged)
        {
            var q = Judged(x);
            sb.Append(Inv, $"<tr><td>{H(x.Spec.Label)}</td>");
            foreach (var (n, _) in generatedClasses)
            {
                var cells = q.Select(v => v["per_class"]?[n]).OfType<JsonObject>().ToList();
                if (cells.Count == 0)
                {
                    sb.Append("<td>-</td>");
                    continue;
                }
                string M(string key, string f) => QualityCell((Stat(cells.Select(v => D(v[key])).Where(double.IsFinite)).Mean, double.NaN), f);
                sb.Append(Inv, $"<td>{M("fid", "F1")} / {M("judged_as_class", "P1")} / {M("near_copy_share", "P1")}</td>");
            }
            sb.AppendLine("</tr>");
        }
        sb.AppendLine("</table>");

        sb.AppendLine("<h3>Mode collapse</h3><p><small>Rows: the class an image was generated for; columns: the class the judge sees in it; summed over seeds. Only the generated classes' rows are shown.</small></p><div class=\"grid\">");
        foreach (var x in judged)
        {
            var k = classNames.Count;
            var sum = new int[k, k];
            foreach (var q in Judged(x))
            {
                var rows = q["confusion"]!.AsArray();
                for (var i = 0; i < k; i++)
                {
                    for (var j = 0; j < k; j++)
                    {
                        sum[i, j] += (int)rows[i]![j]!;
                    }
                }
            }
            var generatedRows = Enumerable.Range(0, k).Where(i => Enumerable.Range(0, k).Any(j => sum[i, j] > 0)).ToList();
            sb.AppendLine(Inv, $"<div class=\"card\"><b>{H(x.Spec.Label)}</b><br>{ConfusionSvg(sum, classNames, generatedRows)}</div>");
        }
        sb.AppendLine("</div>");

        var maps = judged.Select(x => (x, Run: x.Runs.FirstOrDefault(r => r.Quality?["tsne"] is JsonObject t && t["x"]!.AsArray().Count > 0))).Where(p => p.Run is not null).ToList();
        if (maps.Count > 0)
        {
            sb.AppendLine("<h3>t-SNE of judge features</h3><p><small>Real test images of every class (dots) with the added images (crosses), embedded together by t-SNE (van der Maaten and Hinton 2008, perplexity 30), first judged seed: in the judge's features, and where a method keeps discriminators or encoders, in each one's own features (a discriminator's input to its last layer, an encoder's convolutional features), as the SCDL-GAN study plots its encoder's. A discriminator that puts its generator's crosses in a clump apart from the real dots can tell them apart. In the judge's map, crosses inside their own class's cloud look like that class to the judge; crosses in another cloud or in one tight clump are what the tables above count.</small></p><div class=\"grid\">");
            foreach (var (x, run) in maps)
            {
                sb.AppendLine(Inv, $"<div class=\"card\"><b>{H(x.Spec.Label)}</b> <small>judge features, seed {run!.Seed}</small><br>{Charts.TsneSvg(QualityAssessment.TsneFromJson(run.Quality!["tsne"]), classNames)}</div>");
                foreach (var (tag, map) in run.Quality["tsne_discriminator"]?.AsObject() ?? [])
                {
                    sb.AppendLine(Inv, $"<div class=\"card\"><b>{H(x.Spec.Label)}</b> <small>its discriminator {H(tag)}'s features, seed {run.Seed}</small><br>{Charts.TsneSvg(QualityAssessment.TsneFromJson(map), classNames)}</div>");
                }
                foreach (var (tag, map) in run.Quality["tsne_encoder"]?.AsObject() ?? [])
                {
                    sb.AppendLine(Inv, $"<div class=\"card\"><b>{H(x.Spec.Label)}</b> <small>its encoder {H(tag)}'s features, seed {run.Seed}</small><br>{Charts.TsneSvg(QualityAssessment.TsneFromJson(map), classNames)}</div>");
                }
            }
            sb.AppendLine("</div>");
        }

        // Loss curves of each trained model, once per model folder (fill levels of one method share it).
        var folders = summaries.Where(x => x.Runs.Count > 0 && x.Runs[0].ModelFolder is not null)
            .GroupBy(x => x.Runs[0].ModelFolder!, StringComparer.Ordinal).ToList();
        var cards = new List<string>();
        foreach (var g in folders)
        {
            var dir = Path.Combine(e.Output, g.Key);
            if (!Directory.Exists(dir))
            {
                continue;
            }
            foreach (var csv in Directory.GetFiles(dir, "*.losses.csv").Order(StringComparer.Ordinal))
            {
                if (Charts.ReadLosses(csv) is not { } losses)
                {
                    continue;
                }
                var tag = Path.GetFileName(csv)[..^".losses.csv".Length];
                cards.Add($"<div class=\"card\"><b>{H(string.Join(", ", g.Select(x => x.Spec.Label)))}</b> <small>{H(tag)}, seed {g.First().Runs[0].Seed}</small><br>{Charts.LossSvg(losses)}</div>");
            }
        }
        if (cards.Count > 0)
        {
            sb.AppendLine("<h3>Generator training</h3><p><small>Discriminator and generator loss per step from each generator's losses.csv (a moving mean; the raw values faint behind it; the axis spans the 1st to 99th percentile). A discriminator loss that falls to zero and stays there while the generator's climbs is a discriminator that has won.</small></p><div class=\"grid\">");
            foreach (var c in cards)
            {
                sb.AppendLine(c);
            }
            sb.AppendLine("</div>");
        }
    }

    /// <summary>Horizontal bars of a metric's mean with a ±std whisker. The axis starts just below the
    /// smallest value shown (see <see cref="AxisStart"/>), not at 0, so that 97.4 and 97.7 look different;
    /// its start is written under the bars.</summary>
    internal static string BarChart(IReadOnlyList<MethodSummary> summaries, string key)
    {
        const int rowH = 22, labelW = 150, barW = 260, axisH = 30;
        var h = (summaries.Count * rowH) + 10 + axisH;
        var stats = summaries.Select(s => s.Metric(key)).ToList();
        var start = AxisStart(stats.Select(v => double.IsFinite(v.Std) ? v.Mean - v.Std : v.Mean));
        double X(double v) => labelW + (Math.Clamp((v - start) / (1 - start), 0, 1) * barW);
        var sb = new StringBuilder();
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{labelW + barW + 90}\" height=\"{h}\" font-size=\"12\">");
        for (var i = 0; i < summaries.Count; i++)
        {
            var (mean, std) = stats[i];
            var y = 5 + (i * rowH);
            sb.Append(Inv, $"<text x=\"0\" y=\"{y + 15}\">{WebUtility.HtmlEncode(summaries[i].Spec.Label)}</text>");
            sb.Append(Inv, $"<rect x=\"{labelW}\" y=\"{y + 3}\" width=\"{X(mean) - labelW:F1}\" height=\"{rowH - 6}\" fill=\"{Palette[i % Palette.Length]}\"/>");
            if (double.IsFinite(std))
            {
                sb.Append(Inv, $"<line x1=\"{X(mean - std):F1}\" x2=\"{X(mean + std):F1}\" y1=\"{y + (rowH / 2)}\" y2=\"{y + (rowH / 2)}\" stroke=\"#222\"/>");
            }
            sb.Append(Inv, $"<text x=\"{labelW + barW + 6}\" y=\"{y + 15}\">{mean * 100:F1}%</text>");
        }
        var axisY = 5 + (summaries.Count * rowH) + 4;
        sb.Append(Inv, $"<line x1=\"{labelW}\" x2=\"{labelW + barW}\" y1=\"{axisY}\" y2=\"{axisY}\" stroke=\"#888\"/>");
        sb.Append(Inv, $"<text x=\"{labelW}\" y=\"{axisY + 14}\" font-size=\"10\">{start * 100:0.#}%</text>");
        sb.Append(Inv, $"<text x=\"{labelW + barW}\" y=\"{axisY + 14}\" font-size=\"10\" text-anchor=\"end\">100%</text>");
        sb.Append(Inv, $"<text x=\"{labelW + (barW / 2)}\" y=\"{axisY + 26}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#666\">{(start > 0 ? $"axis starts at {start * 100:0.#}%, not 0" : "axis starts at 0")}</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>Where a bar chart's axis starts: a round value (a multiple of 1, 5 or 10 points) a little
    /// below the smallest value shown, so the spread between methods fills the chart; 0 when values
    /// are spread over more than half the range anyway.</summary>
    internal static double AxisStart(IEnumerable<double> values)
    {
        var finite = values.Where(double.IsFinite).ToList();
        if (finite.Count == 0)
        {
            return 0;
        }
        var min = Math.Clamp(finite.Min(), 0, 1);
        var max = Math.Clamp(finite.Max(), 0, 1);
        if (min < 0.5)
        {
            return 0;
        }
        // Leave at least a fifth of the shown span below the smallest bar, so it stays visible.
        var margin = Math.Max(0.01, (max - min) / 4);
        var step = max - min > 0.2 ? 0.1 : max - min > 0.05 ? 0.05 : 0.01;
        return Math.Max(0, Math.Floor((min - margin) / step) * step);
    }

    /// <summary>A confusion matrix as an SVG grid; <paramref name="rows"/> picks the rows shown (all by default),
    /// so a mode-collapse matrix shows only the classes that were generated.</summary>
    internal static string ConfusionSvg(int[,] m, IReadOnlyList<string> classNames, IReadOnlyList<int>? rows = null)
    {
        var k = m.GetLength(0);
        rows ??= [.. Enumerable.Range(0, k)];
        const int cell = 34, left = 90, top = 30;
        var sb = new StringBuilder();
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{left + (k * cell) + 10}\" height=\"{top + (rows.Count * cell) + 10}\" font-size=\"10\">");
        for (var j = 0; j < k; j++)
        {
            sb.Append(Inv, $"<text x=\"{left + (j * cell) + (cell / 2)}\" y=\"{top - 8}\" text-anchor=\"middle\">{j}</text>");
        }
        for (var r = 0; r < rows.Count; r++)
        {
            var i = rows[r];
            var y = top + (r * cell);
            var rowSum = Math.Max(1, Enumerable.Range(0, k).Sum(j => m[i, j]));
            sb.Append(Inv, $"<text x=\"0\" y=\"{y + (cell / 2) + 4}\">{WebUtility.HtmlEncode(ClassTitle(i, classNames[i]))}</text>");
            for (var j = 0; j < k; j++)
            {
                var share = m[i, j] / (double)rowSum;
                var shade = (int)Math.Round(255 - (share * 215));
                var fill = i == j ? $"rgb({shade},{Math.Min(255, shade + 25)},{shade})" : $"rgb(255,{shade},{shade})";
                sb.Append(Inv, $"<rect x=\"{left + (j * cell)}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#ddd\"><title>true {i}, predicted {j}: {m[i, j]} ({share:P1} of row)</title></rect>");
                sb.Append(Inv, $"<text x=\"{left + (j * cell) + (cell / 2)}\" y=\"{y + (cell / 2) + 4}\" text-anchor=\"middle\" fill=\"{(share > 0.6 ? "#fff" : "#222")}\">{m[i, j]}</text>");
            }
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>"3 dress" for a named class, "3" when the name is the index itself (not "3 3").</summary>
    internal static string ClassTitle(int index, string name)
    {
        if (name == index.ToString(Inv))
        {
            return name;
        }
        return $"{index} {(name.Length > 12 ? name[..12] : name)}";
    }

    private static string CurveSvg(IReadOnlyList<MethodSummary> summaries, Func<EpochRecord, double> pick)
    {
        const int w = 460, h = 240, left = 50, bottom = 30, legendW = 150;
        var series = summaries.Select(s =>
        {
            var epochs = s.Runs.Min(r => r.Epochs.Count);
            return Enumerable.Range(0, epochs).Select(i => s.Runs.Average(r => pick(r.Epochs[i]))).ToArray();
        }).ToList();
        var all = series.SelectMany(v => v).Where(double.IsFinite).ToList();
        if (all.Count == 0)
        {
            return "<p>no data</p>";
        }
        var (lo, hi) = (all.Min(), all.Max());
        if (hi - lo < 1e-9)
        {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        var maxEpochs = Math.Max(2, series.Max(v => v.Length));
        double X(int i) => left + ((w - left - 10) * i / (double)(maxEpochs - 1));
        double Y(double v) => 10 + ((h - bottom - 10) * (hi - v) / (hi - lo));
        var sb = new StringBuilder();
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w + legendW}\" height=\"{h}\" font-size=\"11\">");
        sb.Append(Inv, $"<line x1=\"{left}\" y1=\"{h - bottom}\" x2=\"{w - 10}\" y2=\"{h - bottom}\" stroke=\"#888\"/><line x1=\"{left}\" y1=\"10\" x2=\"{left}\" y2=\"{h - bottom}\" stroke=\"#888\"/>");
        sb.Append(Inv, $"<text x=\"{left - 4}\" y=\"{Y(hi) + 4:F0}\" text-anchor=\"end\">{hi:0.###}</text><text x=\"{left - 4}\" y=\"{Y(lo) + 4:F0}\" text-anchor=\"end\">{lo:0.###}</text>");
        sb.Append(Inv, $"<text x=\"{left}\" y=\"{h - 10}\">epoch 1</text><text x=\"{w - 10}\" y=\"{h - 10}\" text-anchor=\"end\">epoch {maxEpochs}</text>");
        for (var s = 0; s < series.Count; s++)
        {
            var pts = string.Join(" ", series[s].Select((v, i) => (v, i)).Where(p => double.IsFinite(p.v)).Select(p => $"{X(p.i):F1},{Y(p.v):F1}"));
            var color = Palette[s % Palette.Length];
            sb.Append(Inv, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{pts}\"/>");
            sb.Append(Inv, $"<rect x=\"{w + 5}\" y=\"{12 + (s * 16)}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{w + 20}\" y=\"{21 + (s * 16)}\">{WebUtility.HtmlEncode(summaries[s].Spec.Label)}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }
}
