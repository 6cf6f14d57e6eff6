using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;
using Rebalance.Data.Protocols;
using Rebalance.Evaluation;
using Rebalance.Sampling;
using Spectre.Console;

namespace Rebalance.Cli;

/// <summary><c>rebalance run FILE</c> and <c>rebalance resample</c>.</summary>
internal static class RunCommands
{
    public static Command Run(IAnsiConsole console)
    {
        var file = new Argument<string>("file") { Description = "Experiment file (YAML): dataset, protocol, methods, classifier, seeds, output. See examples/." };
        var output = new Option<string?>("--out", "-o") { Description = "Output folder (overrides the file's 'output')." };
        var check = new Option<bool>("--check") { Description = "Validate the file and the data, print the plan, and stop before any training." };
        var seeds = new Option<string?>("--seeds") { Description = "Run only these of the file's seeds (comma-separated, e.g. 0 or 1,2): a share of the work now, the rest later or on another machine; the summaries cover the seeds run." };
        var shard = new Option<string?>("--shard") { Description = "Run only share I of N (I/N, numbered from 0) of the (method, seed) runs, into the shared output folder, for a Slurm job array or a Kubernetes Indexed Job; 'rebalance report DIR' then merges the finished runs into the summaries." };
        var cmd = new Command("run", "Run an experiment: every method for every seed, judged on the untouched test set; writes results.json, results.md and report.html. Finished (method, seed) runs are kept, so a rerun after an interruption carries on.");
        cmd.Arguments.Add(file);
        cmd.Options.Add(output);
        cmd.Options.Add(check);
        cmd.Options.Add(seeds);
        cmd.Options.Add(shard);
        cmd.SetAction(r =>
        {
            var e = Experiment.Load(r.GetValue(file)!);
            Shard? part = r.GetValue(shard) is { } sh ? Shard.Parse(sh) : null;
            if (r.GetValue(output) is { } o)
            {
                e = e with { Output = o };
            }
            if (r.GetValue(seeds) is { } only)
            {
                var picked = new List<ulong>();
                foreach (var item in only.Split(',', StringSplitOptions.TrimEntries))
                {
                    if (!ulong.TryParse(item, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var sd) || !e.Seeds.Contains(sd))
                    {
                        throw new ArgumentException($"--seeds: '{item}' is not one of the file's seeds ({string.Join(", ", e.Seeds)})");
                    }
                    if (!picked.Contains(sd))
                    {
                        picked.Add(sd);
                    }
                }
                e = e with { Seeds = picked, ShareOf = e.Seeds };
            }
            void Log(string line) => console.MarkupLineInterpolated($"[grey]{line}[/]");
            var data = Runner.Prepare(e, Log);
            var pairs = Shards.Pairs(e, part);
            var total = pairs.Count;
            console.MarkupLineInterpolated($"[bold]{e.Name}[/]: {e.Methods.Count} method(s) x {e.Seeds.Count} seed(s) = {e.Methods.Count * e.Seeds.Count} runs on {e.Dataset} ({e.Protocol}), classifier {e.Classifier}, output {e.Output}");
            if (part is { } p0)
            {
                console.WriteLine($"shard {p0}: {total} of them ({string.Join(", ", pairs.Select(x => $"{x.Method.Label} seed {x.Seed}"))})");
            }
            if (r.GetValue(check))
            {
                var classifier = Classifiers.Create(e.Classifier, data.Train.Channels, data.Train.Height, data.Train.Width, data.Train.NumClasses, new Tensors.Generator(0));
                console.WriteLine($"  classifier {e.Classifier}: {classifier.Parameters().Sum(p => (long)p.Numel):N0} parameters ({data.Train.Channels}x{data.Train.Height}x{data.Train.Width} images, {data.Train.NumClasses} classes)");
                foreach (var m in e.Methods)
                {
                    console.WriteLine($"  {m.Label}: {m.Method}, strategy {m.Strategy.Spec}{(m.SettingsText.Length > 0 ? ", " + m.SettingsText : "")}");
                    if (m.Search is { } search)
                    {
                        var candidates = search.Candidates(m.Label);
                        var rungs = search.Rungs(candidates.Count);
                        console.WriteLine($"    search ({search.Strategy}): {string.Join("; ", search.Space)}; {candidates.Count} candidate(s){(rungs.Count > 1 ? $" over {rungs.Count} rungs at budgets {string.Join(", ", rungs.Select(b => b.ToString("0.###", CultureInfo.InvariantCulture)))}" : "")}, scored on the validation split of the first {search.Seeds} seed(s)");
                    }
                }
                console.WriteLine("the experiment file and the data are valid; nothing was trained (--check)");
                return 0;
            }
            var sw = Stopwatch.StartNew();
            var clock = new TimeLeft(pairs.Select(x => (x.Method.Label, x.Method.Method)));
            var runWatch = new Stopwatch();
            void RunStarted(string label)
            {
                clock.Started(label);
                runWatch.Restart();
            }
            void RunFinished(RunResult res, bool reused) => clock.Finished(res.Label, reused ? TimeLeft.StoredSeconds(res) : runWatch.Elapsed.TotalSeconds);
            string Left() => clock.Seconds(runWatch.Elapsed.TotalSeconds) is { } left ? $"about {TimeLeft.Format(left)} left" : "time left known after the first run";
            IReadOnlyList<RunResult> results = [];
            if (!console.Profile.Capabilities.Interactive)
            {
                // Logs and pipes: a line per run and per epoch instead of a redrawn progress bar.
                results = Runner.Run(e, data, shard: part, callbacks: new RunCallbacks
                {
                    Log = Log,
                    Started = (label, seed, n, t) =>
                    {
                        RunStarted(label);
                        console.WriteLine($"[{n}/{t}] {label} seed {seed} ({sw.Elapsed.TotalMinutes:F1} min elapsed, {Left()})");
                    },
                    GanProgress = p =>
                    {
                        if (p.Step % 250 == 0 || p.Step == p.Steps)
                        {
                            console.WriteLine(GanCommands.Line(p));
                        }
                    },
                    Progress = p =>
                    {
                        if (p.EpochDone)
                        {
                            var val = p.ValidationBalancedAccuracy is { } v ? $", validation balanced accuracy {v:P1}" : "";
                            console.WriteLine($"  epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:F4}{val}");
                        }
                    },
                    Finished = (res, reused) =>
                    {
                        RunFinished(res, reused);
                        if (reused)
                        {
                            Log($"{res.Label} seed {res.Seed}: already finished, kept (test accuracy {res.Metrics["accuracy"]:P2})");
                        }
                    },
                });
            }
            else
            {
                // A bar for the whole experiment (runs done, the time left) and one for the run in progress,
                // whose bar follows its current stage: autoencoder or VAE steps, GAN steps, classifier epochs.
                console.Progress()
                    .AutoClear(true)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(ctx =>
                    {
                        var overall = ctx.AddTask(Markup.Escape($"{e.Name}: {total} runs"), maxValue: Math.Max(1, total));
                        ProgressTask? current = null;
                        string runName = "";
                        string? shownStage = null;
                        void Show(string stage, double fraction, string stageKey)
                        {
                            overall.Description = Markup.Escape($"{e.Name}: {overall.Value:0}/{total} runs done, {Left()}");
                            if (current is not null)
                            {
                                current.Value = Math.Clamp(fraction, 0, 1);
                                current.Description = Markup.Escape($"{runName} · {stage}");
                            }
                            if (stageKey != shownStage)
                            {
                                // Each stage is drawn at least once, however short; within one the timer redraws.
                                shownStage = stageKey;
                                ctx.Refresh();
                            }
                        }
                        results = Runner.Run(e, data, shard: part, callbacks: new RunCallbacks
                        {
                            Log = Log,
                            Started = (label, seed, n, t) =>
                            {
                                RunStarted(label);
                                current?.StopTask();
                                runName = $"{label} seed {seed} ({n}/{t})";
                                current = ctx.AddTask(Markup.Escape(runName), maxValue: 1);
                                Show("rebalancing", 0, runName);
                            },
                            GanProgress = p => Show(p.ToString(), p.Step / (double)Math.Max(1, p.Steps), $"{runName} {p.Tag} {p.Stage}{(p.Step == p.Steps ? " end" : "")}"),
                            Progress = p =>
                            {
                                var val = p.ValidationBalancedAccuracy is { } v ? $", val bal-acc {v:P1}" : "";
                                Show($"classifier epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F3}{val}", ((p.Epoch - 1) + (p.Step / (double)Math.Max(1, p.Steps))) / p.Epochs, $"{runName} epoch {p.Epoch}{(p.EpochDone ? " end" : "")}");
                            },
                            Finished = (res, reused) =>
                            {
                                RunFinished(res, reused);
                                overall.Increment(1);
                                current?.StopTask();
                                current = null;
                                Show("", 1, "");
                                if (reused)
                                {
                                    Log($"{res.Label} seed {res.Seed}: already finished, kept (test accuracy {res.Metrics["accuracy"]:P2})");
                                }
                            },
                        });
                    });
            }
            console.Write(ResultsTable(e, results));
            console.WriteLine(part is { } p1
                ? $"shard {p1} done in {sw.Elapsed.TotalMinutes:F1} min; once every shard is done: rebalance report {e.Output}"
                : $"done in {sw.Elapsed.TotalMinutes:F1} min; report: {Path.Combine(e.Output, "report.html")}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Per method: the runs it has here and the mean ± std of each headline metric over them (blank
    /// for a method without runs, such as one another shard ran).</summary>
    private static Table ResultsTable(Experiment e, IReadOnlyList<RunResult> results)
    {
        var table = new Table().AddColumn("method").AddColumn(new TableColumn("runs").RightAligned());
        foreach (var k in ClassificationMetrics.HeadlineKeys)
        {
            table.AddColumn(new TableColumn(ClassificationMetrics.Title(k)).RightAligned());
        }
        foreach (var m in e.Methods)
        {
            var runs = results.Where(x => x.Label == m.Label).ToList();
            table.AddRow([Markup.Escape(m.Label), runs.Count.ToString(CultureInfo.InvariantCulture), .. ClassificationMetrics.HeadlineKeys.Select(k =>
                runs.Count == 0 ? "" : ClassificationMetrics.Percent(ClassificationMetrics.MeanStd([.. runs.Select(x => x.Metrics[k])])))]);
        }
        return table;
    }

    public static Command Recommend(IAnsiConsole console)
    {
        var dataset = new Argument<string>("dataset") { Description = $"A known dataset ({string.Join(", ", DatasetCatalog.Names)}) or a folder." };
        var protocol = new Option<string>("--protocol", "-p") { Description = "Imbalance protocol applied to the training split first.", DefaultValueFactory = _ => "none" };
        var candidates = new Option<string?>("--candidates", "-c") { Description = $"Methods to screen, comma-separated (default: every method that fits the data: {string.Join(", ", MethodCatalog.Names)})." };
        var strategy = new Option<string>("--strategy") { Description = "Sampling strategy of the candidates.", DefaultValueFactory = _ => "auto" };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the protocol, the validation split and the methods.", DefaultValueFactory = _ => 0UL };
        var budget = new Option<double>("--budget") { Description = "Share of the classifier's epochs each screening trains for.", DefaultValueFactory = _ => AutoSpec.DefaultBudget };
        var classifier = new Option<string>("--classifier") { Description = $"Classifier ({string.Join(", ", Classifiers.Names)}).", DefaultValueFactory = _ => new Experiment().Classifier };
        var epochs = new Option<int>("--epochs") { Description = "The classifier's full epochs (screening trains for the budget's share).", DefaultValueFactory = _ => new Experiment().Training.Epochs };
        var output = new Option<string?>("--out", "-o") { Description = "Folder for the generators and screening results, reused by a later call (default runs/recommend-DATASET-PROTOCOL)." };
        var validationShare = new Option<double>("--validation") { Description = "Stratified share of the imbalanced training split held out to score the candidates.", DefaultValueFactory = _ => new Experiment().Validation };
        var cmd = new Command("recommend", "Screen rebalancing methods on a dataset's validation split (never its test set) and print them ranked, best first: what 'method: auto' does for one seed.");
        cmd.Arguments.Add(dataset);
        foreach (var o in new Option[] { protocol, candidates, strategy, seed, budget, classifier, epochs, validationShare, output })
        {
            cmd.Options.Add(o);
        }
        cmd.SetAction(r =>
        {
            var ds = r.GetValue(dataset)!;
            var prot = r.GetValue(protocol)!;
            var parsedStrategy = SamplingStrategy.Parse(r.GetValue(strategy)!);
            var names = r.GetValue(candidates) is { } list ? list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : [.. MethodCatalog.Names];
            foreach (var n in names)
            {
                if (!MethodCatalog.IsKnown(n))
                {
                    throw new ArgumentException($"--candidates: unknown method '{n}' (known: {string.Join(", ", MethodCatalog.Names)})");
                }
            }
            if (names.Distinct().Count() < 2)
            {
                throw new ArgumentException("--candidates: list at least two different methods");
            }
            var b = r.GetValue(budget);
            if (!(b > 0 && b <= 1))
            {
                throw new ArgumentException($"--budget: expected a share of the epochs above 0 and at most 1, got {b.ToString(CultureInfo.InvariantCulture)}");
            }
            var n0 = r.GetValue(epochs);
            if (n0 < 1)
            {
                throw new ArgumentException($"--epochs: expected at least 1, got {n0}");
            }
            var share = r.GetValue(validationShare);
            if (!(share >= 0.01 && share <= 0.9))
            {
                throw new ArgumentException($"--validation: expected a share from 0.01 to 0.9, got {share.ToString(CultureInfo.InvariantCulture)}");
            }
            var cls = r.GetValue(classifier)!;
            if (!Classifiers.Names.Contains(cls))
            {
                throw new ArgumentException($"--classifier: unknown classifier '{cls}' (known: {string.Join(", ", Classifiers.Names)})");
            }
            ImbalanceProtocol.Parse(prot);
            var auto = new AutoSpec([.. names.Distinct().Select(n => new MethodSpec(n, n, parsedStrategy, new MethodSettings(n)))], b, r.GetValue(candidates) is null);
            var spec = new MethodSpec(AutoSpec.Name, AutoSpec.Name, parsedStrategy, new MethodSettings(AutoSpec.Name)) { Auto = auto, Quality = false };
            var s = r.GetValue(seed);
            var baseline = new Experiment();
            var e = baseline with
            {
                Name = "recommend",
                Dataset = ds,
                Protocol = prot,
                Seeds = [s],
                Validation = share,
                Classifier = cls,
                Training = baseline.Training with { Epochs = n0 },
                Methods = [spec],
                Output = r.GetValue(output) ?? Path.Combine("runs", $"recommend-{Files.Safe(Path.GetFileName(Path.TrimEndingDirectorySeparator(ds)))}-{Files.Safe(prot)}"),
            };
            void Log(string line) => console.MarkupLineInterpolated($"[grey]{line}[/]");
            var data = Runner.Prepare(e, Log);
            var imbalanced = data.Protocol.Apply(data.Train, s);
            var (train, validation) = Splits.Stratified(imbalanced, e.Validation, s);
            console.WriteLine($"screening {auto.Candidates.Count} method(s) on {ds} ({prot}), seed {s}: {train.Count} training and {validation.Count} validation images, {cls} for {Search.Scaled(n0, b)} of {n0} epochs each");
            var sw = Stopwatch.StartNew();
            var ranked = AutoChoice.Screen(e, spec, s, train, validation, new RunCallbacks
            {
                Log = Log,
                GanProgress = p =>
                {
                    if (p.Step % 250 == 0 || p.Step == p.Steps)
                    {
                        console.WriteLine(GanCommands.Line(p));
                    }
                },
            });
            var table = new Table().AddColumn(new TableColumn("rank").RightAligned()).AddColumn("method").AddColumn(new TableColumn("validation balanced accuracy").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
            for (var i = 0; i < ranked.Count; i++)
            {
                table.AddRow((i + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(ranked[i].Label), (ranked[i].Score * 100).ToString("F2", CultureInfo.InvariantCulture), ranked[i].Seconds.ToString("F0", CultureInfo.InvariantCulture));
            }
            console.Write(table);
            console.WriteLine($"recommended: {ranked[0].Label} (screened in {sw.Elapsed.TotalMinutes:F1} min; the test set was not used: 'rebalance run' with method auto or {ranked[0].Label} gives test figures over seeds)");
            return 0;
        });
        return cmd;
    }

    public static Command Report(IAnsiConsole console)
    {
        var dir = new Argument<string>("dir") { Description = "An experiment's output folder, filled by 'rebalance run' (one or several --shard runs, or --seeds shares)." };
        var cmd = new Command("report", "Merge the finished runs of an output folder into results.json, results.md and report.html (after sharded runs, or to redraw the summaries).");
        cmd.Arguments.Add(dir);
        cmd.SetAction(r =>
        {
            var folder = r.GetValue(dir)!;
            var merged = Shards.Merge(folder, line => console.MarkupLineInterpolated($"[yellow]{line}[/]"));
            var e = merged.Experiment;
            console.WriteLine($"{e.Name}: {merged.Runs.Count} finished run(s) of {merged.Runs.Count + merged.Missing.Count} ({e.Methods.Count} method(s) x {e.ShareOf?.Count ?? e.Seeds.Count} seed(s))");
            console.Write(ResultsTable(e, merged.Runs));
            console.WriteLine($"report: {Path.Combine(folder, "report.html")}");
            return 0;
        });
        return cmd;
    }

    public static Command Resample(IAnsiConsole console)
    {
        var file = new Argument<string?>("file") { Description = "Experiment file to take the dataset, protocol, strategy and method from (optional).", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string>("--out", "-o") { Description = "Folder to create with one PNG subfolder per class (added images are named syn-*).", Required = true };
        var dataset = new Option<string?>("--dataset", "-d") { Description = $"A known dataset ({string.Join(", ", DatasetCatalog.Names)}) or a folder." };
        var protocol = new Option<string?>("--protocol", "-p") { Description = "Imbalance protocol applied to the training split first (default none)." };
        var method = new Option<string?>("--method", "-m") { Description = $"Method ({string.Join(", ", MethodCatalog.Names)}), or a method label of the experiment file." };
        var strategy = new Option<string?>("--strategy") { Description = "Sampling strategy: auto, not-majority, not-minority, all, ratio:R, counts:N,N,..." };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the protocol and the method.", DefaultValueFactory = _ => 0UL };
        var set = GanCommands.SetOption();
        var models = new Option<string?>("--models") { Description = "Folder that keeps the generators a generative method trains, so a later call with the same settings, data and seed reuses them (default: a temporary folder)." };
        var cmd = new Command("resample", "Write a rebalanced training set (the training split after the protocol, then the method) as a PNG class-folder tree. The test split is never resampled.");
        cmd.Arguments.Add(file);
        foreach (var o in new Option[] { output, dataset, protocol, method, strategy, seed, set, models })
        {
            cmd.Options.Add(o);
        }
        cmd.SetAction(r =>
        {
            var settings = GanCommands.ParseSet(r.GetValue(set));
            string ds, prot;
            var testSplit = new Experiment().TestSplit;
            MethodSpec spec;
            if (r.GetValue(file) is { } path)
            {
                var e = Experiment.Load(path);
                ds = r.GetValue(dataset) ?? e.Dataset;
                prot = r.GetValue(protocol) ?? e.Protocol;
                testSplit = e.TestSplit;
                var wanted = r.GetValue(method);
                var candidates = e.Methods.Where(m => wanted is null ? m.Method != "none" : m.Label == wanted || m.Method == wanted).ToList();
                if (candidates.Count != 1)
                {
                    throw new ArgumentException(wanted is null
                        ? $"{path} has {candidates.Count} methods besides none; choose one with --method ({string.Join(", ", e.Methods.Select(m => m.Label))})"
                        : $"{path} has no single method '{wanted}' (labels: {string.Join(", ", e.Methods.Select(m => m.Label))})");
                }
                spec = candidates[0];
                var merged = new Dictionary<string, string>(spec.Settings.Values, StringComparer.Ordinal);
                foreach (var (k, v) in settings)
                {
                    merged[k] = v;
                }
                spec = spec with { Settings = new MethodSettings(spec.Method, merged), Strategy = r.GetValue(strategy) is { } s ? SamplingStrategy.Parse(s) : spec.Strategy };
            }
            else
            {
                ds = r.GetValue(dataset) ?? throw new ArgumentException("give an experiment file or --dataset");
                prot = r.GetValue(protocol) ?? "none";
                var name = r.GetValue(method) ?? throw new ArgumentException($"give --method ({string.Join(", ", MethodCatalog.Names)})");
                spec = new MethodSpec(name, name, SamplingStrategy.Parse(r.GetValue(strategy) ?? "auto"), new MethodSettings(name, settings));
            }
            var outDir = r.GetValue(output)!;
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            {
                throw new DataException($"{outDir}: folder is not empty (choose an empty or new folder)");
            }
            var rebalancer = MethodCatalog.Create(spec.Method, spec.Settings, new Generative.Methods.GenerativeContext { CheckpointRoot = r.GetValue(models) });
            var p = ImbalanceProtocol.Parse(prot);
            // The same test split as 'rebalance run' is held out, so an exported set never holds test images.
            var (train, _) = Runner.LoadTrainTest(ds, testSplit, msg => console.WriteLine(msg), p);
            var imbalanced = p.Apply(train, r.GetValue(seed));
            if (ImageFolder.HasJpeg(ds))
            {
                console.WriteLine("note: the source images include JPEG files, which are lossy: their pixels were altered when they were saved. The images written here are PNG, which keeps the decoded pixels exactly.");
            }
            console.WriteLine($"{train.Name} after {p.Spec}: {Rebalancers.FormatCounts(imbalanced.ClassCounts())}");
            var sw = Stopwatch.StartNew();
            var result = rebalancer.FitResample(imbalanced, spec.Strategy, r.GetValue(seed), line => console.WriteLine(line));
            console.WriteLine($"{spec.Method} ({spec.Strategy.Spec}): {Rebalancers.FormatCounts(result.Train.ClassCounts())}, {result.Train.SyntheticCount} synthetic, in {sw.Elapsed.TotalSeconds:F1} s");
            if (result.ClassWeights is { } w)
            {
                console.WriteLine($"{spec.Method} changes no images; its class weights are {string.Join(" ", w.Select((x, c) => $"{c}:{x.ToString("0.###", CultureInfo.InvariantCulture)}"))}");
            }
            ImageFolder.Write(result.Train, outDir);
            console.WriteLine($"wrote {result.Train.Count} images to {outDir}");
            return 0;
        });
        return cmd;
    }
}
