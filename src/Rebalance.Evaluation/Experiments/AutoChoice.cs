using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rebalance.Data;
using Rebalance.Sampling;

namespace Rebalance.Evaluation;

/// <summary>
/// <c>method: auto</c>: the candidates screened for each seed and the screening budget, the share of the
/// classifier's epochs a screening run trains for (its generators are trained in full, and the pick's
/// final run reuses them).
/// </summary>
public sealed record AutoSpec(IReadOnlyList<MethodSpec> Candidates, double Budget, bool EveryMethod)
{
    /// <summary>The method name.</summary>
    public const string Name = "auto";

    /// <summary>The default share of the classifier's epochs for screening.</summary>
    public const double DefaultBudget = 1.0 / 3;

    /// <summary>As the report shows it.</summary>
    public string SettingsText => EveryMethod
        ? string.Create(CultureInfo.InvariantCulture, $"every method, budget={Budget:0.##}")
        : string.Create(CultureInfo.InvariantCulture, $"candidates={string.Join("|", Candidates.Select(c => c.Label))}, budget={Budget:0.##}");

    /// <summary>Everything that decides the screening, for digests.</summary>
    public string Canonical => string.Join("\n", [Budget.ToString("R", CultureInfo.InvariantCulture), .. Candidates.Select(c => $"{c.Label}|{c.Method}|{c.Strategy.Spec}|{c.SettingsText}")]);
}

/// <summary>One candidate's screening score on a seed.</summary>
public sealed record Screening(string Label, string Method, string Settings, double Score, double Seconds);

/// <summary>
/// Automatic method choice. For each seed, every candidate that fits the data rebalances the seed's
/// training split and the experiment's classifier trains on the result for a share of its epochs; the
/// candidate with the best validation balanced accuracy (ties: the earlier one) is picked and run in
/// full, and its test result is the seed's result. Nothing of the test set is used to choose. Screening
/// results are stored in <c>search/LABEL/</c>, so a rerun reuses them.
/// </summary>
public static class AutoChoice
{
    /// <summary>Bumped when what screening computes changes.</summary>
    public const int Version = 1;

    /// <summary>The candidates that can rebalance this training split (by default every method; those that do
    /// not fit, a generator without an architecture for the image size say, are left out with a log line).</summary>
    public static IReadOnlyList<MethodSpec> Fitting(AutoSpec auto, Dataset train, Action<string>? log)
    {
        var counts = train.ClassCounts();
        var fit = new List<MethodSpec>();
        foreach (var c in auto.Candidates)
        {
            try
            {
                MethodCatalog.Check(MethodCatalog.Create(c.Method, new MethodSettings(c.Method, c.Settings.Values)), c.Strategy, train, counts);
                fit.Add(c);
            }
            catch (ArgumentException x) when (auto.EveryMethod)
            {
                log?.Invoke($"auto: {c.Label} left out: {x.Message}");
            }
        }
        return fit;
    }

    /// <summary>Screens every fitting candidate on <paramref name="seed"/>'s validation split; best first.</summary>
    public static IReadOnlyList<Screening> Screen(Experiment e, MethodSpec m, ulong seed, Dataset train, Dataset validation, RunCallbacks cb)
    {
        var auto = m.Auto!;
        var training = e.Training with { Epochs = Search.Scaled(e.Training.Epochs, auto.Budget), SyntheticEpochs = e.Training.SyntheticEpochs > 0 ? Search.Scaled(e.Training.SyntheticEpochs, auto.Budget) : 0 };
        var results = new List<Screening>();
        foreach (var c in Fitting(auto, train, cb.Log))
        {
            var file = ScreenFile(e, m, c, seed);
            if (Read(file) is { } stored)
            {
                results.Add(stored);
                continue;
            }
            var sw = Stopwatch.StartNew();
            var score = Search.ValidationScore(e, c, seed, train, validation, training, cb, $"{m.Label} seed {seed}: screening {c.Label}");
            var s = new Screening(c.Label, c.Method, c.SettingsText, score, sw.Elapsed.TotalSeconds);
            Write(file, s);
            results.Add(s);
            cb.Log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{m.Label} seed {seed}: screening {c.Label}: validation balanced accuracy {s.Score:P2} ({s.Seconds:F0} s)"));
        }
        if (results.Count == 0)
        {
            throw new ArgumentException($"{m.Label}: no candidate fits the data");
        }
        // Best first; a tie keeps the candidates' order.
        return [.. results.Select((s, i) => (s, i)).OrderByDescending(x => x.s.Score).ThenBy(x => x.i).Select(x => x.s)];
    }

    /// <summary>The screening as a run file and results.json keep it.</summary>
    internal static JsonObject Json(IReadOnlyList<Screening> ranked, double budget) => new()
    {
        ["picked"] = ranked[0].Label,
        ["method"] = ranked[0].Method,
        ["settings"] = ranked[0].Settings,
        ["budget"] = budget,
        ["scored_on"] = "validation balanced accuracy",
        ["screening"] = new JsonArray([.. ranked.Select(s => (JsonNode)new JsonObject
        {
            ["label"] = s.Label,
            ["method"] = s.Method,
            ["score"] = s.Score,
            ["seconds"] = Math.Round(s.Seconds, 2),
        })]),
    };

    private static string ScreenFile(Experiment e, MethodSpec m, MethodSpec c, ulong seed)
    {
        var key = string.Join("\n", $"screen v{AutoChoice.Version}", Runner.ConfigHash(e, c, seed), m.Auto!.Budget.ToString("R", CultureInfo.InvariantCulture));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16];
        return Path.Combine(e.Output, "search", Files.Safe(m.Label), $"screen-seed{seed}-{Files.Safe(c.Label)}-{hash}.json");
    }

    private static void Write(string file, Screening s) =>
        AtomicFile.Write(file, Encoding.UTF8.GetBytes(new JsonObject
        {
            ["label"] = s.Label,
            ["method"] = s.Method,
            ["settings"] = s.Settings,
            ["score"] = s.Score,
            ["seconds"] = Math.Round(s.Seconds, 2),
        }.ToJsonString(Runner.JsonOptions)));

    private static Screening? Read(string file)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
            return new Screening((string)o["label"]!, (string)o["method"]!, (string)o["settings"]!, (double)o["score"]!, (double)o["seconds"]!);
        }
        catch (Exception x) when (x is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            return null;
        }
    }
}
