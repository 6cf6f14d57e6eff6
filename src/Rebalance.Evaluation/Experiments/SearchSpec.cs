using System.Globalization;
using Rebalance.Tensors;

namespace Rebalance.Evaluation;

/// <summary>One searched setting: a list of values, or a range from <see cref="Min"/> to <see cref="Max"/>
/// (uniform, or log-uniform with <see cref="Log"/>; rounded to an integer with <see cref="Integer"/>).</summary>
public sealed record SearchDimension(string Key, IReadOnlyList<string>? Values, double Min = 0, double Max = 0, bool Log = false, bool Integer = false)
{
    /// <summary>Whether this is a range rather than a list.</summary>
    public bool IsRange => Values is null;

    /// <summary>A value drawn with <paramref name="g"/>: a list item uniformly, or a point of the range.</summary>
    public string Draw(Generator g)
    {
        if (Values is { } list)
        {
            return list[g.NextInt(list.Count)];
        }
        var u = g.NextDouble();
        var v = Log ? Math.Exp(Math.Log(Min) + (u * (Math.Log(Max) - Math.Log(Min)))) : Min + (u * (Max - Min));
        return Format(v);
    }

    /// <summary>A range's value as a setting: an integer, or three significant digits.</summary>
    public string Format(double v) => Integer
        ? ((long)Math.Round(v)).ToString(CultureInfo.InvariantCulture)
        : double.Parse(v.ToString("G3", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The dimension as text for digests and reports: "lr: [1e-4, 2e-4]" or "lr: 1e-05..0.001 log".</summary>
    public override string ToString() => Values is { } list
        ? $"{Key}: [{string.Join(", ", list)}]"
        : string.Create(CultureInfo.InvariantCulture, $"{Key}: {Min:R}..{Max:R}{(Log ? " log" : "")}{(Integer ? " int" : "")}");
}

/// <summary>
/// A method's hyper-parameter search (<c>search:</c> in its entry): the settings searched, how candidates
/// are chosen (<c>grid</c>: every combination of listed values; <c>random</c>: <see cref="Trials"/> draws;
/// <c>halving</c>: successive halving of <see cref="Trials"/> draws over the training budget, keeping the
/// best 1/<see cref="Eta"/> at each rung), and on how many of the file's first seeds each trial is scored.
/// </summary>
public sealed record SearchSpec(IReadOnlyList<SearchDimension> Space, string Strategy, int Trials, int Eta = 3, int Seeds = 1)
{
    /// <summary>The strategies.</summary>
    public static IReadOnlyList<string> Strategies { get; } = ["grid", "random", "halving"];

    /// <summary>The keys of a <c>search:</c> block that are not settings.</summary>
    public static IReadOnlyList<string> Reserved { get; } = ["strategy", "trials", "eta", "seeds"];

    /// <summary>Settings that successive halving scales with the budget when the method entry sets them
    /// (the generator's training steps); the classifier's epochs are always scaled.</summary>
    public static IReadOnlyList<string> BudgetKeys { get; } = ["steps", "ae_steps"];

    /// <summary>Most grid combinations accepted.</summary>
    public const int MaxGrid = 10_000;

    /// <summary>The candidate settings, in trial order: the grid's combinations (the first dimension varying
    /// slowest), or distinct random draws from a generator seeded by the method's label.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>> Candidates(string label)
    {
        if (Strategy == "grid")
        {
            IEnumerable<Dictionary<string, string>> combos = [new Dictionary<string, string>(StringComparer.Ordinal)];
            foreach (var d in Space)
            {
                combos = combos.SelectMany(c => d.Values!.Select(v => new Dictionary<string, string>(c, StringComparer.Ordinal) { [d.Key] = v })).ToList();
            }
            return [.. combos];
        }
        var g = new Generator(LabelSeed(label));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<IReadOnlyDictionary<string, string>>();
        for (var attempt = 0; attempt < 50 * Trials && result.Count < Trials; attempt++)
        {
            var c = Space.ToDictionary(d => d.Key, d => d.Draw(g), StringComparer.Ordinal);
            if (seen.Add(Text(c)))
            {
                result.Add(c);
            }
        }
        return result;
    }

    /// <summary>The budget of each rung, as a fraction of the full one, for <paramref name="candidates"/>
    /// candidates: one rung at 1 for grid and random; for halving, rungs at η^-(R-1), ..., 1/η, 1 with
    /// R = ⌊log_η n⌋ + 1, so that about one candidate reaches the full budget.</summary>
    public IReadOnlyList<double> Rungs(int candidates)
    {
        if (Strategy != "halving" || candidates <= 1)
        {
            return [1.0];
        }
        var r = 1;
        for (var n = candidates; n >= Eta; n /= Eta)
        {
            r++;
        }
        return [.. Enumerable.Range(0, r).Select(i => Math.Pow(Eta, i - (r - 1)))];
    }

    /// <summary>How many candidates go on from a rung of <paramref name="n"/>: the best ⌊n/η⌋, at least one.</summary>
    public int Keep(int n) => Math.Max(1, n / Eta);

    /// <summary>The search as one line for digests and reports.</summary>
    public string Canonical => string.Join("; ", [$"strategy {Strategy}", $"trials {Trials}", $"eta {Eta}", $"seeds {Seeds}", .. Space.Select(d => d.ToString())]);

    /// <summary>Settings as "a=1, b=2" (keys in order).</summary>
    public static string Text(IReadOnlyDictionary<string, string> settings) =>
        string.Join(", ", settings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    private static ulong LabelSeed(string label)
    {
        var h = 0xcbf29ce484222325UL;
        foreach (var ch in label)
        {
            h = (h ^ ch) * 0x100000001b3UL;
        }
        return h ^ 0x5ea4c4UL;
    }
}
