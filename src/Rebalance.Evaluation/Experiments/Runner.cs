using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rebalance.Data;
using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;
using Rebalance.Data.Protocols;
using Rebalance.Evaluation.Quality;
using Rebalance.Generative.Methods;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Evaluation;

/// <summary>The outcome of one (method, seed) run, as stored in <c>runs/LABEL-seedN.json</c>.</summary>
public sealed record RunResult(
    string Label,
    ulong Seed,
    string ConfigHash,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyList<ClassMetrics> PerClass,
    int[,] Confusion,
    int[] TrainCounts,
    int[] ResampledCounts,
    int Synthetic,
    IReadOnlyList<EpochRecord> Epochs,
    int BestEpoch,
    double ResampleSeconds,
    double TrainSeconds)
{
    /// <summary>What the method reported about its own work (classes left unfilled, training restarts...).</summary>
    public IReadOnlyList<RebalanceNote> Notes { get; init; } = [];

    /// <summary>For a generator conditioned on measurable attributes: requested against measured values.</summary>
    public IReadOnlyList<AttributeCheck> ConditionCheck { get; init; } = [];

    /// <summary>The results format (<see cref="Runner.ResultsVersion"/>) of the code that made the run.</summary>
    public int ResultsVersion { get; init; } = Runner.ResultsVersion;

    /// <summary>The git commit the program was built from, when it was built from a git checkout.</summary>
    public string? Commit { get; init; } = Runner.Commit;

    /// <summary>What the judge said of the images the method added (the <c>quality.json</c> keys, plus
    /// <c>key</c>, <c>seconds</c> and, with <c>cas: true</c>, <c>cas</c>); null when they were not judged.</summary>
    public JsonObject? Quality { get; init; }

    /// <summary>Where the method kept its trained models (generators, loss logs), relative to the
    /// experiment's output folder; null for methods without models.</summary>
    public string? ModelFolder { get; init; }

    /// <summary>For <c>auto</c>: the pick and every candidate's screening score on this seed.</summary>
    public JsonObject? Auto { get; init; }
}

/// <summary>What the runner tells its caller while it works.</summary>
public sealed class RunCallbacks
{
    /// <summary>A line for the log.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>A run starts: label, seed, its number (from 1) and the total.</summary>
    public Action<string, ulong, int, int>? Started { get; init; }

    /// <summary>Training progress of the current run.</summary>
    public Action<TrainProgress>? Progress { get; init; }

    /// <summary>Progress of a generative method's GAN training.</summary>
    public Action<GanProgress>? GanProgress { get; init; }

    /// <summary>A run is done (reused: it was found finished on disk).</summary>
    public Action<RunResult, bool>? Finished { get; init; }
}

/// <summary>
/// Runs an experiment: for each seed, the protocol makes the training split imbalanced, a stratified
/// validation split is held out, and each method rebalances the remaining training images (never the
/// test set or the validation split); a classifier is trained on the result and judged on the untouched
/// test set. Each finished run is written to <c>OUTPUT/runs/</c> at once, so a rerun skips it; the
/// summaries (<c>results.json</c>, <c>results.md</c>, <c>report.html</c>) are rewritten at the end.
/// </summary>
public static class Runner
{
    /// <summary>
    /// Version of what a run computes. Every fix that changes the figures the same settings produce bumps
    /// it, so that finished runs stored by older code are run again rather than mixed into new tables.
    /// 2: Borderline-SMOTE leaves a class with no image in danger as it is; ADASYN refuses a class with no
    /// other-class neighbour; the study's simple-cnn; the GAN fixes of <see cref="GanSettings.TrainingVersion"/> 2.
    /// </summary>
    public const int ResultsVersion = 2;

    /// <summary>Version of the judging of added images; bumped when a quality figure's computation changes,
    /// so stored quality blocks are recomputed (the classifier runs are kept). 2: SSIM samples drawn per class;
    /// 3: feature near-copy distances from a float32 matrix product; 4: t-SNE steps in one fused pass (maps
    /// move by rounding), FID from kept references.</summary>
    public const int QualityVersion = 4;

    /// <summary>The git commit this program was built from (from the assembly's informational version), or null.</summary>
    public static string? Commit { get; } = typeof(Runner).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
        .OfType<System.Reflection.AssemblyInformationalVersionAttribute>()
        .Select(a => a.InformationalVersion.Split('+') is [_, var sha, ..] && sha.Length > 0 ? sha : null)
        .FirstOrDefault();

    /// <summary>The data an experiment runs on, loaded and checked before any training.</summary>
    public sealed record PreparedData(Dataset Train, Dataset Test, ImbalanceProtocol Protocol);

    /// <summary>Loads the dataset, makes a test split when it has none, and checks that the protocol,
    /// the strategies and the classifier fit it. Throws <see cref="ExperimentException"/> naming the field.</summary>
    public static PreparedData Prepare(Experiment e, Action<string>? log = null)
    {
        var where = e.Source ?? e.Name;
        Dataset train;
        Dataset test;
        var protocol = ImbalanceProtocol.Parse(e.Protocol);
        try
        {
            (train, test) = LoadTrainTest(e.Dataset, e.TestSplit, log, protocol);
        }
        catch (DataException x)
        {
            throw new ExperimentException($"{where}: dataset: {x.Message}");
        }
        try
        {
            // The protocol's own check names the class it cannot fill.
            var imbalanced = protocol.Apply(train, 0);
            var counts = imbalanced.ClassCounts();
            foreach (var m in e.Methods)
            {
                try
                {
                    if (m.Auto is { } auto)
                    {
                        // Candidates written in the file must fit; of "every method", those that do not are left out.
                        AutoChoice.Fitting(auto, imbalanced, null);
                        continue;
                    }
                    MethodCatalog.Check(MethodCatalog.Create(m.Method, new MethodSettings(m.Method, m.Settings.Values)), m.Strategy, imbalanced, counts);
                }
                catch (ArgumentException x)
                {
                    throw new ArgumentException($"methods: {m.Label}: {x.Message}", x);
                }
            }
            Classifiers.Create(e.Classifier, train.Channels, train.Height, train.Width, train.NumClasses, new Generator(0));
        }
        catch (Exception x) when (x is DataException or ArgumentException)
        {
            throw new ExperimentException($"{where}: {x.Message} (dataset {e.Dataset}: {train.NumClasses} classes, {train.Channels}x{train.Height}x{train.Width})");
        }
        return new PreparedData(train, test, protocol);
    }

    /// <summary>The seed of the test split held out of a dataset that has none: fixed, so every seed, every
    /// command (run, resample, gan train) and every rerun holds out the same images.</summary>
    public const ulong TestSplitSeed = 0x7e57;

    /// <summary>Loads a dataset as its training and test splits. A dataset without a test split (a single
    /// folder of classes) gets a stratified <paramref name="testSplit"/> of each class held out, the same
    /// images whichever command asks, so that no command trains on what <c>rebalance run</c> tests on.</summary>
    /// <remarks>A <paramref name="protocol"/> that defines classes of its own (a threshold on attributes)
    /// relabels both splits here, after the test split is held out.</remarks>
    public static (Dataset Train, Dataset Test) LoadTrainTest(string dataset, double testSplit, Action<string>? log = null, ImbalanceProtocol? protocol = null)
    {
        var (train, test) = DatasetCatalog.Load(dataset, log);
        if (test is null || test.Count == 0)
        {
            (train, var held) = Splits.Stratified(train, testSplit, TestSplitSeed);
            log?.Invoke($"{dataset} has no test split: {held.Count} images ({testSplit:P0} of each class, fixed for all seeds) are held out as the test set and never used for training");
            test = held.Subset([.. Enumerable.Range(0, held.Count)], train.Name + " (test)");
        }
        if (protocol is null)
        {
            return (train, test);
        }
        var (relabelled, relabelledTest) = protocol.Relabel(train, test);
        return (relabelled, relabelledTest!);
    }

    /// <summary>Where the run of method <paramref name="m"/> with <paramref name="seed"/> is stored.</summary>
    internal static string RunFile(Experiment e, MethodSpec m, ulong seed) => Path.Combine(e.Output, "runs", $"{Files.Safe(m.Label)}-seed{seed}.json");

    /// <summary>
    /// Runs every (method, seed) pair not already finished and writes the summaries. With a
    /// <paramref name="shard"/>, runs only that shard's pairs (<see cref="Shards.Pairs"/>) and leaves the
    /// summaries to <see cref="Shards.Merge"/>, so that shards running at once never write the same file.
    /// </summary>
    public static IReadOnlyList<RunResult> Run(Experiment e, PreparedData data, RunCallbacks? callbacks = null, Shard? shard = null)
    {
        callbacks ??= new RunCallbacks();
        var started = DateTime.UtcNow;
        Directory.CreateDirectory(Path.Combine(e.Output, "runs"));
        var logDir = Path.Combine(e.Output, "logs");
        Directory.CreateDirectory(logDir);
        // Every log line also goes to logs/run-TIMESTAMP[-shard-I-of-N].log, one file per invocation, so an
        // earlier interrupted run's log is kept beside the one that finished it.
        var logName = $"run-{started:yyyyMMdd-HHmmss}{(shard is { } sh ? $"-shard-{sh.Index}-of-{sh.Count}" : "")}.log";
        using var logFile = new StreamWriter(Path.Combine(logDir, logName), append: true) { AutoFlush = true };
        var outer = callbacks;
        void LogLine(string line)
        {
            logFile.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}");
            outer.Log?.Invoke(line);
        }
        callbacks = new RunCallbacks
        {
            Log = LogLine,
            Started = (label, seed, n, t) =>
            {
                logFile.WriteLine($"{DateTime.UtcNow:HH:mm:ss} [{n}/{t}] {label} seed {seed}");
                outer.Started?.Invoke(label, seed, n, t);
            },
            Progress = outer.Progress,
            GanProgress = outer.GanProgress,
            Finished = outer.Finished,
        };
        var pairs = Shards.Pairs(e, shard);
        var original = e;
        LogLine($"{e.Name}: {e.Methods.Count} method(s) x {e.Seeds.Count} seed(s) on {e.Dataset} ({e.Protocol}){(shard is { } s0 ? $", shard {s0}: {pairs.Count} of the {e.Methods.Count * e.Seeds.Count} runs" : "")}, results version {ResultsVersion}{(Commit is null ? "" : $", commit {Commit}")}");
        if (e.Text is not null)
        {
            Shards.WriteManifest(e, data.Train.ClassNames, shard, pairs, started, null);
        }
        // Searched methods first: every shard takes part in every search (its share of each rung's
        // trials), then runs its pairs with the settings chosen.
        var (resolved, searches) = Search.Resolve(e, data, shard, callbacks);
        var chosen = resolved.Methods.ToDictionary(m => m.Label, StringComparer.Ordinal);
        pairs = [.. pairs.Select(p => (p.Seed, chosen[p.Method.Label]))];
        e = resolved;
        var results = new List<RunResult>();
        Judge? judge = null;
        Judge GetJudge() => judge ??= Judge.LoadOrTrain(data.Train, data.Test, e.Quality.JudgeSeed, Path.Combine(DatasetCatalog.CacheRoot, "judges"), e.Quality.Judge, callbacks.Log);
        var total = pairs.Count;
        var number = 0;
        Dataset? train = null;
        Dataset? validation = null;
        ulong? splitSeed = null;
        foreach (var (seed, m) in pairs)
        {
            number++;
            var hash = ConfigHash(e, m, seed);
            var file = RunFile(e, m, seed);
            void Split()
            {
                if (splitSeed != seed)
                {
                    var imbalanced = data.Protocol.Apply(data.Train, seed);
                    (train, validation) = e.Validation > 0 ? Splits.Stratified(imbalanced, e.Validation, seed) : (imbalanced, null);
                    splitSeed = seed;
                    callbacks.Log?.Invoke($"seed {seed}: training split {Rebalancers.FormatCounts(train.ClassCounts())}" + (validation is null ? "" : $", validation {validation.Count} images"));
                }
            }
            if (TryLoad(file, hash) is { } done)
            {
                var key = QualityKey(e, m, hash);
                if (m.Judged && done.Synthetic > 0 && (string?)done.Quality?["key"] != key)
                {
                    // The classifier run stands; only the judging of its added images is missing or out
                    // of date. The method makes the same images again (a generator is loaded, not retrained).
                    callbacks.Log?.Invoke($"{m.Label} seed {seed}: stored run reused; judging its added images");
                    Split();
                    var context = new GenerativeContext { CheckpointRoot = Path.Combine(e.Output, "checkpoints"), Progress = callbacks.GanProgress };
                    var rebalancer = MethodCatalog.Create(m.Method, new MethodSettings(m.Method, m.Settings.Values), context);
                    var again = rebalancer.FitResample(train!, m.Strategy, seed, line => callbacks.Log?.Invoke($"{m.Label} seed {seed}: {line}"));
                    done = done with
                    {
                        Quality = JudgeRun(e, m, seed, key, rebalancer, again, train!, validation, data, GetJudge, callbacks),
                        ModelFolder = RelativeModelFolder(e, again.ModelFolder),
                    };
                    AtomicFile.Write(file, Encoding.UTF8.GetBytes(ToJson(done).ToJsonString(JsonOptions)));
                }
                results.Add(done);
                callbacks.Finished?.Invoke(done, true);
                continue;
            }
            callbacks.Started?.Invoke(m.Label, seed, number, total);
            Split();
            var result = RunOne(e, m, seed, hash, train!, validation!, data, callbacks, GetJudge);
            AtomicFile.Write(file, Encoding.UTF8.GetBytes(ToJson(result).ToJsonString(JsonOptions)));
            results.Add(result);
            callbacks.Finished?.Invoke(result, false);
        }
        if (e.Text is not null)
        {
            Shards.WriteManifest(original, data.Train.ClassNames, shard, pairs, started, results.Count);
        }
        if (shard is { } done1)
        {
            LogLine($"shard {done1} finished its {results.Count} runs; once every shard has, 'rebalance report {e.Output}' writes the summaries");
        }
        else
        {
            Report.WriteAll(e, data.Train.ClassNames, results, searches);
        }
        return results;
    }

    private static RunResult RunOne(Experiment e, MethodSpec m, ulong seed, string hash, Dataset train, Dataset? validation, PreparedData data, RunCallbacks cb, Func<Judge> judge)
    {
        if (m.Auto is { } auto)
        {
            // Screen the candidates on this seed's validation split, then run the pick in full under auto's label.
            var ranked = AutoChoice.Screen(e, m, seed, train, validation!, cb);
            var pick = auto.Candidates.First(c => c.Label == ranked[0].Label);
            cb.Log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{m.Label} seed {seed}: picked {pick.Label} (validation balanced accuracy {ranked[0].Score:P2}{(ranked.Count > 1 ? $"; next {ranked[1].Label} {ranked[1].Score:P2}" : "")})"));
            var run = RunOne(e, pick with { Label = m.Label }, seed, hash, train, validation, data, cb, judge);
            return run with { Auto = AutoChoice.Json(ranked, auto.Budget) };
        }
        var test = data.Test;
        var log = cb.Log;
        var sw = Stopwatch.StartNew();
        var context = new GenerativeContext { CheckpointRoot = Path.Combine(e.Output, "checkpoints"), Progress = cb.GanProgress };
        var rebalancer = MethodCatalog.Create(m.Method, new MethodSettings(m.Method, m.Settings.Values), context);
        var resampled = rebalancer.FitResample(train, m.Strategy, seed, line => log?.Invoke($"{m.Label} seed {seed}: {line}"));
        var resampleSeconds = sw.Elapsed.TotalSeconds;
        // The generators' training buffers are of no use to the classifier: give the memory back.
        TensorMemory.Trim();
        log?.Invoke($"{m.Label} seed {seed}: rebalanced to {Rebalancers.FormatCounts(resampled.Train.ClassCounts())} ({resampled.Train.SyntheticCount} synthetic) in {resampleSeconds:F1} s{Memory()}");
        if (resampled.Train.SyntheticCount > 0)
        {
            WriteSamples(Path.Combine(e.Output, "samples", $"{Files.Safe(m.Label)}-seed{seed}.png"), resampled.Train);
        }
        if (resampled.ModelFolder is { } models)
        {
            // The generators' own final grids (a conditional generator's shows every class).
            foreach (var grid in Directory.GetFiles(models, "*.samples.png").Order(StringComparer.Ordinal))
            {
                var tag = Path.GetFileName(grid)[..^".samples.png".Length];
                File.Copy(grid, Path.Combine(e.Output, "samples", $"{Files.Safe(m.Label)}-seed{seed}-generator-{tag}.png"), overwrite: true);
            }
        }
        var quality = m.Judged && resampled.Train.SyntheticCount > 0 ? JudgeRun(e, m, seed, QualityKey(e, m, hash), rebalancer, resampled, train, validation, data, judge, cb) : null;
        if (quality is not null)
        {
            TensorMemory.Trim();
        }
        var model = Classifiers.Create(e.Classifier, train.Channels, train.Height, train.Width, train.NumClasses, new Generator(seed));
        var history = Trainer.FitScheduled(model, resampled.Train, validation, resampled.ClassWeights, m.TrainingFor(e.Training), seed, train.Count, cb.Progress);
        var metrics = Trainer.Evaluate(model, test, train.ClassCounts());
        TensorMemory.Trim();
        log?.Invoke($"{m.Label} seed {seed}: test accuracy {metrics.Accuracy:P2}, balanced accuracy {metrics.BalancedAccuracy:P2} (best epoch {history.BestEpoch}, {history.Seconds:F0} s){Memory()}");
        return new RunResult(m.Label, seed, hash, metrics.Headline, metrics.PerClass, metrics.Confusion, train.ClassCounts(), resampled.Train.ClassCounts(),
            resampled.Train.SyntheticCount, history.Epochs, history.BestEpoch, resampleSeconds, history.Seconds)
        {
            Notes = resampled.Notes,
            ConditionCheck = resampled.ConditionCheck,
            Quality = quality,
            ModelFolder = RelativeModelFolder(e, resampled.ModelFolder),
        };
    }

    /// <summary>The process's resident memory now and its peak so far, for the log (where memory goes is
    /// otherwise invisible in a long experiment).</summary>
    private static string Memory()
    {
        using var p = Process.GetCurrentProcess();
        return string.Create(CultureInfo.InvariantCulture, $"; memory {p.WorkingSet64 / 1e9:F2} GB, peak {p.PeakWorkingSet64 / 1e9:F2} GB");
    }

    private static string? RelativeModelFolder(Experiment e, string? folder) =>
        folder is null ? null : Path.GetRelativePath(e.Output, folder).Replace('\\', '/');

    /// <summary>A digest of what decides a run's quality figures: the run itself, the judging settings and
    /// the versions of the judge and the measures.</summary>
    internal static string QualityKey(Experiment e, MethodSpec m, string runHash) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", $"quality v{QualityVersion}", $"judge v{Judge.Version}", e.Quality.Canonical, m.Cas, runHash))))[..16];

    /// <summary>
    /// Judges the images a method added (at most <see cref="QualitySettings.PerClass"/> per class, a seeded
    /// sample) against the real test images, with near-copies measured against the training split the
    /// method saw; with <c>cas: true</c> also trains the experiment's classifier on generated images alone.
    /// A judge that cannot take the images (a size its network does not fit) leaves a <c>skipped</c> reason
    /// instead of failing the run.
    /// </summary>
    private static JsonObject JudgeRun(Experiment e, MethodSpec m, ulong seed, string key, IRebalancer rebalancer, RebalanceResult resampled, Dataset train, Dataset? validation, PreparedData data, Func<Judge> getJudge, RunCallbacks cb)
    {
        var log = cb.Log;
        var sw = Stopwatch.StartNew();
        var all = resampled.Train;
        var gen = new Generator(seed ^ 0x9a11);
        var picked = new List<int>();
        for (var c = 0; c < all.NumClasses; c++)
        {
            var idx = all.IndicesOf(c).Where(all.IsSynthetic).ToArray();
            picked.AddRange(idx.Length <= e.Quality.PerClass ? idx : gen.Permutation(idx.Length).ToIntArray()[..e.Quality.PerClass].Select(k => idx[k]));
        }
        picked.Sort();
        Judge judge;
        QualityResult q;
        try
        {
            judge = getJudge();
            q = QualityAssessment.Assess(judge, all.Subset(picked), train, data.Test, seed, MapsFor(e, seed));
        }
        catch (ArgumentException x)
        {
            // Too few images for a measure, or a judge that cannot take the image size.
            log?.Invoke($"{m.Label} seed {seed}: added images not judged: {x.Message}");
            return new JsonObject { ["key"] = key, ["skipped"] = x.Message };
        }
        var json = QualityAssessment.ToJson(q, all.ClassNames, judge);
        json["key"] = key;
        if (MapsFor(e, seed) > 0 && resampled.ModelFolder is { } models)
        {
            // Where the method's own discriminators and encoders put the same images. Each model's pass
            // leaves pooled buffers of its own shapes: trimmed before each (and after the last, by the caller
            // or before train-on-synthetic).
            var maps = new JsonObject();
            var generated = all.Subset(picked);
            var (real, fake) = QualityAssessment.TsneSample(data.Test, generated, e.Quality.TsnePerClass, seed);
            var shown = data.Test.Subset([.. real]);
            var made = generated.Subset([.. fake]);
            foreach (var file in Directory.GetFiles(models, "*.discriminator.safetensors").Order(StringComparer.Ordinal).Take(MaxOwnMaps))
            {
                TensorMemory.Trim();
                var d = DiscriminatorFile.Load(file);
                var rows = DiscriminatorFile.Features(d, shown).Concat(DiscriminatorFile.Features(d, made)).ToArray();
                maps[Path.GetFileName(file)[..^".discriminator.safetensors".Length]] = QualityAssessment.TsneJson(QualityAssessment.TsneFit(rows, [.. real.Select(data.Test.Label)], [.. fake.Select(generated.Label)], seed));
            }
            if (maps.Count > 0)
            {
                json["tsne_discriminator"] = maps;
            }
            var encoderMaps = new JsonObject();
            foreach (var file in Directory.GetFiles(models, "*.autoencoder.safetensors").Order(StringComparer.Ordinal).Take(MaxOwnMaps))
            {
                TensorMemory.Trim();
                var (model, _) = Generative.Training.AutoencoderFile.Load(file);
                var rows = Generative.Training.AutoencoderFile.Features(model, shown).Concat(Generative.Training.AutoencoderFile.Features(model, made)).ToArray();
                encoderMaps[Path.GetFileName(file)[..^".autoencoder.safetensors".Length]] = QualityAssessment.TsneJson(QualityAssessment.TsneFit(rows, [.. real.Select(data.Test.Label)], [.. fake.Select(generated.Label)], seed));
            }
            if (encoderMaps.Count > 0)
            {
                json["tsne_encoder"] = encoderMaps;
            }
        }
        var generatedClasses = q.PerClass.Select(c => c.Class).ToArray();
        log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"{m.Label} seed {seed}: judged {q.Generated} added images: FID {q.Fid:F2}, precision {q.Neighbours.Precision:P1}, recall {q.Neighbours.Recall:P1}, judged as their class {q.PerClass.Average(c => c.JudgedAsClass):P1}, near-copies {q.NearCopyShare:P1} ({sw.Elapsed.TotalSeconds:F1} s{Memory()})"));
        if (m.Cas)
        {
            TensorMemory.Trim();
            json["cas"] = TrainOnSynthetic(e, m, seed, rebalancer, train, validation, data, generatedClasses, cb);
        }
        json["seconds"] = Math.Round(sw.Elapsed.TotalSeconds, 2);
        return json;
    }

    /// <summary>At most this many of a method's own models (discriminators, encoders) get a t-SNE map: a
    /// method with one model per class would otherwise pay for nine maps that show the same thing.</summary>
    private const int MaxOwnMaps = 3;

    /// <summary>Points per class of the t-SNE maps for this seed: maps are made for the experiment file's first
    /// seed only (the report shows the first seed's), even when a share of the seeds runs, which keeps the
    /// judging of the others to seconds.</summary>
    internal static int MapsFor(Experiment e, ulong seed) => seed == (e.ShareOf ?? e.Seeds)[0] ? e.Quality.TsnePerClass : 0;

    /// <summary>
    /// Train-on-synthetic, as the galaxy study's "train on generated images, validate on real ones": the
    /// experiment's classifier is trained with every class the method generated made of generated images
    /// only (<see cref="QualitySettings.CasPerClass"/> each, or as many as the class has before the
    /// protocol), the classes it did not generate keeping their real training images, and tested on the
    /// real test set. The recall of a generated class says whether its images alone teach the class.
    /// </summary>
    private static JsonObject TrainOnSynthetic(Experiment e, MethodSpec m, ulong seed, IRebalancer rebalancer, Dataset train, Dataset? validation, PreparedData data, int[] generatedClasses, RunCallbacks cb)
    {
        var sw = Stopwatch.StartNew();
        var counts = train.ClassCounts();
        var before = data.Train.ClassCounts();
        var targets = (int[])counts.Clone();
        foreach (var c in generatedClasses)
        {
            targets[c] = counts[c] + (e.Quality.CasPerClass > 0 ? e.Quality.CasPerClass : before[c]);
        }
        // The same seed: a generator is reused, not retrained, and its first images are the ones judged above.
        var made = rebalancer.FitResample(train, SamplingStrategy.FromCounts(targets), seed, line => cb.Log?.Invoke($"{m.Label} seed {seed}: train-on-synthetic: {line}")).Train;
        var generated = generatedClasses.ToHashSet();
        var keep = Enumerable.Range(0, made.Count).Where(i => made.IsSynthetic(i) || !generated.Contains(made.Label(i))).ToArray();
        var set = made.Subset(keep);
        var model = Classifiers.Create(e.Classifier, train.Channels, train.Height, train.Width, train.NumClasses, new Generator(seed));
        Trainer.Fit(model, set, validation, null, e.Training, seed, train.Count, cb.Progress);
        var metrics = Trainer.Evaluate(model, data.Test, set.ClassCounts());
        cb.Log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"{m.Label} seed {seed}: train-on-synthetic: recall of the generated class(es) {string.Join(", ", generatedClasses.Select(c => $"{c}: {metrics.PerClass[c].Recall:P1}"))}, balanced accuracy {metrics.BalancedAccuracy:P2} ({sw.Elapsed.TotalSeconds:F0} s)"));
        return new JsonObject
        {
            ["images_per_class"] = new JsonObject(generatedClasses.Select(c => KeyValuePair.Create(data.Train.ClassNames[c], (JsonNode?)(targets[c] - counts[c])))),
            ["balanced_accuracy"] = metrics.BalancedAccuracy,
            ["accuracy"] = metrics.Accuracy,
            ["recall"] = new JsonObject(Enumerable.Range(0, train.NumClasses).Select(c => KeyValuePair.Create(data.Train.ClassNames[c], (JsonNode?)metrics.PerClass[c].Recall))),
            ["generated_classes"] = new JsonArray([.. generatedClasses.Select(c => (JsonNode)data.Train.ClassNames[c])]),
            ["seconds"] = Math.Round(sw.Elapsed.TotalSeconds, 2),
        };
    }

    /// <summary>A grid of added images: for each class that received any, a row of real images and two rows of added ones.</summary>
    internal static void WriteSamples(string path, Dataset data)
    {
        const int perRow = 12;
        var rows = new List<int[]>();
        for (var c = 0; c < data.NumClasses; c++)
        {
            var idx = data.IndicesOf(c);
            var synthetic = idx.Where(data.IsSynthetic).ToArray();
            if (synthetic.Length == 0)
            {
                continue;
            }
            rows.Add([.. idx.Where(i => !data.IsSynthetic(i)).Take(perRow)]);
            // Evenly spaced over the added images, so a grid shows more than the first few.
            var step = Math.Max(1, synthetic.Length / (2 * perRow));
            var shown = Enumerable.Range(0, Math.Min(2 * perRow, synthetic.Length)).Select(i => synthetic[i * step]).ToArray();
            rows.Add([.. shown.Take(perRow)]);
            rows.Add([.. shown.Skip(perRow)]);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        SampleGrid.Write(path, data, rows);
    }

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>A digest of everything that decides a run's outcome; a stored run is reused only when it matches.</summary>
    internal static string ConfigHash(Experiment e, MethodSpec m, ulong seed, int resultsVersion = ResultsVersion)
    {
        var t = m.TrainingFor(e.Training);
        var text = string.Join("\n",
            $"v{resultsVersion}", $"gan v{GanSettings.TrainingVersion}", e.Dataset, e.Protocol, e.Validation.ToString("R", CultureInfo.InvariantCulture), e.TestSplit.ToString("R", CultureInfo.InvariantCulture),
            e.Classifier, t.Epochs, t.BatchSize, t.Optimizer, t.LearningRate.ToString("R", CultureInfo.InvariantCulture),
            t.WeightDecay.ToString("R", CultureInfo.InvariantCulture), t.Momentum.ToString("R", CultureInfo.InvariantCulture),
            string.Join(",", t.Augment), t.Patience, t.EpochSize, m.Label, m.Method, m.Strategy.Spec, m.SettingsText, seed)
            + (m.Auto is { } auto ? $"\nauto v{AutoChoice.Version}\n{auto.Canonical}" : "")
            + (t.Scheduled ? $"\n{t.ScheduleText}" : "");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    internal static JsonObject ToJson(RunResult r)
    {
        var k = r.TrainCounts.Length;
        return new JsonObject
        {
            ["label"] = r.Label,
            ["seed"] = r.Seed,
            ["config_hash"] = r.ConfigHash,
            ["metrics"] = new JsonObject(r.Metrics.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["per_class"] = new JsonArray([.. r.PerClass.Select(p => (JsonNode)new JsonObject { ["precision"] = p.Precision, ["recall"] = p.Recall, ["f1"] = p.F1, ["support"] = p.Support })]),
            ["confusion"] = new JsonArray([.. Enumerable.Range(0, k).Select(i => (JsonNode)new JsonArray([.. Enumerable.Range(0, k).Select(j => (JsonNode)r.Confusion[i, j])]))]),
            ["train_counts"] = new JsonArray([.. r.TrainCounts.Select(c => (JsonNode)c)]),
            ["resampled_counts"] = new JsonArray([.. r.ResampledCounts.Select(c => (JsonNode)c)]),
            ["synthetic"] = r.Synthetic,
            ["epochs"] = new JsonArray([.. r.Epochs.Select(ep => (JsonNode)new JsonObject
            {
                ["epoch"] = ep.Epoch,
                ["train_loss"] = ep.TrainLoss,
                ["val_accuracy"] = ep.ValidationAccuracy,
                ["val_balanced_accuracy"] = ep.ValidationBalancedAccuracy,
            })]),
            ["best_epoch"] = r.BestEpoch,
            ["resample_seconds"] = Math.Round(r.ResampleSeconds, 2),
            ["train_seconds"] = Math.Round(r.TrainSeconds, 2),
            ["notes"] = NotesJson(r.Notes),
            ["condition_check"] = r.ConditionCheck.Count == 0 ? null : new JsonArray([.. r.ConditionCheck.Select(c => (JsonNode)new JsonObject
            {
                ["attribute"] = c.Attribute,
                ["generated"] = c.Generated,
                ["ignored"] = c.Ignored,
                ["real"] = c.Real,
            })]),
            ["results_version"] = r.ResultsVersion,
            ["commit"] = r.Commit,
            ["model_folder"] = r.ModelFolder,
            ["quality"] = r.Quality?.DeepClone(),
            ["auto"] = r.Auto?.DeepClone(),
        };
    }

    internal static JsonArray NotesJson(IEnumerable<RebalanceNote> notes) => new([.. notes.Select(n => (JsonNode)new JsonObject
    {
        ["kind"] = n.Kind,
        ["source"] = n.Source,
        ["step"] = n.Step,
        ["detail"] = n.Detail,
    })]);

    internal static RunResult? TryLoad(string file, string hash)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
            if ((string?)o["config_hash"] != hash)
            {
                return null;
            }
            var k = o["train_counts"]!.AsArray().Count;
            var confusion = new int[k, k];
            var rows = o["confusion"]!.AsArray();
            for (var i = 0; i < k; i++)
            {
                for (var j = 0; j < k; j++)
                {
                    confusion[i, j] = (int)rows[i]![j]!;
                }
            }
            return new RunResult(
                (string)o["label"]!, (ulong)o["seed"]!, hash,
                o["metrics"]!.AsObject().ToDictionary(kv => kv.Key, kv => (double)kv.Value!),
                [.. o["per_class"]!.AsArray().Select(p => new ClassMetrics((double)p!["precision"]!, (double)p["recall"]!, (double)p["f1"]!, (int)p["support"]!))],
                confusion,
                [.. o["train_counts"]!.AsArray().Select(c => (int)c!)],
                [.. o["resampled_counts"]!.AsArray().Select(c => (int)c!)],
                (int)o["synthetic"]!,
                [.. o["epochs"]!.AsArray().Select(ep => new EpochRecord((int)ep!["epoch"]!, (double)ep["train_loss"]!, (double?)ep["val_accuracy"], (double?)ep["val_balanced_accuracy"]))],
                (int)o["best_epoch"]!, (double)o["resample_seconds"]!, (double)o["train_seconds"]!)
            {
                Notes = [.. (o["notes"]?.AsArray() ?? []).Select(n => new RebalanceNote((string)n!["kind"]!, (string)n["detail"]!, (string?)n["source"], (int?)n["step"]))],
                ConditionCheck = [.. (o["condition_check"]?.AsArray() ?? []).Select(c => new AttributeCheck((string)c!["attribute"]!, (double)c["generated"]!, (double)c["ignored"]!, (double)c["real"]!))],
                ResultsVersion = (int?)o["results_version"] ?? 1,
                Commit = (string?)o["commit"],
                ModelFolder = (string?)o["model_folder"],
                Quality = o["quality"] is JsonObject q ? (JsonObject)q.DeepClone() : null,
                Auto = o["auto"] is JsonObject a ? (JsonObject)a.DeepClone() : null,
            };
        }
        catch (Exception x) when (x is JsonException or InvalidOperationException or NullReferenceException or FormatException or IndexOutOfRangeException or KeyNotFoundException)
        {
            // A damaged or foreign file: run again and overwrite it.
            return null;
        }
    }
}

/// <summary>File-name helpers.</summary>
public static class Files
{
    /// <summary>A label as a file name: letters, digits, '-', '_' and '.' kept, anything else '_'.</summary>
    public static string Safe(string label) => new([.. label.Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.' ? ch : '_')]);
}
