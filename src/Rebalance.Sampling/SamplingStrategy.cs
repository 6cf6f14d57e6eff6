using System.Globalization;
using Rebalance.Data;

namespace Rebalance.Sampling;

/// <summary>Whether a rebalancer adds images (over-sampling) or removes them (under-sampling).</summary>
public enum SamplingKind
{
    /// <summary>Classes are filled up; no class shrinks.</summary>
    Over,

    /// <summary>Classes are cut down; no class grows.</summary>
    Under,
}

/// <summary>
/// Which class sizes a rebalancer aims for, in the spirit of imbalanced-learn's <c>sampling_strategy</c>.
/// Specs:
/// <list type="bullet">
/// <item><c>auto</c>: over-sampling fills every class up to the largest (<c>not-majority</c>);
/// under-sampling cuts every class down to the smallest (<c>not-minority</c>).</item>
/// <item><c>not-majority</c>, <c>not-minority</c>, <c>all</c>: the same targets, with the classes that may
/// change named explicitly (over-sampling with <c>not-minority</c> leaves the smallest class alone).</item>
/// <item><c>ratio:R</c> with 0 &lt; R &lt;= 1: after over-sampling every class has at least R times the
/// largest class; after under-sampling no class has more than the smallest divided by R.</item>
/// <item><c>counts:N,N,...</c>: an explicit target per class (over-sampling: targets below the current
/// count leave the class as it is and are an error; under-sampling: the reverse).</item>
/// <item><c>fill:C=F,...</c> (over-sampling only): class C is filled to F times the largest class (0 &lt; F
/// &lt;= 1; a class already that large is left alone); other classes are left alone. "fill:5=0.1" is the
/// "fill level 10%" of studies that rebalance one class.</item>
/// </list>
/// </summary>
public sealed record SamplingStrategy
{
    private SamplingStrategy(string spec, string mode, double ratio, int[]? counts, (int Class, double Fraction)[]? fills = null)
    {
        Fills = fills;
        Spec = spec;
        Mode = mode;
        Ratio = ratio;
        Counts = counts;
    }

    /// <summary>The default: fill up to the largest class, or cut to the smallest.</summary>
    public static SamplingStrategy Auto { get; } = new("auto", "auto", 1, null);

    /// <summary>The canonical spec.</summary>
    public string Spec { get; }

    private string Mode { get; }

    private double Ratio { get; }

    private int[]? Counts { get; }

    private (int Class, double Fraction)[]? Fills { get; }

    /// <summary>Parses a spec; the message of a bad one says what was expected.</summary>
    public static SamplingStrategy Parse(string spec)
    {
        var s = spec.Trim().ToLowerInvariant();
        var parts = s.Split(':', 2);
        switch (parts[0])
        {
            case "auto" or "not-majority" or "not-minority" or "all" when parts.Length == 1:
                return new SamplingStrategy(s, s, 1, null);
            case "ratio" when parts.Length == 2:
                if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || !(r > 0 && r <= 1))
                {
                    throw new ArgumentException($"sampling strategy '{spec}': the ratio must be a number in (0, 1], got '{parts[1]}'");
                }
                return new SamplingStrategy($"ratio:{r.ToString(CultureInfo.InvariantCulture)}", "ratio", r, null);
            case "counts" when parts.Length == 2:
                var items = parts[1].Split(',', StringSplitOptions.TrimEntries);
                var counts = new int[items.Length];
                for (var i = 0; i < items.Length; i++)
                {
                    if (!int.TryParse(items[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out counts[i]) || counts[i] < 0)
                    {
                        throw new ArgumentException($"sampling strategy '{spec}': count {i} ('{items[i]}') is not a non-negative integer");
                    }
                }
                return new SamplingStrategy("counts:" + string.Join(",", counts), "counts", 1, counts);
            case "fill" when parts.Length == 2:
                var fills = new List<(int, double)>();
                foreach (var item in parts[1].Split(',', StringSplitOptions.TrimEntries))
                {
                    var kv = item.Split('=', 2);
                    if (kv.Length != 2 || !int.TryParse(kv[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var cls) || cls < 0
                        || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var f) || !(f > 0 && f <= 1))
                    {
                        throw new ArgumentException($"sampling strategy '{spec}': '{item}' is not CLASS=FRACTION with a class number and a fraction in (0, 1]");
                    }
                    if (fills.Any(x => x.Item1 == cls))
                    {
                        throw new ArgumentException($"sampling strategy '{spec}': class {cls} is given twice");
                    }
                    fills.Add((cls, f));
                }
                return new SamplingStrategy("fill:" + string.Join(",", fills.Select(x => $"{x.Item1}={x.Item2.ToString(CultureInfo.InvariantCulture)}")), "fill", 1, null, [.. fills]);
            default:
                throw new ArgumentException($"unknown sampling strategy '{spec}' (expected auto, not-majority, not-minority, all, ratio:R, counts:N,N,... or fill:C=F,...)");
        }
    }

    /// <summary>The strategy that asks for exactly these counts.</summary>
    public static SamplingStrategy FromCounts(IReadOnlyList<int> counts) => Parse("counts:" + string.Join(",", counts));

    /// <summary>Target size per class for a rebalancer of the given kind; throws naming the class when a
    /// target runs against the kind (an over-sampler asked to shrink a class, or the reverse).</summary>
    public int[] Targets(int[] counts, SamplingKind kind)
    {
        var k = counts.Length;
        var max = counts.Max();
        var min = counts.Min();
        var targets = (int[])counts.Clone();
        switch (Mode)
        {
            case "auto" or "all":
                Fill(_ => true);
                break;
            case "not-majority":
                Fill(c => counts[c] != max);
                break;
            case "not-minority":
                Fill(c => counts[c] != min);
                break;
            case "ratio":
                for (var c = 0; c < k; c++)
                {
                    targets[c] = kind == SamplingKind.Over
                        ? Math.Max(counts[c], (int)Math.Ceiling(Ratio * max - 1e-9))
                        : Math.Min(counts[c], (int)Math.Floor((min / Ratio) + 1e-9));
                }
                break;
            case "fill":
                if (kind == SamplingKind.Under)
                {
                    throw new ArgumentException($"sampling strategy '{Spec}' fills classes up and cannot be used by an under-sampler");
                }
                foreach (var (c, f) in Fills!)
                {
                    if (c >= k)
                    {
                        throw new ArgumentException($"sampling strategy '{Spec}' names class {c} but the dataset has classes 0 to {k - 1}");
                    }
                    targets[c] = Math.Max(counts[c], (int)Math.Ceiling((f * max) - 1e-9));
                }
                break;
            case "counts":
                if (Counts!.Length != k)
                {
                    throw new ArgumentException($"sampling strategy '{Spec}' gives {Counts.Length} counts but the dataset has {k} classes");
                }
                for (var c = 0; c < k; c++)
                {
                    if (kind == SamplingKind.Over && Counts[c] < counts[c])
                    {
                        throw new ArgumentException($"sampling strategy '{Spec}' asks an over-sampler for {Counts[c]} images of class {c}, which already has {counts[c]}");
                    }
                    if (kind == SamplingKind.Under && Counts[c] > counts[c])
                    {
                        throw new ArgumentException($"sampling strategy '{Spec}' asks an under-sampler for {Counts[c]} images of class {c}, which has only {counts[c]}");
                    }
                    targets[c] = Counts[c];
                }
                break;
        }
        return targets;

        void Fill(Func<int, bool> selected)
        {
            for (var c = 0; c < k; c++)
            {
                if (selected(c))
                {
                    targets[c] = kind == SamplingKind.Over ? max : min;
                }
            }
        }
    }

    /// <summary>Checks that every class a target asks to grow has at least one image to grow from.</summary>
    public static void CheckGrowable(Dataset data, int[] counts, int[] targets, string method)
    {
        for (var c = 0; c < counts.Length; c++)
        {
            if (targets[c] > counts[c] && counts[c] == 0)
            {
                throw new ArgumentException($"{method}: class {c} ('{data.ClassNames[c]}') has no images to make new ones from");
            }
        }
    }

    /// <inheritdoc />
    public override string ToString() => Spec;
}
