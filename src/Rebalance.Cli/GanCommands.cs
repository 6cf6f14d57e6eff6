using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;
using Rebalance.Data.Protocols;
using Rebalance.Evaluation;
using Rebalance.Generative.Methods;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Spectre.Console;

namespace Rebalance.Cli;

/// <summary><c>rebalance gan train</c> and <c>rebalance gan sample</c>: generators outside an experiment.</summary>
internal static class GanCommands
{
    public static Command Build(IAnsiConsole console)
    {
        var cmd = new Command("gan", "Train generators and draw images from them, outside an experiment.");
        cmd.Subcommands.Add(Train(console));
        cmd.Subcommands.Add(Sample(console));
        return cmd;
    }

    private static Command Train(IAnsiConsole console)
    {
        var dataset = new Option<string>("--dataset", "-d") { Description = $"A known dataset ({string.Join(", ", DatasetCatalog.Names)}) or a folder.", Required = true };
        var protocol = new Option<string>("--protocol", "-p") { Description = "Imbalance protocol applied to the training split first.", DefaultValueFactory = _ => "none" };
        var method = new Option<string>("--method", "-m") { Description = $"{string.Join(", ", GenerativeMethods.Names)}.", DefaultValueFactory = _ => "gan-per-class" };
        var classes = new Option<int[]>("--class", "-c") { Description = "Class to train a generator for (repeatable). Default: the classes the strategy fills; cgan trains one generator for all.", AllowMultipleArgumentsPerToken = true };
        var strategy = new Option<string>("--strategy") { Description = "Sampling strategy that picks the classes when --class is not given.", DefaultValueFactory = _ => "auto" };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the protocol and the training.", DefaultValueFactory = _ => 0UL };
        var set = SetOption();
        var output = new Option<string>("--out", "-o") { Description = "Folder for the generators (CLASS.generator.safetensors), training state, loss logs and sample grids. Training resumes from the state found there.", Required = true };
        var cmd = new Command("train", "Train GAN generators on a dataset's training split; an interrupted run resumes from its last checkpoint.");
        foreach (var o in new Option[] { dataset, protocol, method, classes, strategy, seed, set, output })
        {
            cmd.Options.Add(o);
        }
        cmd.SetAction(r =>
        {
            var name = r.GetValue(method)!;
            if (!GenerativeMethods.IsKnown(name))
            {
                throw new ArgumentException($"--method: unknown generative method '{name}' (known: {string.Join(", ", GenerativeMethods.Names)})");
            }
            if (name == "gamo")
            {
                throw new ArgumentException("--method: gamo makes its images as convex combinations of a class's training images, so it has no generator file to sample from later; use 'rebalance resample --method gamo' (or an experiment) to train it and write its images");
            }
            var rebalancer = (GenerativeRebalancer)GenerativeMethods.Create(name, new MethodSettings(name, ParseSet(r.GetValue(set))));
            var p = ImbalanceProtocol.Parse(r.GetValue(protocol)!);
            var s = r.GetValue(seed);
            // The same test split as 'rebalance run' is held out: a generator never sees a test image.
            var (train, _) = Runner.LoadTrainTest(r.GetValue(dataset)!, new Experiment().TestSplit, msg => console.WriteLine(msg), p);
            var imbalanced = p.Apply(train, s);
            var counts = imbalanced.ClassCounts();
            int[] wanted = r.GetValue(classes) is { Length: > 0 } given ? given : [.. SamplingStrategy.Parse(r.GetValue(strategy)!).Targets(counts, SamplingKind.Over).Select((t, c) => (t, c)).Where(x => x.t > counts[x.c]).Select(x => x.c)];
            if (wanted.Length == 0)
            {
                throw new ArgumentException($"no class to train for: the strategy '{r.GetValue(strategy)}' fills none of {Rebalancers.FormatCounts(counts)}; name classes with --class");
            }
            console.WriteLine($"{imbalanced.Name} after {p.Spec}: {Rebalancers.FormatCounts(counts)}; {name} for class(es) {string.Join(", ", wanted)}");
            var sw = Stopwatch.StartNew();
            var dir = r.GetValue(output)!;
            WithProgress(console, progress =>
            {
                var trained = rebalancer.WithProgress(progress).TrainGenerators(imbalanced, wanted, s, dir, line => console.WriteLine(line)).Values.Distinct().Count();
                console.WriteLine(trained > 0
                    ? $"trained {trained} generator(s) in {sw.Elapsed.TotalMinutes:F1} min; files in {dir}"
                    : $"trained the {name} model in {sw.Elapsed.TotalMinutes:F1} min; files in {dir}");
            });
            return 0;
        });
        return cmd;
    }

    private static Command Sample(IAnsiConsole console)
    {
        var from = new Option<string>("--from", "-f") { Description = "A folder written by 'gan train' (or an experiment's checkpoints/ subfolder), or one .generator.safetensors file.", Required = true };
        var cls = new Option<int?>("--class", "-c") { Description = "Class to draw (needed unless the file is a per-class generator)." };
        var count = new Option<int>("--count", "-n") { Description = "Number of images.", DefaultValueFactory = _ => 100 };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the latent codes.", DefaultValueFactory = _ => 0UL };
        var output = new Option<string>("--out", "-o") { Description = "Folder to create: OUT/CLASS_NAME/syn-NNNNNN.png.", Required = true };
        var at = new Option<string[]>("--set") { Description = "For a ccgan model: the attribute values to draw at, as name=value (comma-separated or repeated), e.g. --set thickness=4.0,slant=0.3; every attribute the model is conditioned on needs one.", AllowMultipleArgumentsPerToken = false };
        var cmd = new Command("sample", "Draw images of one class from a trained generator (or, from a ccgan model, at chosen attribute values) and write them as PNG files.");
        foreach (var o in new Option[] { from, cls, count, seed, output, at })
        {
            cmd.Options.Add(o);
        }
        cmd.SetAction(r =>
        {
            var n = r.GetValue(count);
            if (n < 1)
            {
                throw new ArgumentException($"--count: expected at least 1, got {n}");
            }
            if (FindCcgan(r.GetValue(from)!) is { } ccganFile)
            {
                return SampleCcgan(console, ccganFile, r.GetValue(at), r.GetValue(cls), n, r.GetValue(seed), r.GetValue(output)!);
            }
            if (r.GetValue(at) is { Length: > 0 })
            {
                throw new ArgumentException($"--set: {r.GetValue(from)} holds no ccgan model (all.ccgan.safetensors); only a GAN conditioned on attributes draws at chosen values");
            }
            var file = FindGenerator(r.GetValue(from)!, r.GetValue(cls));
            var g = GeneratorFile.Load(file);
            var c = r.GetValue(cls) ?? g.Class ?? throw new ArgumentException($"{file} is a conditional generator; say which class with --class (0 to {g.ClassNames.Count - 1})");
            if (g.Class is { } only && only != c)
            {
                throw new ArgumentException($"{file} draws class {only}, not class {c}");
            }
            if (c < 0 || c >= g.ClassNames.Count)
            {
                throw new ArgumentException($"--class: {c} is not a class of {file} (0 to {g.ClassNames.Count - 1})");
            }
            var pixels = GeneratorFile.Generate(g.Generator, n, c, new Tensors.Generator(r.GetValue(seed)));
            var shape = g.Generator.Shape;
            var data = new Dataset("generated", pixels, new int[n], shape.Channels, shape.Height, shape.Width, [g.ClassNames[c]], Enumerable.Repeat(true, n).ToArray());
            var outDir = r.GetValue(output)!;
            ImageFolder.Write(data, outDir);
            console.WriteLine($"wrote {n} images of class {c} ('{g.ClassNames[c]}') from {file} to {Path.Combine(outDir, ImageFolder.SafeName(g.ClassNames[c]))}");
            return 0;
        });
        return cmd;
    }

    /// <summary>A ccgan model at <paramref name="from"/> (the file, or all.ccgan.safetensors in the folder or one
    /// level below when the folder holds no generator file); null when there is none.</summary>
    private static string? FindCcgan(string from)
    {
        if (File.Exists(from))
        {
            return from.EndsWith(".ccgan.safetensors", StringComparison.Ordinal) ? from : null;
        }
        if (!Directory.Exists(from))
        {
            return null;
        }
        var dirs = new[] { from }.Concat(Directory.GetDirectories(from).Order(StringComparer.Ordinal)).ToList();
        if (dirs.Any(d => Directory.GetFiles(d, "*.generator.safetensors").Length > 0))
        {
            return null;
        }
        var found = dirs.Select(d => Path.Combine(d, CcganModel.FileName)).Where(File.Exists).ToList();
        return found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw new ArgumentException($"--from: {from} holds several ccgan models ({string.Join(", ", found)}); name the file"),
        };
    }

    /// <summary>Draws <paramref name="n"/> images from a ccgan model at the attribute values of
    /// <paramref name="pairs"/>, written with a metadata.csv of the requested values.</summary>
    private static int SampleCcgan(IAnsiConsole console, string file, string[]? pairs, int? cls, int n, ulong seed, string outDir)
    {
        var model = CcganModel.Load(file);
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var kv in (pairs ?? []).SelectMany(p => p.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            var eq = kv.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !double.TryParse(kv[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            {
                throw new ArgumentException($"--set '{kv}': expected attribute=number, e.g. {model.Scale.Names[0]}=1.5");
            }
            values[kv[..eq]] = v;
        }
        if (values.Count == 0)
        {
            throw new ArgumentException($"--set: {file} is a ccgan model conditioned on {string.Join(", ", model.Scale.Names)}; say where to draw, e.g. --set {string.Join(",", model.Scale.Names.Select(a => a + "=" + model.Scale.Mean[Array.IndexOf(model.Scale.Names, a)].ToString("G3", CultureInfo.InvariantCulture)))} (the training means)");
        }
        if (cls is { } k && (k < 0 || k >= model.ClassNames.Count))
        {
            throw new ArgumentException($"--class: {k} is not a class of {file} (0 to {model.ClassNames.Count - 1})");
        }
        var g = model.Generator;
        var pixels = Ccgan.GenerateAt(g, model.At(values, n), new Tensors.Generator(seed));
        var folder = cls is { } c ? model.ClassNames[c] : "generated";
        var raw = model.Scale.Names.Select(a => (float)values[a]).ToArray();
        var data = new Dataset("generated", pixels, new int[n], g.Channels, g.Height, g.Width, [folder], Enumerable.Repeat(true, n).ToArray(),
            model.Scale.Names, [.. Enumerable.Range(0, n).SelectMany(_ => raw)]);
        ImageFolder.Write(data, outDir);
        console.WriteLine($"wrote {n} images at {string.Join(", ", model.Scale.Names.Select(a => $"{a} = {values[a].ToString("G4", CultureInfo.InvariantCulture)}"))} from {file} to {Path.Combine(outDir, ImageFolder.SafeName(folder))} (the values in metadata.csv)");
        if (ConditionError.CanMeasure(model.Scale.Names, g.Channels))
        {
            // Morpho-MNIST's measures can be taken on the images: say how close they came.
            var measured = ConditionError.Measure(pixels, n, g.Height, g.Width, model.Scale.Names);
            var cols = model.Scale.Names.Length;
            var parts = model.Scale.Names.Select((a, j) =>
            {
                var v = Enumerable.Range(0, n).Select(i => measured[i * cols + j]).Where(double.IsFinite).ToArray();
                var mean = v.Length == 0 ? double.NaN : v.Average();
                var sd = v.Length < 2 ? 0 : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
                return string.Create(CultureInfo.InvariantCulture, $"{a} {mean:G3} ± {sd:G2} (asked {values[a]:G4})");
            });
            console.WriteLine($"measured on the images (Morpho-MNIST's measures): {string.Join(", ", parts)}");
        }
        return 0;
    }

    /// <summary>The generator file for <paramref name="cls"/> under <paramref name="from"/>: the file itself, or
    /// classN.generator.safetensors / all.generator.safetensors in the folder or one level below it.</summary>
    private static string FindGenerator(string from, int? cls)
    {
        if (File.Exists(from))
        {
            return from;
        }
        if (!Directory.Exists(from))
        {
            throw new ArgumentException($"--from: {from} is neither a generator file nor a folder");
        }
        var names = cls is { } c ? new[] { $"class{c}.generator.safetensors", "all.generator.safetensors" } : ["all.generator.safetensors"];
        var dirs = new[] { from }.Concat(Directory.GetDirectories(from).Order(StringComparer.Ordinal));
        var found = dirs.SelectMany(d => names.Select(nm => Path.Combine(d, nm))).Where(File.Exists).ToList();
        return found.Count switch
        {
            0 => throw new ArgumentException($"--from: no generator{(cls is { } k ? $" for class {k}" : "")} in {from} (files named classN.generator.safetensors or all.generator.safetensors)"),
            1 => found[0],
            _ => throw new ArgumentException($"--from: {from} holds several generators for this class ({string.Join(", ", found)}); name the file"),
        };
    }

    internal static Dictionary<string, string> ParseSet(string[]? pairs)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in pairs ?? [])
        {
            var eq = kv.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"--set '{kv}': expected key=value");
            }
            settings[kv[..eq]] = kv[(eq + 1)..];
        }
        return settings;
    }

    internal static Option<string[]> SetOption() =>
        new("--set") { Description = "A method setting as key=value (repeatable), e.g. --set loss=hinge.", AllowMultipleArgumentsPerToken = false };

    /// <summary>Runs <paramref name="body"/> with a GAN progress sink: a redrawn bar in a terminal, a line
    /// every 250 steps otherwise.</summary>
    internal static void WithProgress(IAnsiConsole console, Action<Action<GanProgress>> body)
    {
        if (!console.Profile.Capabilities.Interactive)
        {
            body(p =>
            {
                if (p.Step % 250 == 0 || p.Step == p.Steps)
                {
                    console.WriteLine(Line(p));
                }
            });
            return;
        }
        console.Progress().AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                ProgressTask? task = null;
                string? tag = null;
                body(p =>
                {
                    if (tag != p.Tag)
                    {
                        task?.StopTask();
                        task = ctx.AddTask(Markup.Escape(p.Tag), maxValue: p.Steps);
                        tag = p.Tag;
                    }
                    task!.Value = p.Step;
                    task.Description = Markup.Escape(Line(p));
                });
            });
    }

    internal static string Line(GanProgress p) => "  " + p;
}
