using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rebalance.Data;
using Rebalance.Data.Protocols;
using Rebalance.Generative.Methods;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Evaluation;

/// <summary>One trial of a search: a candidate's settings at a budget, and its score when it has run.</summary>
public sealed record SearchTrial(int Candidate, int Rung, double Budget, IReadOnlyDictionary<string, string> Settings)
{
    /// <summary>Mean validation balanced accuracy over the search seeds (null until run).</summary>
    public double? Score { get; init; }

    /// <summary>The score on each search seed.</summary>
    public IReadOnlyList<double> PerSeed { get; init; } = [];

    /// <summary>Seconds the trial took.</summary>
    public double Seconds { get; init; }
}

/// <summary>What a search found: every trial, and the chosen settings (null while trials are missing).</summary>
public sealed record SearchOutcome(SearchSpec Spec, IReadOnlyList<SearchTrial> Trials, IReadOnlyDictionary<string, string>? Chosen)
{
    /// <summary>The search seeds (the file's first <see cref="SearchSpec.Seeds"/>).</summary>
    public IReadOnlyList<ulong> Seeds { get; init; } = [];
}

/// <summary>
/// Runs a method's hyper-parameter search. Each trial rebalances the training split of a search seed with
/// the candidate's settings (generator steps scaled by the rung's budget under halving), trains the
/// experiment's classifier on it (epochs scaled likewise) and is scored by the best validation balanced
/// accuracy, the same figure that picks the classifier's epoch: never the test set, never the judge of
/// generated images. Trials are stored in <c>OUTPUT/search/LABEL/</c> as they finish, so an interrupted
/// search carries on; with shards, each rung's trials are dealt to the shards in turn and every shard waits
/// for the rung to be complete, then makes the same choice from the stored scores.
/// </summary>
public static class Search
{
    /// <summary>Bumped when what a trial computes changes, so stored trials are run again.</summary>
    public const int Version = 1;

    /// <summary>How often a shard looks for other shards' trials.</summary>
    public static TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The experiment with every searched method's settings replaced by the search's choice (fixed
    /// settings plus the chosen ones), running trials as needed; <paramref name="only"/> limits the
    /// searches to those methods (a shard's).</summary>
    internal static (Experiment Experiment, IReadOnlyDictionary<string, SearchOutcome> Outcomes) Resolve(Experiment e, Runner.PreparedData? data, Shard? shard, RunCallbacks callbacks, ISet<string>? only = null)
    {
        var outcomes = new Dictionary<string, SearchOutcome>(StringComparer.Ordinal);
        var methods = new List<MethodSpec>();
        foreach (var m in e.Methods)
        {
            if (m.Search is null || (only is not null && !only.Contains(m.Label)))
            {
                methods.Add(m);
                continue;
            }
            var outcome = Run(e, m, data, shard, callbacks);
            outcomes[m.Label] = outcome;
            methods.Add(outcome.Chosen is { } chosen ? WithSettings(m, chosen) : m);
        }
        return (e with { Methods = methods }, outcomes);
    }

    /// <summary>The method with <paramref name="chosen"/> merged into its fixed settings.</summary>
    public static MethodSpec WithSettings(MethodSpec m, IReadOnlyDictionary<string, string> chosen)
    {
        var merged = new Dictionary<string, string>(m.Settings.Values, StringComparer.Ordinal);
        foreach (var (k, v) in chosen)
        {
            merged[k] = v;
        }
        return m with { Settings = new MethodSettings(m.Method, merged) };
    }

    /// <summary>Runs (or, with <paramref name="data"/> null, only reads) the search of <paramref name="m"/>.</summary>
    private static SearchOutcome Run(Experiment e, MethodSpec m, Runner.PreparedData? data, Shard? shard, RunCallbacks cb)
    {
        var spec = m.Search!;
        var seeds = e.Seeds.Take(spec.Seeds).ToList();
        if (e.ShareOf is { } all)
        {
            // A --seeds share searches on the file's first seeds, like every other share.
            seeds = [.. all.Take(spec.Seeds)];
        }
        var candidates = spec.Candidates(m.Label);
        var rungs = spec.Rungs(candidates.Count);
        var alive = Enumerable.Range(0, candidates.Count).ToList();
        var trials = new List<SearchTrial>();
        var log = cb.Log;
        if (data is not null)
        {
            log?.Invoke($"{m.Label}: {spec.Strategy} search over {string.Join("; ", spec.Space)}: {candidates.Count} candidate(s), {rungs.Count} rung(s), scored on the validation split of seed(s) {string.Join(", ", seeds)}");
        }
        for (var rung = 0; rung < rungs.Count; rung++)
        {
            var budget = rungs[rung];
            var rungTrials = alive.Select(c => new SearchTrial(c, rung, budget, candidates[c])).ToList();
            for (var j = 0; j < rungTrials.Count; j++)
            {
                var t = rungTrials[j];
                var file = TrialFile(e, m, t, seeds);
                if (Read(file) is { } stored)
                {
                    rungTrials[j] = t with { Score = stored.Score, PerSeed = stored.PerSeed, Seconds = stored.Seconds };
                    continue;
                }
                if (data is null || (shard is { } s && j % s.Count != s.Index))
                {
                    continue;
                }
                var done = RunTrial(e, m, t, seeds, data, cb);
                Write(file, done);
                rungTrials[j] = done;
                log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                    $"{m.Label}: trial {SearchSpec.Text(t.Settings)} at budget {budget:0.###}: validation balanced accuracy {done.Score:P2} ({done.Seconds:F0} s)"));
            }
            if (data is not null && shard is not null)
            {
                rungTrials = WaitFor(e, m, rungTrials, seeds, shard.Value, log);
            }
            trials.AddRange(rungTrials);
            if (rungTrials.Any(t => t.Score is null))
            {
                return new SearchOutcome(spec, trials, null) { Seeds = seeds };
            }
            // The best go on; ties keep the earlier candidate.
            var ranked = rungTrials.OrderByDescending(t => t.Score!.Value).ThenBy(t => t.Candidate).ToList();
            alive = [.. ranked.Take(rung == rungs.Count - 1 ? 1 : spec.Keep(ranked.Count)).Select(t => t.Candidate)];
        }
        var chosen = candidates[alive[0]];
        if (data is not null)
        {
            log?.Invoke($"{m.Label}: search chose {SearchSpec.Text(chosen)} (validation balanced accuracy {trials.Last(t => t.Candidate == alive[0]).Score:P2}); every seed runs with it");
        }
        return new SearchOutcome(spec, trials, chosen) { Seeds = seeds };
    }

    private static List<SearchTrial> WaitFor(Experiment e, MethodSpec m, List<SearchTrial> rungTrials, IReadOnlyList<ulong> seeds, Shard shard, Action<string>? log)
    {
        var sw = Stopwatch.StartNew();
        TimeSpan? lastLog = null;
        while (true)
        {
            for (var j = 0; j < rungTrials.Count; j++)
            {
                if (rungTrials[j].Score is null && Read(TrialFile(e, m, rungTrials[j], seeds)) is { } stored)
                {
                    rungTrials[j] = rungTrials[j] with { Score = stored.Score, PerSeed = stored.PerSeed, Seconds = stored.Seconds };
                }
            }
            var missing = Enumerable.Range(0, rungTrials.Count).Where(j => rungTrials[j].Score is null).ToList();
            if (missing.Count == 0)
            {
                return rungTrials;
            }
            if (lastLog is null || sw.Elapsed - lastLog.Value >= TimeSpan.FromMinutes(5))
            {
                lastLog = sw.Elapsed;
                log?.Invoke($"{m.Label}: shard {shard} waits for {missing.Count} search trial(s) of shard(s) {string.Join(", ", missing.Select(j => j % shard.Count).Distinct())} ({sw.Elapsed.TotalMinutes:F0} min so far)");
            }
            Thread.Sleep(PollInterval);
        }
    }

    /// <summary>Reads a finished search without running anything (for <c>rebalance report</c>).</summary>
    internal static SearchOutcome Load(Experiment e, MethodSpec m) => Run(e, m, null, null, new RunCallbacks());

    private static SearchTrial RunTrial(Experiment e, MethodSpec m, SearchTrial t, IReadOnlyList<ulong> seeds, Runner.PreparedData data, RunCallbacks cb)
    {
        var sw = Stopwatch.StartNew();
        var settings = TrialSettings(m, t);
        var training = e.Training with { Epochs = Scaled(e.Training.Epochs, t.Budget), SyntheticEpochs = e.Training.SyntheticEpochs > 0 ? Scaled(e.Training.SyntheticEpochs, t.Budget) : 0 };
        var scores = new List<double>();
        foreach (var seed in seeds)
        {
            var imbalanced = data.Protocol.Apply(data.Train, seed);
            var (train, validation) = Splits.Stratified(imbalanced, e.Validation, seed);
            scores.Add(ValidationScore(e, m with { Settings = new MethodSettings(m.Method, settings) }, seed, train, validation, training, cb, $"{m.Label} trial seed {seed}"));
        }
        return t with { Score = scores.Average(), PerSeed = scores, Seconds = sw.Elapsed.TotalSeconds };
    }

    /// <summary>What trials and auto's screening score a method by: it rebalances <paramref name="train"/>,
    /// the experiment's classifier trains on the result with <paramref name="training"/>, and the score is
    /// the best validation balanced accuracy over its epochs (the epoch the trainer keeps).</summary>
    internal static double ValidationScore(Experiment e, MethodSpec m, ulong seed, Dataset train, Dataset validation, TrainSettings training, RunCallbacks cb, string logPrefix)
    {
        var context = new GenerativeContext { CheckpointRoot = Path.Combine(e.Output, "checkpoints"), Progress = cb.GanProgress };
        var rebalancer = MethodCatalog.Create(m.Method, new MethodSettings(m.Method, m.Settings.Values), context);
        var resampled = rebalancer.FitResample(train, m.Strategy, seed, line => cb.Log?.Invoke($"{logPrefix}: {line}"));
        var model = Classifiers.Create(e.Classifier, train.Channels, train.Height, train.Width, train.NumClasses, new Generator(seed));
        var history = Trainer.FitScheduled(model, resampled.Train, validation, resampled.ClassWeights, training, seed, train.Count, cb.Progress);
        TensorMemory.Trim();
        return history.Epochs.Max(ep => ep.ValidationBalancedAccuracy ?? 0);
    }

    /// <summary>The settings a trial runs with: the fixed ones, the candidate's, and under a budget below 1
    /// the generator's steps (<see cref="SearchSpec.BudgetKeys"/> the entry sets) scaled down.</summary>
    internal static Dictionary<string, string> TrialSettings(MethodSpec m, SearchTrial t)
    {
        var settings = new Dictionary<string, string>(m.Settings.Values, StringComparer.Ordinal);
        foreach (var (k, v) in t.Settings)
        {
            settings[k] = v;
        }
        if (t.Budget < 1)
        {
            foreach (var key in SearchSpec.BudgetKeys)
            {
                if (settings.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var steps))
                {
                    settings[key] = Scaled(steps, t.Budget).ToString(CultureInfo.InvariantCulture);
                }
            }
        }
        return settings;
    }

    /// <summary>A count scaled by a budget, at least 1.</summary>
    public static int Scaled(int full, double budget) => Math.Max(1, (int)Math.Round(full * budget));

    private static string TrialFile(Experiment e, MethodSpec m, SearchTrial t, IReadOnlyList<ulong> seeds)
    {
        var settings = TrialSettings(m, t);
        var key = string.Join("\n", $"search v{Version}", Runner.ConfigHash(e, m with { Settings = new MethodSettings(m.Method, settings) }, 0),
            t.Budget.ToString("R", CultureInfo.InvariantCulture), string.Join(",", seeds));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16];
        return Path.Combine(e.Output, "search", Files.Safe(m.Label), $"trial-{hash}.json");
    }

    private static void Write(string file, SearchTrial t)
    {
        var o = new JsonObject
        {
            ["settings"] = new JsonObject(t.Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["budget"] = t.Budget,
            ["score"] = t.Score,
            ["per_seed"] = new JsonArray([.. t.PerSeed.Select(v => (JsonNode)v)]),
            ["seconds"] = Math.Round(t.Seconds, 2),
            ["version"] = Version,
        };
        AtomicFile.Write(file, Encoding.UTF8.GetBytes(o.ToJsonString(Runner.JsonOptions)));
    }

    private static SearchTrial? Read(string file)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
            return new SearchTrial(0, 0, (double)o["budget"]!, new Dictionary<string, string>())
            {
                Score = (double)o["score"]!,
                PerSeed = [.. o["per_seed"]!.AsArray().Select(v => (double)v!)],
                Seconds = (double)o["seconds"]!,
            };
        }
        catch (Exception x) when (x is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            // A damaged file: the trial runs again.
            return null;
        }
    }

    /// <summary>The search as results.json writes it.</summary>
    internal static JsonObject Json(SearchOutcome o) => new()
    {
        ["strategy"] = o.Spec.Strategy,
        ["space"] = new JsonArray([.. o.Spec.Space.Select(d => (JsonNode)d.ToString())]),
        ["eta"] = o.Spec.Strategy == "halving" ? o.Spec.Eta : null,
        ["seeds"] = new JsonArray([.. o.Seeds.Select(s => (JsonNode)s)]),
        ["scored_on"] = "validation balanced accuracy",
        ["chosen"] = o.Chosen is null ? null : new JsonObject(o.Chosen.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        ["trials"] = new JsonArray([.. o.Trials.Select(t => (JsonNode)new JsonObject
        {
            ["candidate"] = t.Candidate,
            ["rung"] = t.Rung,
            ["budget"] = t.Budget,
            ["settings"] = new JsonObject(t.Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["score"] = t.Score,
            ["per_seed"] = new JsonArray([.. t.PerSeed.Select(v => (JsonNode)v)]),
            ["seconds"] = Math.Round(t.Seconds, 2),
        })]),
    };
}
