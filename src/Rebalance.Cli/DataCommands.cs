using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;
using Rebalance.Data.Protocols;
using Spectre.Console;

namespace Rebalance.Cli;

/// <summary><c>rebalance data get | show | export | grid</c>.</summary>
internal static class DataCommands
{
    public static Command Build(IAnsiConsole console)
    {
        var data = new Command("data", "Fetch, inspect and export datasets and imbalance protocols.");
        data.Subcommands.Add(Get(console));
        data.Subcommands.Add(Show(console));
        data.Subcommands.Add(Export(console));
        data.Subcommands.Add(Grid(console));
        return data;
    }

    private static Argument<string> DatasetArgument() => new("dataset")
    {
        Description = $"A known dataset ({string.Join(", ", DatasetCatalog.Names)}, fetched on first use) or a folder: PNG class folders, train/ + valid/ (or test/), CIFAR binary batches, or IDX files.",
    };

    private static Option<string> ProtocolOption(bool required)
    {
        var option = new Option<string>("--protocol", "-p")
        {
            Description = "Imbalance protocol for the training split: none, ir100, mnist5-99, fmnist-lt, counts:N,N,..., drop:CLASSES:FRACTION, long-tail:RATIO, step:CLASSES:RATIO, single-class:CLASS:FRACTION, or threshold:ATTR>VALUE&...[+PROTOCOL] on attributes (metadata.csv, morpho-mnist).",
            Required = required,
        };
        if (!required)
        {
            option.DefaultValueFactory = _ => "none";
        }
        return option;
    }

    private static Option<ulong> SeedOption() => new("--seed", "-s")
    {
        Description = "Seed of the protocol's random choice of images.",
        DefaultValueFactory = _ => 0UL,
    };

    private static Command Get(IAnsiConsole console)
    {
        var name = new Argument<string>("name") { Description = $"Dataset to fetch: {string.Join(", ", DatasetCatalog.Names)}." };
        var cmd = new Command("get", $"Fetch a dataset into the cache ({DatasetCatalog.CacheRoot}; set REBALANCE_DATA to change it). A dataset already there is not fetched again.");
        cmd.Arguments.Add(name);
        cmd.SetAction(r =>
        {
            var n = r.GetValue(name)!;
            if (!DatasetCatalog.IsKnown(n))
            {
                throw new DataException($"unknown dataset '{n}' (known: {string.Join(", ", DatasetCatalog.Names)})");
            }
            var dir = DatasetCatalog.Get(n, msg => console.WriteLine(msg));
            console.WriteLine($"{n}: ready in {dir}");
            return 0;
        });
        return cmd;
    }

    private static Command Show(IAnsiConsole console)
    {
        var ds = DatasetArgument();
        var protocol = ProtocolOption(required: false);
        var seed = SeedOption();
        var cmd = new Command("show", "Print image size, channels and per-class counts, before and after an imbalance protocol.");
        cmd.Arguments.Add(ds);
        cmd.Options.Add(protocol);
        cmd.Options.Add(seed);
        cmd.SetAction(r =>
        {
            var p = ImbalanceProtocol.Parse(r.GetValue(protocol)!);
            var (loadedTrain, loadedTest) = DatasetCatalog.Load(r.GetValue(ds)!, msg => console.WriteLine(msg));
            var (train, test) = p.Relabel(loadedTrain, loadedTest);
            var after = p.Apply(train, r.GetValue(seed));
            console.WriteLine($"{train.Name}: {train.Count} training images{(test is null ? "" : $", {test.Count} test images")}, {train.Channels} channel{(train.Channels == 1 ? "" : "s")} of {train.Height}x{train.Width}, {train.NumClasses} classes");
            if (train.AttributeNames.Count > 0)
            {
                var ranges = train.AttributeNames.Select((a, k) =>
                {
                    var v = Enumerable.Range(0, train.Count).Select(i => train.Attributes(i)[k]).Where(float.IsFinite).ToArray();
                    return v.Length == 0 ? $"{a} (no values)" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{a} {v.Min():G4} to {v.Max():G4}");
                });
                console.WriteLine($"attributes: {string.Join(", ", ranges)}");
            }
            var table = new Table().AddColumns("class", "name", "train", $"after {p.Spec}");
            if (test is not null)
            {
                table.AddColumn("test");
            }
            var before = train.ClassCounts();
            var counts = after.ClassCounts();
            var testCounts = test?.ClassCounts();
            for (var c = 0; c < train.NumClasses; c++)
            {
                var row = new List<string> { c.ToString(CultureInfo.InvariantCulture), Markup.Escape(train.ClassNames[c]), before[c].ToString(CultureInfo.InvariantCulture), counts[c].ToString(CultureInfo.InvariantCulture) };
                if (testCounts is not null)
                {
                    row.Add(testCounts[c].ToString(CultureInfo.InvariantCulture));
                }
                table.AddRow([.. row]);
            }
            var totals = new List<string> { "", "total", train.Count.ToString(CultureInfo.InvariantCulture), after.Count.ToString(CultureInfo.InvariantCulture) };
            if (test is not null)
            {
                totals.Add(test.Count.ToString(CultureInfo.InvariantCulture));
            }
            table.AddRow([.. totals]);
            console.Write(table);
            var nonEmpty = counts.Where(n => n > 0).ToArray();
            if (nonEmpty.Length > 0)
            {
                console.WriteLine($"imbalance ratio after the protocol (largest / smallest class): {(double)nonEmpty.Max() / nonEmpty.Min():0.##}");
            }
            return 0;
        });
        return cmd;
    }

    private static Command Export(IAnsiConsole console)
    {
        var ds = DatasetArgument();
        var protocol = ProtocolOption(required: true);
        var seed = SeedOption();
        var output = new Option<string>("--out", "-o") { Description = "Folder to create: OUT/train gets the imbalanced training split, OUT/test the untouched test split.", Required = true };
        var cmd = new Command("export", "Write the imbalanced training split and the untouched test split as PNG class folders.");
        cmd.Arguments.Add(ds);
        cmd.Options.Add(protocol);
        cmd.Options.Add(seed);
        cmd.Options.Add(output);
        cmd.SetAction(r =>
        {
            var p = ImbalanceProtocol.Parse(r.GetValue(protocol)!);
            var outDir = r.GetValue(output)!;
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            {
                throw new DataException($"{outDir}: folder is not empty (choose an empty or new folder)");
            }
            // A folder without a test split gets the one 'rebalance run' holds out, written to test/.
            var (train, test) = Evaluation.Runner.LoadTrainTest(r.GetValue(ds)!, new Evaluation.Experiment().TestSplit, msg => console.WriteLine(msg), p);
            var imbalanced = p.Apply(train, r.GetValue(seed));
            if (ImageFolder.HasJpeg(r.GetValue(ds)!))
            {
                console.WriteLine("note: the source images include JPEG files, which are lossy: their pixels were altered when they were saved. The images written here are PNG, which keeps the decoded pixels exactly.");
            }
            var sw = Stopwatch.StartNew();
            console.WriteLine($"writing {imbalanced.Count} training images ({p.Spec}) to {Path.Combine(outDir, "train")}");
            ImageFolder.Write(imbalanced, Path.Combine(outDir, "train"));
            console.WriteLine($"writing {test.Count} test images (untouched) to {Path.Combine(outDir, "test")}");
            ImageFolder.Write(test, Path.Combine(outDir, "test"));
            console.WriteLine($"done in {sw.Elapsed.TotalSeconds:0.0} s");
            return 0;
        });
        return cmd;
    }

    private static Command Grid(IAnsiConsole console)
    {
        var ds = DatasetArgument();
        var protocol = ProtocolOption(required: false);
        var seed = SeedOption();
        var output = new Option<string>("--out", "-o") { Description = "PNG file to write.", Required = true };
        var perClass = new Option<int>("--per-class", "-k") { Description = "Images per class (one row per class).", DefaultValueFactory = _ => 10 };
        var split = new Option<string>("--split") { Description = "train (after the protocol) or test.", DefaultValueFactory = _ => "train" };
        split.AcceptOnlyFromAmong("train", "test");
        var cmd = new Command("grid", "Write a sample grid PNG: one row per class.");
        cmd.Arguments.Add(ds);
        cmd.Options.Add(protocol);
        cmd.Options.Add(seed);
        cmd.Options.Add(output);
        cmd.Options.Add(perClass);
        cmd.Options.Add(split);
        cmd.SetAction(r =>
        {
            var p = ImbalanceProtocol.Parse(r.GetValue(protocol)!);
            var (loadedTrain, loadedTest) = DatasetCatalog.Load(r.GetValue(ds)!, msg => console.WriteLine(msg));
            var (train, test) = p.Relabel(loadedTrain, loadedTest);
            var source = r.GetValue(split) == "test"
                ? test ?? throw new DataException($"{train.Name} has no test split")
                : p.Apply(train, r.GetValue(seed));
            var file = r.GetValue(output)!;
            SampleGrid.Write(file, source, r.GetValue(perClass), r.GetValue(seed));
            console.WriteLine($"wrote {file}: {source.NumClasses} rows of up to {r.GetValue(perClass)} images");
            return 0;
        });
        return cmd;
    }
}
