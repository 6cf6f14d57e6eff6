using System.CommandLine;
using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;
using Rebalance.Data.Protocols;
using Rebalance.Evaluation;
using Rebalance.Evaluation.Quality;
using Spectre.Console;

namespace Rebalance.Cli;

/// <summary><c>rebalance quality</c>: judges a class folder of generated images against a dataset.</summary>
internal static class QualityCommands
{
    public static Command Build(IAnsiConsole console)
    {
        var real = new Option<string>("--real") { Description = $"The dataset the images imitate: {string.Join(", ", DatasetCatalog.Names)} or a folder.", Required = true };
        var fake = new Option<string>("--fake") { Description = "Class folders of generated images (as 'gan sample' or 'resample' write them); folder names are the dataset's class names.", Required = true };
        var protocol = new Option<string>("--protocol", "-p") { Description = "The imbalance protocol the generator's training split came from (near-copies are measured against it).", DefaultValueFactory = _ => "none" };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the protocol and the judge.", DefaultValueFactory = _ => 0UL };
        var perClass = new Option<int>("--per-class", "-n") { Description = "At most this many generated images per class (the first by file name).", DefaultValueFactory = _ => 1000 };
        var output = new Option<string>("--out", "-o") { Description = "Folder for quality.json and quality.html.", DefaultValueFactory = _ => "quality" };
        var cmd = new Command("quality", "Judge generated images: FID, KID, Inception Score, precision/recall, density/coverage, per-class FID, mode collapse and near-copies, with a judge network trained on the dataset.");
        foreach (var o in new Option[] { real, fake, protocol, seed, perClass, output })
        {
            cmd.Options.Add(o);
        }
        cmd.SetAction(r =>
        {
            var n = r.GetValue(perClass);
            if (n < 1)
            {
                throw new ArgumentException($"--per-class: expected at least 1, got {n}");
            }
            var s = r.GetValue(seed);
            var p = ImbalanceProtocol.Parse(r.GetValue(protocol)!);
            var (train, test) = Runner.LoadTrainTest(r.GetValue(real)!, new Experiment().TestSplit, line => console.WriteLine(line), p);
            var fakeDir = r.GetValue(fake)!;
            var generated = Relabel(ImageFolder.Load(fakeDir, log: line => console.WriteLine(line)), train, fakeDir, n);
            var judge = Judge.LoadOrTrain(train, test, s, Path.Combine(DatasetCatalog.CacheRoot, "judges"), log: line => console.WriteLine(line));
            var result = QualityAssessment.Assess(judge, generated, p.Apply(train, s), test, s, tsnePerClass: 100);
            var outDir = r.GetValue(output)!;
            QualityPage.WriteAll(outDir, $"{fakeDir} against {train.Name}", result, train.ClassNames, judge);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.Generated} images: FID {result.Fid:F2}, KID {result.Kid.Mean:F4}, IS {result.InceptionScore.Mean:F2}, precision {result.Neighbours.Precision:P1}, recall {result.Neighbours.Recall:P1}, density {result.Neighbours.Density:F3}, coverage {result.Neighbours.Coverage:P1}, near-copies {result.NearCopyShare:P1} (pixels {result.SsimNearCopyShare:P1}) (judge test accuracy {judge.TestAccuracy:P2})"));
            foreach (var w in result.Warnings)
            {
                console.WriteLine($"warning: {w}");
            }
            console.WriteLine($"wrote {Path.Combine(outDir, "quality.json")} and quality.html");
            return 0;
        });
        return cmd;
    }

    /// <summary>The generated images with the dataset's class indices (folder names are class names, or
    /// their folder-safe forms), at most <paramref name="perClass"/> per class.</summary>
    private static Dataset Relabel(Dataset fake, Dataset real, string dir, int perClass)
    {
        if (fake.Channels != real.Channels || fake.Height != real.Height || fake.Width != real.Width)
        {
            throw new DataException($"{dir}: images are {fake.Channels}x{fake.Height}x{fake.Width}, but the dataset's are {real.Channels}x{real.Height}x{real.Width}");
        }
        var map = new int[fake.NumClasses];
        for (var k = 0; k < fake.NumClasses; k++)
        {
            var name = fake.ClassNames[k];
            map[k] = Enumerable.Range(0, real.NumClasses).FirstOrDefault(c => real.ClassNames[c] == name || ImageFolder.SafeName(real.ClassNames[c]) == name, -1);
            if (map[k] < 0)
            {
                throw new DataException($"{dir}: class folder '{name}' is not a class of the dataset (its classes: {string.Join(", ", real.ClassNames)})");
            }
        }
        var keep = Enumerable.Range(0, fake.NumClasses).SelectMany(k => fake.IndicesOf(k).Take(perClass)).Order().ToArray();
        var size = fake.ImageSize;
        var pixels = new byte[keep.Length * size];
        for (var i = 0; i < keep.Length; i++)
        {
            fake.Image(keep[i]).CopyTo(pixels.AsSpan(i * size, size));
        }
        return new Dataset(fake.Name, pixels, [.. keep.Select(i => map[fake.Label(i)])], fake.Channels, fake.Height, fake.Width, [.. real.ClassNames], Enumerable.Repeat(true, keep.Length).ToArray());
    }
}
