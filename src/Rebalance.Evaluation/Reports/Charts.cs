using System.Globalization;
using System.Net;
using System.Text;
using Rebalance.Evaluation.Quality;

namespace Rebalance.Evaluation;

/// <summary>SVG charts of the quality section: t-SNE maps and a generator's training losses.</summary>
public static class Charts
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Colours of classes 0 to 9 (Tableau 10), repeated beyond.</summary>
    internal static readonly string[] Palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

    /// <summary>A t-SNE map: real images as small faint dots, generated ones as larger crosses with a dark
    /// outline, both in their class's colour; a legend of the classes on the right.</summary>
    public static string TsneSvg(IReadOnlyList<TsnePoint> points, IReadOnlyList<string> classNames)
    {
        if (points.Count == 0)
        {
            return "<p>no t-SNE map</p>";
        }
        const int size = 420, pad = 10, legendW = 150;
        var (x0, x1) = (points.Min(p => p.X), points.Max(p => p.X));
        var (y0, y1) = (points.Min(p => p.Y), points.Max(p => p.Y));
        var span = Math.Max(Math.Max(x1 - x0, y1 - y0), 1e-9);
        double X(double v) => pad + ((size - (2 * pad)) * (v - x0) / span);
        double Y(double v) => pad + ((size - (2 * pad)) * (y1 - v) / span);
        var sb = new StringBuilder();
        var height = Math.Max(size, 40 + (classNames.Count * 16));
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size + legendW}\" height=\"{height}\" font-size=\"11\">");
        sb.Append(Inv, $"<rect x=\"0\" y=\"0\" width=\"{size}\" height=\"{size}\" fill=\"#fff\" stroke=\"#ddd\"/>");
        foreach (var p in points.Where(p => !p.Generated))
        {
            sb.Append(Inv, $"<circle cx=\"{X(p.X):F1}\" cy=\"{Y(p.Y):F1}\" r=\"2\" fill=\"{Palette[p.Class % Palette.Length]}\" fill-opacity=\"0.45\"/>");
        }
        foreach (var p in points.Where(p => p.Generated))
        {
            var (cx, cy) = (X(p.X), Y(p.Y));
            var color = Palette[p.Class % Palette.Length];
            sb.Append(Inv, $"<path d=\"M{cx - 3:F1},{cy - 3:F1}L{cx + 3:F1},{cy + 3:F1}M{cx - 3:F1},{cy + 3:F1}L{cx + 3:F1},{cy - 3:F1}\" stroke=\"#222\" stroke-width=\"3\"/>");
            sb.Append(Inv, $"<path d=\"M{cx - 3:F1},{cy - 3:F1}L{cx + 3:F1},{cy + 3:F1}M{cx - 3:F1},{cy + 3:F1}L{cx + 3:F1},{cy - 3:F1}\" stroke=\"{color}\" stroke-width=\"1.6\"/>");
        }
        var present = points.Select(p => p.Class).Distinct().Order().ToList();
        var ly = 14;
        sb.Append(Inv, $"<circle cx=\"{size + 12}\" cy=\"{ly - 4}\" r=\"3\" fill=\"#888\"/><text x=\"{size + 22}\" y=\"{ly}\">real (test)</text>");
        ly += 16;
        sb.Append(Inv, $"<path d=\"M{size + 9},{ly - 7}L{size + 15},{ly - 1}M{size + 9},{ly - 1}L{size + 15},{ly - 7}\" stroke=\"#222\" stroke-width=\"2\"/><text x=\"{size + 22}\" y=\"{ly}\">generated</text>");
        ly += 22;
        foreach (var c in present)
        {
            sb.Append(Inv, $"<rect x=\"{size + 7}\" y=\"{ly - 9}\" width=\"10\" height=\"10\" fill=\"{Palette[c % Palette.Length]}\"/><text x=\"{size + 22}\" y=\"{ly}\">{WebUtility.HtmlEncode(Report.ClassTitle(c, classNames[c]))}</text>");
            ly += 16;
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>The rows of a generator's <c>losses.csv</c> that a chart needs.</summary>
    public sealed record LossLog(int[] Steps, double[] LossD, double[] LossG, double[] Score);

    /// <summary>Reads a <c>losses.csv</c> (header <c>step,loss_d,loss_g,...,score</c>); null when it is
    /// missing, empty or not in that format.</summary>
    public static LossLog? ReadLosses(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        if (lines.Length < 2)
        {
            return null;
        }
        var header = lines[0].Split(',');
        int Col(string name) => Array.IndexOf(header, name);
        var (s, d, g, sc) = (Col("step"), Col("loss_d"), Col("loss_g"), Col("score"));
        if (s < 0 || d < 0 || g < 0)
        {
            return null;
        }
        var steps = new List<int>();
        var ld = new List<double>();
        var lg = new List<double>();
        var score = new List<double>();
        static double P(string[] f, int i) => i >= 0 && i < f.Length && double.TryParse(f[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN;
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(',');
            if (!int.TryParse(f[s], NumberStyles.Integer, CultureInfo.InvariantCulture, out var step))
            {
                return null;
            }
            steps.Add(step);
            ld.Add(P(f, d));
            lg.Add(P(f, g));
            score.Add(P(f, sc));
        }
        return new LossLog([.. steps], [.. ld], [.. lg], [.. score]);
    }

    /// <summary>Discriminator and generator loss per step (a moving mean over about 1% of the steps, the
    /// raw values faint behind it).</summary>
    public static string LossSvg(LossLog log)
    {
        const int w = 460, h = 220, left = 56, bottom = 30, legendW = 110;
        var window = Math.Max(1, log.Steps.Length / 100);
        static double[] Smooth(double[] v, int k)
        {
            var r = new double[v.Length];
            for (var i = 0; i < v.Length; i++)
            {
                var from = Math.Max(0, i - k + 1);
                var vals = v[from..(i + 1)].Where(double.IsFinite).ToArray();
                r[i] = vals.Length == 0 ? double.NaN : vals.Average();
            }
            return r;
        }
        var series = new (string Name, double[] Raw, double[] Smooth, string Color)[]
        {
            ("D loss", log.LossD, Smooth(log.LossD, window), "#e15759"),
            ("G loss", log.LossG, Smooth(log.LossG, window), "#4e79a7"),
        };
        // The axis covers the 1st to 99th percentile of the raw values, so a few early spikes do not flatten the rest.
        var all = series.SelectMany(x => x.Raw).Where(double.IsFinite).ToArray();
        if (all.Length == 0 || log.Steps.Length < 2)
        {
            return "<p>no losses recorded</p>";
        }
        var lo = NearCopies.Percentile(all, 1);
        var hi = NearCopies.Percentile(all, 99);
        if (hi - lo < 1e-9)
        {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        var (s0, s1) = (log.Steps[0], log.Steps[^1]);
        double X(int step) => left + ((w - left - 10) * (step - s0) / (double)Math.Max(1, s1 - s0));
        double Y(double v) => 10 + ((h - bottom - 10) * (hi - Math.Clamp(v, lo, hi)) / (hi - lo));
        var sb = new StringBuilder();
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w + legendW}\" height=\"{h}\" font-size=\"11\">");
        sb.Append(Inv, $"<line x1=\"{left}\" y1=\"{h - bottom}\" x2=\"{w - 10}\" y2=\"{h - bottom}\" stroke=\"#888\"/><line x1=\"{left}\" y1=\"10\" x2=\"{left}\" y2=\"{h - bottom}\" stroke=\"#888\"/>");
        if (lo < 0 && hi > 0)
        {
            sb.Append(Inv, $"<line x1=\"{left}\" y1=\"{Y(0):F1}\" x2=\"{w - 10}\" y2=\"{Y(0):F1}\" stroke=\"#ccc\" stroke-dasharray=\"3,3\"/>");
        }
        sb.Append(Inv, $"<text x=\"{left - 4}\" y=\"{Y(hi) + 4:F0}\" text-anchor=\"end\">{hi:0.###}</text><text x=\"{left - 4}\" y=\"{Y(lo) + 4:F0}\" text-anchor=\"end\">{lo:0.###}</text>");
        sb.Append(Inv, $"<text x=\"{left}\" y=\"{h - 10}\">step {s0}</text><text x=\"{w - 10}\" y=\"{h - 10}\" text-anchor=\"end\">step {s1}</text>");
        // At most ~400 points a line, so a 100,000-step log stays a small chart.
        var stride = Math.Max(1, log.Steps.Length / 400);
        string Points(double[] v) => string.Join(" ", Enumerable.Range(0, v.Length).Where(i => i % stride == 0 && double.IsFinite(v[i])).Select(i => $"{X(log.Steps[i]):F1},{Y(v[i]):F1}"));
        for (var k = 0; k < series.Length; k++)
        {
            var (name, raw, smooth, color) = series[k];
            sb.Append(Inv, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-opacity=\"0.25\" stroke-width=\"1\" points=\"{Points(raw)}\"/>");
            sb.Append(Inv, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{Points(smooth)}\"/>");
            sb.Append(Inv, $"<rect x=\"{w + 5}\" y=\"{12 + (k * 16)}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{w + 20}\" y=\"{21 + (k * 16)}\">{name}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }
}
