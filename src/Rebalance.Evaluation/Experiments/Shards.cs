using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rebalance.Data;

namespace Rebalance.Evaluation;

/// <summary>
/// One of <see cref="Count"/> disjoint shares of an experiment's (method, seed) runs, numbered from 0
/// (a Kubernetes Indexed Job's <c>JOB_COMPLETION_INDEX</c>, a Slurm array from <c>--array=0-(N-1)</c>).
/// Shards write into the same output folder; no file is written by two of them.
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    /// <summary>Parses <c>I/N</c> with 0 &lt;= I &lt; N; a bad value throws naming what was expected.</summary>
    public static Shard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            || n < 1 || i >= n)
        {
            throw new ArgumentException($"--shard: '{text}' is not I/N with 0 <= I < N (shards are numbered from 0, e.g. 0/4 ... 3/4)");
        }
        return new Shard(i, n);
    }

    /// <summary>The manifest file this shard writes, relative to the output folder.</summary>
    public string ManifestName => Path.Combine("shards", $"shard-{Index}-of-{Count}.json");

    /// <inheritdoc />
    public override string ToString() => $"{Index}/{Count}";
}

/// <summary>
/// Which runs belong to which shard, the manifests that runs leave in the output folder, and the merge of
/// finished runs into the summaries (<c>rebalance report DIR</c>).
/// </summary>
public static class Shards
{
    /// <summary>The manifest of a run of the whole experiment (or of a <c>--seeds</c> share), relative to the output folder.</summary>
    public const string ManifestName = "experiment.json";

    /// <summary>
    /// The (method, seed) pairs of <paramref name="e"/> in run order (seed by seed, methods in file order)
    /// that <paramref name="shard"/> runs; all of them without a shard. Pairs that would train the same
    /// models (same seed, method and settings, differing only in label or strategy, like a fill to several
    /// counts that shares one generator) stay in one shard, so two shards never train the same model into
    /// the shared checkpoint folder. Groups of such pairs are dealt to the shards in turn.
    /// </summary>
    public static IReadOnlyList<(ulong Seed, MethodSpec Method)> Pairs(Experiment e, Shard? shard)
    {
        var all = e.Seeds.SelectMany(seed => e.Methods.Select(m => (Seed: seed, Method: m))).ToList();
        if (shard is not { } s)
        {
            return all;
        }
        var groups = new Dictionary<string, int>(StringComparer.Ordinal);
        var picked = new List<(ulong, MethodSpec)>();
        foreach (var pair in all)
        {
            var key = string.Join("\n", pair.Seed.ToString(CultureInfo.InvariantCulture), pair.Method.Method, pair.Method.SettingsText);
            if (!groups.TryGetValue(key, out var g))
            {
                g = groups.Count;
                groups[key] = g;
            }
            if (g % s.Count == s.Index)
            {
                picked.Add(pair);
            }
        }
        return picked;
    }

    /// <summary>Writes the manifest of this invocation: the experiment file's text, the class names, the
    /// shard and its pairs, and whether it finished. Each shard has its own file.</summary>
    internal static void WriteManifest(Experiment e, IReadOnlyList<string> classNames, Shard? shard, IReadOnlyList<(ulong Seed, MethodSpec Method)> pairs, DateTime started, int? finished)
    {
        var o = new JsonObject
        {
            ["experiment"] = e.Text,
            ["source"] = e.Source,
            ["name"] = e.Name,
            ["class_names"] = new JsonArray([.. classNames.Select(c => (JsonNode)c)]),
            ["shard"] = shard?.ToString(),
            ["seeds"] = new JsonArray([.. e.Seeds.Select(s => (JsonNode)s)]),
            ["pairs"] = new JsonArray([.. pairs.Select(p => (JsonNode)new JsonObject { ["label"] = p.Method.Label, ["seed"] = p.Seed })]),
            ["started"] = started.ToString("O", CultureInfo.InvariantCulture),
            ["finished"] = finished is null ? null : DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["runs_finished"] = finished,
            ["results_version"] = Runner.ResultsVersion,
            ["commit"] = Runner.Commit,
        };
        AtomicFile.Write(Path.Combine(e.Output, shard?.ManifestName ?? ManifestName), Encoding.UTF8.GetBytes(o.ToJsonString(Runner.JsonOptions)));
    }

    /// <summary>What <see cref="Merge"/> found: the experiment, the finished runs, and the pairs still missing.</summary>
    public sealed record Merged(Experiment Experiment, IReadOnlyList<string> ClassNames, IReadOnlyList<RunResult> Runs, IReadOnlyList<(string Label, ulong Seed)> Missing);

    /// <summary>
    /// Reads an output folder's manifests (<c>experiment.json</c> and <c>shards/*.json</c>, which must all
    /// come from the same experiment file), collects every finished run that matches the experiment's
    /// current settings, and writes <c>results.json</c>, <c>results.md</c> and <c>report.html</c> over them.
    /// Throws <see cref="ExperimentException"/> naming the folder or file when it cannot.
    /// </summary>
    public static Merged Merge(string dir, Action<string>? log = null)
    {
        if (!Directory.Exists(dir))
        {
            throw new ExperimentException($"{dir}: no such folder");
        }
        var manifests = new List<string>();
        if (File.Exists(Path.Combine(dir, ManifestName)))
        {
            manifests.Add(Path.Combine(dir, ManifestName));
        }
        var shardDir = Path.Combine(dir, "shards");
        if (Directory.Exists(shardDir))
        {
            manifests.AddRange(Directory.GetFiles(shardDir, "shard-*.json").Order(StringComparer.Ordinal));
        }
        if (manifests.Count == 0)
        {
            throw new ExperimentException($"{dir}: neither {ManifestName} nor shards/shard-*.json is there; give the output folder of a 'rebalance run'");
        }
        string? text = null;
        string? source = null;
        string? from = null;
        IReadOnlyList<string>? classNames = null;
        foreach (var path in manifests)
        {
            JsonObject o;
            try
            {
                o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            }
            catch (Exception x) when (x is JsonException or InvalidOperationException or NullReferenceException)
            {
                throw new ExperimentException($"{path}: not a run manifest ({x.Message})");
            }
            if (o["experiment"] is not JsonValue v || v.GetValueKind() != JsonValueKind.String || o["class_names"] is not JsonArray names)
            {
                throw new ExperimentException($"{path}: not a run manifest (no 'experiment' text or 'class_names'); was the experiment built in code?");
            }
            var t = (string)v!;
            if (text is null)
            {
                text = t;
                source = (string?)o["source"];
                from = path;
                classNames = [.. names.Select(n => (string)n!)];
            }
            else if (t != text)
            {
                throw new ExperimentException($"{path}: made from a different experiment file than {from}; remove the stale manifest (or the folder's old runs) and run again");
            }
        }
        var e = Experiment.Parse(text!, source ?? from!) with { Output = dir };
        var searches = new Dictionary<string, SearchOutcome>(StringComparer.Ordinal);
        var methods = new List<MethodSpec>();
        foreach (var m in e.Methods)
        {
            if (m.Search is null)
            {
                methods.Add(m);
                continue;
            }
            var outcome = Search.Load(e, m);
            searches[m.Label] = outcome;
            if (outcome.Chosen is null)
            {
                log?.Invoke($"{m.Label}: its search is not finished ({outcome.Trials.Count(t => t.Score is null)} trial(s) missing), so none of its runs can be reported");
            }
            methods.Add(outcome.Chosen is { } c ? Search.WithSettings(m, c) : m);
        }
        e = e with { Methods = methods };
        var runs = new List<RunResult>();
        var missing = new List<(string, ulong)>();
        foreach (var (seed, m) in Pairs(e, null))
        {
            if (Runner.TryLoad(Runner.RunFile(e, m, seed), Runner.ConfigHash(e, m, seed)) is { } r)
            {
                runs.Add(r);
            }
            else
            {
                missing.Add((m.Label, seed));
            }
        }
        if (runs.Count == 0)
        {
            throw new ExperimentException($"{dir}: none of the experiment's {missing.Count} runs has finished yet");
        }
        if (missing.Count > 0)
        {
            log?.Invoke($"{missing.Count} of {missing.Count + runs.Count} runs are not finished ({string.Join(", ", missing.Take(8).Select(p => $"{p.Item1} seed {p.Item2}"))}{(missing.Count > 8 ? ", ..." : "")}); the summaries cover the finished ones");
        }
        var seedsRun = e.Seeds.Where(seed => runs.Any(r => r.Seed == seed)).ToList();
        if (seedsRun.Count < e.Seeds.Count)
        {
            e = e with { Seeds = seedsRun, ShareOf = e.Seeds };
        }
        Report.WriteAll(e, classNames!, runs, searches);
        return new Merged(e, classNames!, runs, missing);
    }
}
