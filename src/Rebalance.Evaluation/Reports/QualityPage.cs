using System.Globalization;
using System.Net;
using System.Text;
using Rebalance.Data;
using Rebalance.Evaluation.Quality;

namespace Rebalance.Evaluation;

/// <summary>Writes <c>quality.json</c> and <c>quality.html</c> for one set of generated images.</summary>
public static class QualityPage
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes both files into <paramref name="dir"/> (atomically).</summary>
    public static void WriteAll(string dir, string title, QualityResult r, IReadOnlyList<string> classNames, Judge judge)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.Write(Path.Combine(dir, "quality.json"), Encoding.UTF8.GetBytes(QualityAssessment.ToJson(r, classNames, judge).ToJsonString(Runner.JsonOptions)));
        AtomicFile.Write(Path.Combine(dir, "quality.html"), Encoding.UTF8.GetBytes(Html(title, r, classNames)));
    }

    private static string F(double v, string format) => double.IsFinite(v) ? v.ToString(format, Inv) : "-";

    /// <summary>The page: headline measures, per-class table, mode-collapse confusion matrix, warnings.</summary>
    internal static string Html(string title, QualityResult r, IReadOnlyList<string> classNames)
    {
        string H(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.AppendLine("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.AppendLine(Inv, $"<title>{H(title)} - Rebalance quality</title>");
        sb.AppendLine("<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;font-variant-numeric:tabular-nums}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}small{color:#666}.warn{color:#a15c00}</style>");
        sb.AppendLine("</head><body>");
        sb.AppendLine(Inv, $"<h1>{H(title)}</h1>");
        sb.AppendLine(Inv, $"<p>{r.Generated} generated images against {r.Real} real test images. Judge: cnn28 trained on the dataset's whole training split, test accuracy {r.JudgeTestAccuracy:P2}; features from its penultimate layer (600 values). The judge only judges: it chose no model and no method.</p>");
        sb.AppendLine("<table><tr><th>measure</th><th>value</th><th>what it says</th></tr>");
        void Row(string name, string value, string what) => sb.AppendLine(Inv, $"<tr><td>{H(name)}</td><td>{H(value)}</td><td style=\"text-align:left\">{H(what)}</td></tr>");
        Row("FID", F(r.Fid, "F2"), "Fréchet distance of Gaussian fits to judge features (Heusel et al. 2017); lower is closer to the real images");
        Row("KID", $"{F(r.Kid.Mean, "F4")} ± {F(r.Kid.Std, "F4")}", "unbiased squared MMD, cubic polynomial kernel, over random subsets (Bińkowski et al. 2018); lower is better");
        Row("Inception Score", $"{F(r.InceptionScore.Mean, "F2")} ± {F(r.InceptionScore.Std, "F2")}", $"with the judge's class probabilities (Salimans et al. 2016); at most {classNames.Count}, higher is better");
        Row("precision", F(r.Neighbours.Precision, "P1"), "share of generated images inside the real images' k = 3 neighbour balls (Kynkäänniemi et al. 2019): fidelity");
        Row("recall", F(r.Neighbours.Recall, "P1"), "share of real images inside the generated images' balls: diversity");
        Row("density", F(r.Neighbours.Density, "F3"), "real balls (k = 5) holding each generated image, over k (Naeem et al. 2020); about 1 for real images");
        Row("coverage", F(r.Neighbours.Coverage, "P1"), "share of real images whose ball holds a generated one");
        Row("near-copy share", F(r.NearCopyShare, "P1"), "generated images closer (judge features) to a training image of their class than 95% of unseen real ones are; about 5% is fresh, about 100% is copying");
        Row("pixel near-copy share", F(r.SsimNearCopyShare, "P1"), $"the same test with each image's highest SSIM (Wang et al. 2004) to a training image, on up to {QualityAssessment.SsimSamples} images per class");
        sb.AppendLine("</table>");
        sb.AppendLine("<h2>Per class</h2><table><tr><th>class</th><th>generated</th><th>real test</th><th>intra-class FID</th><th>judged as class</th><th>near-copy share</th><th>pixel near-copy share</th></tr>");
        foreach (var c in r.PerClass)
        {
            sb.AppendLine(Inv, $"<tr><td>{H(Report.ClassTitle(c.Class, classNames[c.Class]))}</td><td>{c.Count}</td><td>{c.RealCount}</td><td>{F(c.Fid, "F2")}</td><td>{F(c.JudgedAsClass, "P1")}</td><td>{(c.NearCopies is { } n ? F(n.Share, "P1") : "-")}</td><td>{(c.SsimNearCopies is { } sn ? F(sn.Share, "P1") : "-")}</td></tr>");
        }
        sb.AppendLine("</table>");
        sb.AppendLine("<h2>Mode collapse</h2><p><small>Rows: the class an image was generated for; columns: the judge's class. A row spread over other columns means the generator's images of that class look like others.</small></p>");
        sb.AppendLine(Report.ConfusionSvg(r.Collapse.Confusion, classNames, [.. r.PerClass.Select(c => c.Class)]));
        if (r.Tsne.Count > 0)
        {
            sb.AppendLine("<h2>t-SNE of judge features</h2><p><small>Real test images of every class (dots) and the generated images (crosses), embedded together (van der Maaten and Hinton 2008, perplexity 30). Crosses among their own class's dots look like that class to the judge; crosses in another class's cloud, or in a tight clump, are the collapse the table above counts.</small></p>");
            sb.AppendLine(Charts.TsneSvg(r.Tsne, classNames));
        }
        if (r.Warnings.Count > 0)
        {
            sb.AppendLine("<h2>Warnings</h2><ul>");
            foreach (var w in r.Warnings)
            {
                sb.AppendLine(Inv, $"<li class=\"warn\">{H(w)}</li>");
            }
            sb.AppendLine("</ul>");
        }
        sb.AppendLine("</body></html>");
        return sb.ToString();
    }
}
