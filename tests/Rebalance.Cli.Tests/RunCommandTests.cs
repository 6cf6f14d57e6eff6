using System.Text.Json.Nodes;
using Rebalance.Data.Formats;
using Spectre.Console;

namespace Rebalance.Cli.Tests;

/// <summary>rebalance run and rebalance resample end to end on a tiny generated dataset.</summary>
public class RunCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => RunOn(false, args);

    private static (int Code, string Out, string Err) RunOn(bool terminal, params string[] args)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Standard : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Yes : InteractionSupport.No,
        });
        console.Profile.Width = 240;
        var error = new StringWriter();
        var code = Program.Run(args, console, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>28x28 PNGs in train/ and test/: class c has a bright band at rows 4+8c.</summary>
    private static string MakeDataset(int[] trainCounts, int size = 28)
    {
        var dir = Path.Combine(Path.GetTempPath(), "rebalance-run-" + Guid.NewGuid().ToString("N"));
        var rng = new Random(3);
        foreach (var split in new[] { "train", "test" })
        {
            for (var c = 0; c < trainCounts.Length; c++)
            {
                for (var i = 0; i < (split == "train" ? trainCounts[c] : 10); i++)
                {
                    var px = new byte[size * size];
                    for (var j = 0; j < px.Length; j++)
                    {
                        px[j] = (byte)Math.Clamp((Math.Abs((j / size) - (4 + (8 * c))) <= 2 ? 180 : 20) + rng.Next(-30, 30), 0, 255);
                    }
                    Png.WritePlanar(Path.Combine(dir, split, $"class{c}", $"{i}.png"), 1, size, size, px, durable: false);
                }
            }
        }
        return dir;
    }

    /// <summary>A folder of RGB PNGs of <paramref name="height"/> x <paramref name="width"/>: class c is a
    /// bright band of colour c at a third of the height times c.</summary>
    private static string MakeRgbDataset(int[] trainCounts, int height, int width)
    {
        var dir = Path.Combine(Path.GetTempPath(), "rebalance-run-" + Guid.NewGuid().ToString("N"));
        var rng = new Random(4);
        foreach (var split in new[] { "train", "test" })
        {
            for (var c = 0; c < trainCounts.Length; c++)
            {
                for (var i = 0; i < (split == "train" ? trainCounts[c] : 10); i++)
                {
                    var px = new byte[3 * height * width];
                    for (var j = 0; j < px.Length; j++)
                    {
                        var (plane, y) = (j / (height * width), j % (height * width) / width);
                        px[j] = (byte)Math.Clamp((plane == c % 3 && Math.Abs(y - ((height * (c + 1)) / 3)) <= 4 ? 200 : 30) + rng.Next(-20, 20), 0, 255);
                    }
                    Png.WritePlanar(Path.Combine(dir, split, $"class{c}", $"{i}.png"), 3, height, width, px, durable: false);
                }
            }
        }
        return dir;
    }

    [Fact]
    public void AFolderOf50x50ColourImagesRunsThroughClassicGanAndAutoencoderMethods()
    {
        var data = MakeRgbDataset([16, 6], 50, 50);
        var output = Path.Combine(data, "out");
        var file = WriteExperiment(data, $"""
            dataset: {data}
            output: {output}
            seeds: [0]
            classifier: {"{"}name: cnn28, epochs: 1, batch_size: 8{"}"}
            methods:
              - none
              - smote
              - {"{"}name: gan-per-class, steps: 3, batch_size: 4, z_dim: 8{"}"}
              - {"{"}name: cvae, steps: 3, batch_size: 4{"}"}
              - {"{"}name: gamo, steps: 3, batch_size: 4{"}"}
            """);
        var (code, text, err) = Run("run", file);
        Assert.True(code == 0, err);
        var results = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!;
        var methods = results["methods"]!.AsObject();
        Assert.Equal(["none", "smote", "gan-per-class", "cvae", "gamo"], methods.Select(kv => kv.Key));
        Assert.All(methods, kv => Assert.InRange(kv.Value!["balanced_accuracy"]!["mean"]!.GetValue<double>(), 0, 1));
        foreach (var m in new[] { "smote", "gan-per-class", "cvae", "gamo" })
        {
            Assert.True(File.Exists(Path.Combine(output, "samples", $"{m}-seed0.png")), m);
        }
    }

    [Fact]
    public void AThresholdOnMetadataAttributesMakesTheClassesOfARun()
    {
        // Band images of three classes, each with attribute "w" = its index within the class; the run's two
        // classes are w >= 4 and the rest, in both splits.
        var data = MakeDataset([12, 10, 8]);
        foreach (var split in new[] { "train", "test" })
        {
            var rows = Directory.GetDirectories(Path.Combine(data, split)).Order(StringComparer.Ordinal)
                .SelectMany(d => Directory.GetFiles(d).Select(f => $"{Path.GetFileName(d)}/{Path.GetFileName(f)},{int.Parse(Path.GetFileNameWithoutExtension(f), System.Globalization.CultureInfo.InvariantCulture)}"));
            File.WriteAllText(Path.Combine(data, split, "metadata.csv"), "file,w\n" + string.Join("\n", rows) + "\n");
        }
        var output = Path.Combine(data, "out");
        var file = WriteExperiment(data, $"""
            dataset: {data}
            protocol: "threshold:w>=4+counts:12,6"
            output: {output}
            seeds: [0]
            classifier: {"{"}name: cnn28, epochs: 1, batch_size: 8{"}"}
            methods: [none, smote]
            """);
        var (code, _, err) = Run("run", file);
        Assert.True(code == 0, err);
        var results = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!;
        Assert.Equal(["not w>=4", "w>=4"], results["class_names"]!.AsArray().Select(n => n!.GetValue<string>()));
        // The protocol keeps 12 of the 12 images with w < 4 and 6 of the 18 others; the validation split takes
        // one of each; SMOTE fills the second class to the first.
        var run = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "smote-seed0.json")))!;
        Assert.Equal([11, 5], run["train_counts"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.Equal([11, 11], run["resampled_counts"]!.AsArray().Select(n => n!.GetValue<int>()));
        (code, var text, _) = Run("data", "show", data, "--protocol", "threshold:w>=4+counts:12,6");
        Assert.Equal(0, code);
        Assert.Contains("attributes: w 0 to 11", text, StringComparison.Ordinal);
        Assert.Contains("2 classes", text, StringComparison.Ordinal);
    }

    private static string WriteExperiment(string dir, string body)
    {
        var file = Path.Combine(dir, "exp.yaml");
        File.WriteAllText(file, body);
        return file;
    }

    public static TheoryData<string> BrokenFiles => [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "broken")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void EveryBrokenExperimentFileIsOneLineAndExitCodeOne(string name)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "Fixtures", "broken", name);
        var (code, _, err) = Run("run", file, "--out", Path.Combine(Path.GetTempPath(), "rebalance-broken-" + Guid.NewGuid().ToString("N")));
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{name}: expected one line, got:\n{err[..Math.Min(err.Length, 2000)]}");
        Assert.StartsWith($"error: {file}", lines[0], StringComparison.Ordinal);
        Assert.True(lines[0].Length < 800, $"{name}: the line is {lines[0].Length} characters long");
    }

    [Fact]
    public void RunWritesResultsAndARerunSkipsFinishedPairs()
    {
        var data = MakeDataset([40, 16, 6]);
        var output = Path.Combine(data, "out");
        var file = WriteExperiment(data, $"""
            dataset: {Path.Combine(data)}
            protocol: none
            validation: 0.2
            seeds: [0, 1]
            output: {output}
            classifier:
              name: cnn28
              epochs: 2
              batch_size: 16
            methods:
              - none
              - random-over
              - name: smote
                k: 2
            """);
        var (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        Assert.Equal("", err);
        Assert.Contains("[6/6] smote seed 1", text);
        Assert.Equal(6, text.Split('\n').Count(l => l.StartsWith("  epoch 2/2: loss", StringComparison.Ordinal)));

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!;
        var methods = json["methods"]!.AsObject();
        Assert.Equal(["none", "random-over", "smote"], methods.Select(kv => kv.Key));
        foreach (var (_, m) in methods)
        {
            foreach (var key in new[] { "accuracy", "balanced_accuracy", "macro_f1", "gmean", "precision_largest", "recall_smallest" })
            {
                var mean = (double)m![key]!["mean"]!;
                Assert.InRange(mean, 0, 1);
                Assert.NotNull(m[key]!["std"]);
            }
            Assert.Equal(3, m!["per_class"]!.AsArray().Count);
            Assert.NotNull(m["per_class"]![0]!["recall"]!["mean"]);
        }
        // The oversamplers filled the minority classes of the training split (32, 13, 5 after validation).
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "smote-seed0.json")))!;
        Assert.Equal([32, 32, 32], run["resampled_counts"]!.AsArray().Select(n => (int)n!));
        Assert.Equal([32, 13, 5], run["train_counts"]!.AsArray().Select(n => (int)n!));
        Assert.Equal(30, run["metrics"] is null ? 0 : run["per_class"]!.AsArray().Sum(p => (int)p!["support"]!));
        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("<svg", html);
        Assert.Contains("Confusion matrices", html);
        Assert.Contains("Recall per class", html);
        Assert.Contains("<img src=\"samples/random-over-seed0.png\"", html, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(output, "samples", "smote-seed1.png")));
        Assert.False(File.Exists(Path.Combine(output, "samples", "none-seed0.png")));
        Assert.Contains("| smote (k=2) |", File.ReadAllText(Path.Combine(output, "results.md")));

        var before = File.ReadAllText(Path.Combine(output, "runs", "none-seed1.json"));
        (code, text, err) = Run("run", file);
        Assert.Equal(0, code);
        Assert.Equal(6, text.Split('\n').Count(l => l.Contains("already finished, kept", StringComparison.Ordinal)));
        Assert.DoesNotContain("epoch 1/2", text);
        Assert.Equal(before, File.ReadAllText(Path.Combine(output, "runs", "none-seed1.json")));
    }

    [Fact]
    public void ProgressShowsTheStageAndTheTimeLeftOnATerminalAndInPlainLines()
    {
        var data = MakeDataset([20, 8, 4]);
        var file = WriteExperiment(data, $$"""
            dataset: {{data}}
            protocol: none
            validation: 0
            seeds: [0, 1]
            output: {{Path.Combine(data, "out")}}
            classifier: {name: cnn28, epochs: 2, batch_size: 8}
            methods:
              - none
              - {name: cvae, steps: 30, checkpoint_every: 30, sample_every: 30, quality: false}
            """);
        var (code, text, err) = RunOn(true, "run", file);
        Assert.True(code == 0, err + text);
        // The live bars: the experiment's with the time left once a run has finished, the run's with its stage.
        Assert.Contains("time left known after the first run", text, StringComparison.Ordinal);
        Assert.Matches(@"1/4 runs done, about \d+ s left", text);
        Assert.Matches(@"cvae seed 0 \(2/4\) · all: VAE step \d+/30 loss recon [0-9.]+ KL [0-9.]+", text);
        Assert.Contains("classifier epoch 2/2", text, StringComparison.Ordinal);

        // Redirected: plain lines, the time left on each run's first line, the VAE's losses by name.
        (code, text, err) = Run("run", file, "--out", Path.Combine(data, "plain"));
        Assert.True(code == 0, err + text);
        Assert.Contains("[1/4] none seed 0 (0.0 min elapsed, time left known after the first run)", text, StringComparison.Ordinal);
        Assert.Matches(@"\[4/4\] cvae seed 1 \([0-9.]+ min elapsed, about \d+ s left\)", text);
        Assert.Matches(@"  all: VAE step 30/30 loss recon [0-9.]+ KL [0-9.]+ lr", text);
    }

    [Fact]
    public void BadExperimentsFailInOneLineBeforeTraining()
    {
        var data = MakeDataset([12, 6, 3]);
        var output = Path.Combine(data, "out");
        string Body(string dataset, string protocol, string method) => $"""
            dataset: {dataset}
            protocol: {protocol}
            output: {output}
            classifier: cnn28
            methods: [{method}]
            """;
        foreach (var (body, expected) in new[]
        {
            (Body(data, "none", "none") + "\nbatch: 3\n", "batch: unknown key"),
            (Body(data, "none", "smoot"), "unknown method 'smoot'"),
            (Body("cifar-11", "none", "none"), "dataset: 'cifar-11' is neither a known dataset"),
            (Body(data, "counts:12,6,30", "none"), "asks for 30 images of class 2"),
            (Body(data, "drop:7:0.5", "none"), "names class 7 but the dataset has 3 classes"),
            (Body(data, "none", "none").Replace("classifier: cnn28", "classifier: {epochs: many}", StringComparison.Ordinal), "classifier.epochs: expected an integer, got 'many'"),
            (Body(data, "none", "{name: gan-per-class, loss: wgan}"), "methods[0].loss: setting 'loss' of method 'gan-per-class': expected one of gan, gan-gp, wgan-gp"),
            (Body(data, "none", "{name: cgan, arch: dcgan-huge}"), "methods[0].arch: setting 'arch' of method 'cgan': expected one of atienza, brownlee, dcgan, dcgan-deep"),
            (Body(data, "drop:2:1", "{name: smate, strategy: 'fill:2=0.5'}"), "class 2 ('class2') has no images"),
            (Body(MakeDataset([6, 6], size: 16), "none", "{name: gan-per-class, arch: brownlee}"), "GAN architecture 'brownlee' supports 32x32 images, got 1x16x16"),
            (Body(MakeDataset([6, 6], size: 12), "none", "none"), "classifier 'cnn28': images must be 16 to 128 pixels a side, got 12x12"),
        })
        {
            var file = WriteExperiment(data, body);
            var (code, text, err) = Run("run", file);
            Assert.Equal(1, code);
            Assert.StartsWith("error: ", err, StringComparison.Ordinal);
            Assert.Contains(expected, err, StringComparison.Ordinal);
            Assert.Single(err.TrimEnd().Split('\n'));
            Assert.DoesNotContain("epoch", text, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(output, "runs")));
        }
    }

    [Fact]
    public void GanTrainThenSampleWritesImagesOfTheClass()
    {
        var data = MakeDataset([12, 6, 3]);
        var gans = Path.Combine(data, "gans");
        var (code, text, err) = Run("gan", "train", "--dataset", data, "--class", "2", "--set", "steps=4", "--set", "batch_size=4", "--set", "z_dim=8", "--out", gans);
        Assert.True(code == 0, err + text);
        Assert.Contains("class2: training a dcgan GAN (wgan-gp) on 3 images for 4 steps", text, StringComparison.Ordinal);
        Assert.Contains("step 4/4 loss D", text, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(gans, "class2.generator.safetensors")));
        Assert.True(File.Exists(Path.Combine(gans, "class2.losses.csv")));

        var outDir = Path.Combine(data, "fives");
        (code, text, err) = Run("gan", "sample", "--from", gans, "--class", "2", "--count", "5", "--out", outDir);
        Assert.True(code == 0, err + text);
        Assert.Equal(5, Directory.GetFiles(Path.Combine(outDir, "class2"), "syn-*.png").Length);

        (code, _, err) = Run("gan", "sample", "--from", gans, "--class", "1", "--count", "5", "--out", Path.Combine(data, "ones"));
        Assert.Equal(1, code);
        Assert.Equal($"error: --from: no generator for class 1 in {gans} (files named classN.generator.safetensors or all.generator.safetensors)", err.TrimEnd());
        var stored = File.ReadAllBytes(Path.Combine(gans, "class2.generator.safetensors"));
        (code, _, err) = Run("gan", "train", "--dataset", data, "--class", "2", "--set", "steps=5", "--set", "batch_size=4", "--set", "z_dim=8", "--out", gans);
        Assert.Equal(1, code);
        Assert.Contains("holds a generator trained with other settings, data or seed", err, StringComparison.Ordinal);
        Assert.Equal(stored, File.ReadAllBytes(Path.Combine(gans, "class2.generator.safetensors")));
        (code, _, err) = Run("gan", "train", "--dataset", data, "--set", "loss=wgan", "--out", gans);
        Assert.Equal(1, code);
        Assert.Contains("setting 'loss' of method 'gan-per-class': expected one of gan, gan-gp, wgan-gp", err, StringComparison.Ordinal);
        (code, _, err) = Run("gan", "train", "--dataset", data, "--method", "gamo", "--out", gans);
        Assert.Equal(1, code);
        Assert.Contains("use 'rebalance resample --method gamo'", err, StringComparison.Ordinal);
    }

    /// <summary><see cref="MakeDataset"/> with Morpho-MNIST's attribute names on each split's metadata.csv,
    /// so a condition on them can be measured.</summary>
    private static string MakeAttributeDataset(int[] trainCounts)
    {
        var data = MakeDataset(trainCounts);
        foreach (var split in new[] { "train", "test" })
        {
            var rows = Directory.GetFiles(Path.Combine(data, split), "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                .Select((f, i) => $"{Path.GetRelativePath(Path.Combine(data, split), f).Replace('\\', '/')},{2 + (i % 4)},{0.1 * (i % 3)}");
            File.WriteAllLines(Path.Combine(data, split, "metadata.csv"), ["file,thickness,slant", .. rows]);
        }
        return data;
    }

    [Fact]
    public void AnExperimentReportsTheConditionCheckAndTrainsOnGeneratedImagesWhereAsked()
    {
        var data = MakeAttributeDataset([16, 8]);
        var output = Path.Combine(data, "out");
        var file = WriteExperiment(data, $$"""
            dataset: {{data}}
            protocol: none
            validation: 0
            seeds: [0]
            output: {{output}}
            classifier: {name: cnn28, epochs: 1, batch_size: 8}
            methods:
              - none
              - {name: ccgan, steps: 4, batch_size: 4, z_dim: 4, width: 8, quality: false}
              - {name: ccgan, label: ccgan-syn, steps: 4, batch_size: 4, z_dim: 4, width: 8, quality: false, strategy: "counts:20,20", train_on: synthetic}
            """);
        var (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        // The second entry reuses the first's generator, fills both classes to 20 (4 + 12 generated images)
        // and trains its classifier on those alone.
        Assert.Contains("all: reusing the trained ccgan model", text, StringComparison.Ordinal);
        var md = File.ReadAllText(Path.Combine(output, "results.md"));
        Assert.Contains("## Condition check", md, StringComparison.Ordinal);
        // The folder's made-up thickness values are not what the measure finds on its images, and the table says so.
        Assert.Matches(@"\| ccgan \| thickness \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|", md);
        Assert.Contains("| ccgan-syn | slant |", md, StringComparison.Ordinal);
        Assert.Contains("ccgan-syn (", md, StringComparison.Ordinal);
        Assert.Contains("train_on=synthetic", md, StringComparison.Ordinal);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!;
        var methods = json["methods"]!.AsObject();
        Assert.Equal(["thickness", "slant"], methods["ccgan"]!["condition_check"]!.AsArray().Select(c => (string?)c!["attribute"]));
        Assert.Null(methods["none"]!["condition_check"]);
        Assert.Contains("<h2>Condition check</h2>", File.ReadAllText(Path.Combine(output, "report.html")), StringComparison.Ordinal);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "ccgan-syn-seed0.json")))!;
        Assert.Equal(16, (int)run["synthetic"]!);
    }

    [Fact]
    public void CcganTrainsOnAttributesAndSamplesAtChosenValues()
    {
        var data = MakeAttributeDataset([12, 6]);
        var cc = Path.Combine(data, "cc");
        var (code, text, err) = Run("gan", "train", "--dataset", data, "--method", "ccgan", "--set", "steps=4", "--set", "batch_size=4", "--set", "z_dim=4", "--set", "width=8", "--out", cc);
        Assert.True(code == 0, err + text);
        Assert.Contains("training ccgan on 18 images conditioned on thickness, slant for 4 steps", text, StringComparison.Ordinal);
        Assert.Contains("condition check, thickness: generated images are off by", text, StringComparison.Ordinal);
        Assert.Contains("trained the ccgan model", text, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(cc, "all.ccgan.safetensors")));

        var outDir = Path.Combine(data, "drawn");
        (code, text, err) = Run("gan", "sample", "--from", cc, "--set", "thickness=3.5,slant=0.2", "--count", "3", "--out", outDir);
        Assert.True(code == 0, err + text);
        Assert.Equal(3, Directory.GetFiles(Path.Combine(outDir, "generated"), "syn-*.png").Length);
        Assert.Contains("measured on the images (Morpho-MNIST's measures): thickness", text, StringComparison.Ordinal);
        var meta = File.ReadAllLines(Path.Combine(outDir, "metadata.csv"));
        Assert.Equal(4, meta.Length);
        Assert.EndsWith(",3.5,0.2", meta[1], StringComparison.Ordinal);

        (code, _, err) = Run("gan", "sample", "--from", cc, "--count", "3", "--out", Path.Combine(data, "x"));
        Assert.Equal(1, code);
        Assert.Contains("is a ccgan model conditioned on thickness, slant; say where to draw, e.g. --set thickness=", err, StringComparison.Ordinal);
        (code, _, err) = Run("gan", "sample", "--from", cc, "--set", "thickness=3", "--out", Path.Combine(data, "x"));
        Assert.Equal(1, code);
        Assert.Contains("missing: slant", err, StringComparison.Ordinal);
        (code, _, err) = Run("gan", "sample", "--from", cc, "--set", "thickness=thick,slant=0", "--out", Path.Combine(data, "x"));
        Assert.Equal(1, code);
        Assert.Equal("error: --set 'thickness=thick': expected attribute=number, e.g. thickness=1.5", err.TrimEnd());
        (code, _, err) = Run("gan", "train", "--dataset", MakeDataset([8, 4]), "--method", "ccgan", "--out", Path.Combine(data, "y"));
        Assert.Equal(1, code);
        Assert.Contains("carry no attributes to condition on", err, StringComparison.Ordinal);
    }

    [Fact]
    public void GenerativeMethodsRunInAnExperimentAndReuseTheirGenerators()
    {
        var data = MakeDataset([12, 6, 3]);
        var output = Path.Combine(data, "out");
        const string gan = "name: gan-per-class, steps: 4, batch_size: 4, z_dim: 8, checkpoint_every: 2, eval_every: 2";
        const string cls = "{name: cnn28, epochs: 1, batch_size: 8}";
        var half = "{" + gan + ", label: gan-half, strategy: 'fill:2=0.5'}";
        var full = "{" + gan + ", label: gan-full}";
        var file = WriteExperiment(data, $"""
            dataset: {data}
            protocol: none
            validation: 0
            seeds: [0]
            output: {output}
            classifier: {cls}
            methods:
              - none
              - {half}
              - {full}
            """);
        var (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        // The second label shares the method, settings, data and seed: class 2's generator is reused.
        Assert.Single(text.Split('\n'), l => l.Contains("class2: training a dcgan GAN", StringComparison.Ordinal));
        Assert.Contains("gan-full seed 0: class2: reusing the trained generator", text, StringComparison.Ordinal);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "gan-half-seed0.json")))!;
        Assert.Equal([12, 6, 6], run["resampled_counts"]!.AsArray().Select(n => (int)n!));
        Assert.True(File.Exists(Path.Combine(output, "samples", "gan-full-seed0-generator-class1.png")));
        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("samples/gan-half-seed0-generator-class2.png", html, StringComparison.Ordinal);
        Assert.Single(Directory.GetDirectories(Path.Combine(output, "checkpoints")));
        // One seed: no spread is printed; the run's log is kept under logs/.
        Assert.DoesNotContain("±", File.ReadAllText(Path.Combine(output, "results.md")), StringComparison.Ordinal);
        var log = Assert.Single(Directory.GetFiles(Path.Combine(output, "logs"), "run-*.log"));
        Assert.Contains("gan-half seed 0: class2: training a dcgan GAN", File.ReadAllText(log), StringComparison.Ordinal);
        var (checkCode, checkText, _) = Run("run", file, "--check");
        Assert.Equal(0, checkCode);
        Assert.Contains("classifier cnn28: ", checkText, StringComparison.Ordinal);
        Assert.Contains(" parameters (1x28x28 images, 3 classes)", checkText, StringComparison.Ordinal);
    }

    [Fact]
    public void SeedsCanBeRunAShareAtATime()
    {
        var data = MakeDataset([12, 6, 3]);
        var output = Path.Combine(data, "out");
        var file = WriteExperiment(data, $$"""
            dataset: {{data}}
            protocol: none
            validation: 0
            seeds: [0, 1]
            output: {{output}}
            classifier: {name: cnn28, epochs: 1, batch_size: 8}
            methods: [none]
            """);
        var (code, text, err) = Run("run", file, "--seeds", "1");
        Assert.True(code == 0, err + text);
        Assert.Equal(["none-seed1.json"], Directory.GetFiles(Path.Combine(output, "runs")).Select(Path.GetFileName));
        Assert.Equal([1UL], JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!["seeds"]!.AsArray().Select(v => (ulong)v!));
        (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(output, "runs")).Length);
        (code, _, err) = Run("run", file, "--seeds", "0,5");
        Assert.Equal(1, code);
        Assert.Equal("error: --seeds: '5' is not one of the file's seeds (0, 1)", err.TrimEnd());
    }

    /// <summary>A copy of a JSON tree without the keys that time or place the work (seconds, commit, dates).</summary>
    private static JsonNode? WithoutTimes(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                return new JsonObject(o.Where(kv => !kv.Key.Contains("seconds", StringComparison.Ordinal) && kv.Key is not ("commit" or "started" or "finished"))
                    .Select(kv => KeyValuePair.Create(kv.Key, WithoutTimes(kv.Value))));
            case JsonArray a:
                return new JsonArray([.. a.Select(WithoutTimes)]);
            default:
                return node?.DeepClone();
        }
    }

    [Fact]
    public async Task TwoShardsRunningAtOnceThenReportGiveTheSameResultsAsOneRun()
    {
        var data = MakeDataset([30, 12, 5]);
        string Experiment(string output) => WriteExperiment(Directory.CreateDirectory(Path.Combine(data, Path.GetFileName(output) + "-file")).FullName, $$"""
            name: sharded
            dataset: {{data}}
            protocol: none
            validation: 0.2
            seeds: [0, 1]
            output: {{output}}
            classifier: {name: cnn28, epochs: 1, batch_size: 16}
            methods:
              - none
              - random-over
              - {name: smote, k: 2}
            """);
        var single = Path.Combine(data, "single");
        var (code, text, err) = Run("run", Experiment(single));
        Assert.True(code == 0, err + text);

        var shared = Path.Combine(data, "shared");
        var file = Experiment(shared);
        var shards = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => Task.Run(() => Run("run", file, "--shard", $"{i}/2"))));
        foreach (var (c, t, e) in shards)
        {
            Assert.True(c == 0, e + t);
            Assert.Contains("once every shard is done: rebalance report", t, StringComparison.Ordinal);
        }
        // Shard 0 ran none/smote of seed 0 and random-over of seed 1; shard 1 the other three.
        Assert.Contains("shard 0/2: 3 of them (none seed 0, smote seed 0, random-over seed 1)", shards[0].Out, StringComparison.Ordinal);
        Assert.Equal(6, Directory.GetFiles(Path.Combine(shared, "runs")).Length);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(shared, "shards")).Length);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(shared, "logs")).Length);
        Assert.False(File.Exists(Path.Combine(shared, "results.json")));
        Assert.Empty(Directory.GetFiles(shared, ".*.tmp", SearchOption.AllDirectories));

        (code, text, err) = Run("report", shared);
        Assert.True(code == 0, err + text);
        Assert.Contains("6 finished run(s) of 6", text, StringComparison.Ordinal);
        foreach (var name in Directory.GetFiles(Path.Combine(single, "runs")).Select(Path.GetFileName))
        {
            Assert.Equal(WithoutTimes(JsonNode.Parse(File.ReadAllText(Path.Combine(single, "runs", name!))))!.ToJsonString(),
                WithoutTimes(JsonNode.Parse(File.ReadAllText(Path.Combine(shared, "runs", name!))))!.ToJsonString());
        }
        var expected = WithoutTimes(JsonNode.Parse(File.ReadAllText(Path.Combine(single, "results.json"))))!.ToJsonString();
        Assert.Equal(expected, WithoutTimes(JsonNode.Parse(File.ReadAllText(Path.Combine(shared, "results.json"))))!.ToJsonString());
        Assert.Contains("| smote (k=2) |", File.ReadAllText(Path.Combine(shared, "results.md")), StringComparison.Ordinal);
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(shared, "report.html")), StringComparison.Ordinal);

        // A missing run: the summaries cover the finished ones and say which are not.
        File.Delete(Path.Combine(shared, "runs", "smote-seed1.json"));
        (code, text, err) = Run("report", shared);
        Assert.True(code == 0, err + text);
        Assert.Contains("1 of 6 runs are not finished (smote seed 1)", text, StringComparison.Ordinal);
        var merged = JsonNode.Parse(File.ReadAllText(Path.Combine(shared, "results.json")))!;
        Assert.Equal([0UL], merged["methods"]!["smote"]!["seeds"]!.AsArray().Select(v => (ulong)v!));

        // A damaged manifest, not an output folder, a shard out of range: one line each, exit code 1.
        var manifest = Directory.GetFiles(Path.Combine(shared, "shards"))[0];
        File.WriteAllText(manifest, "{\"experiment\": 3");
        (code, _, err) = Run("report", shared);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {manifest}: not a run manifest", err, StringComparison.Ordinal);
        Assert.Single(err.TrimEnd().Split('\n'));
        File.Delete(manifest);
        (code, _, err) = Run("report", data);
        Assert.Equal(1, code);
        Assert.Equal($"error: {data}: neither experiment.json nor shards/shard-*.json is there; give the output folder of a 'rebalance run'", err.TrimEnd());
        (code, _, err) = Run("run", file, "--shard", "2/2");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --shard: '2/2' is not I/N with 0 <= I < N", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchesScoreTrialsOnValidationChooseTheBestAndShardsShareTheTrials()
    {
        Rebalance.Evaluation.Search.PollInterval = TimeSpan.FromMilliseconds(50);
        var data = MakeDataset([30, 12, 5]);
        string Experiment(string output) => WriteExperiment(Directory.CreateDirectory(Path.Combine(data, Path.GetFileName(output) + "-file")).FullName, $$"""
            name: searched
            dataset: {{data}}
            protocol: none
            validation: 0.3
            seeds: [0, 1]
            output: {{output}}
            classifier: {name: cnn28, epochs: 4, batch_size: 16}
            methods:
              - none
              - name: smote
                search: {k: [1, 2, 3]}
              - name: class-weights
                search:
                  strategy: halving
                  trials: 4
                  eta: 2
                  power: {min: 0.25, max: 2, log: true}
            """);
        var single = Path.Combine(data, "single");
        var file = Experiment(single);
        var (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(single, "results.json")))!["methods"]!;

        // Grid: three trials at the full budget; the choice is the best validation score (ties: the first).
        var grid = results["smote"]!["search"]!;
        Assert.Equal("grid", (string)grid["strategy"]!);
        var trials = grid["trials"]!.AsArray();
        Assert.Equal(["1", "2", "3"], trials.Select(t => (string)t!["settings"]!["k"]!));
        Assert.All(trials, t => Assert.Equal(1.0, (double)t!["budget"]!));
        var best = trials.OrderByDescending(t => (double)t!["score"]!).ThenBy(t => (int)t!["candidate"]!).First()!;
        Assert.Equal((string)best["settings"]!["k"]!, (string)grid["chosen"]!["k"]!);
        Assert.Equal([0UL], grid["seeds"]!.AsArray().Select(v => (ulong)v!));
        // Every seed ran with the chosen k, which the runs' settings record.
        Assert.Equal((string)grid["chosen"]!["k"]!, (string)results["smote"]!["settings"]!["k"]!);
        Assert.Contains($"smote (k={(string)grid["chosen"]!["k"]!})", File.ReadAllText(Path.Combine(single, "results.md")), StringComparison.Ordinal);

        // Halving: 4 draws at budget 1/4 (1 epoch), the best 2 at 1/2, the best 1 at the full budget.
        var halving = results["class-weights"]!["search"]!;
        var ht = halving["trials"]!.AsArray();
        Assert.Equal([0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 1.0], ht.Select(t => (double)t!["budget"]!));
        var rung0 = ht.Take(4).OrderByDescending(t => (double)t!["score"]!).ThenBy(t => (int)t!["candidate"]!).Take(2).Select(t => (int)t!["candidate"]!).Order();
        Assert.Equal(rung0, ht.Skip(4).Take(2).Select(t => (int)t!["candidate"]!).Order());
        Assert.All(ht.Take(4), t => Assert.InRange(double.Parse((string)t!["settings"]!["power"]!, System.Globalization.CultureInfo.InvariantCulture), 0.25, 2));
        Assert.Equal((string)ht[6]!["settings"]!["power"]!, (string)halving["chosen"]!["power"]!);
        Assert.Contains("## Hyper-parameter search", File.ReadAllText(Path.Combine(single, "results.md")), StringComparison.Ordinal);
        Assert.Contains("<h2>Hyper-parameter search</h2>", File.ReadAllText(Path.Combine(single, "report.html")), StringComparison.Ordinal);

        // A rerun reuses every trial and run.
        (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        Assert.DoesNotContain(": trial ", text, StringComparison.Ordinal);
        Assert.Contains("smote: search chose k=", text, StringComparison.Ordinal);

        // Two shards at once share the trials (each runs its part of every rung and waits for the other's),
        // and their merge equals the single run.
        var shared = Path.Combine(data, "shared");
        var sharedFile = Experiment(shared);
        var shards = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => Task.Run(() => Run("run", sharedFile, "--shard", $"{i}/2"))));
        foreach (var (c, t, e) in shards)
        {
            Assert.True(c == 0, e + t);
        }
        Assert.True(shards.All(x => x.Out.Contains(": trial ", StringComparison.Ordinal)), "each shard ran some trials");
        Assert.Equal(3 + 7, Directory.GetFiles(Path.Combine(shared, "search"), "trial-*.json", SearchOption.AllDirectories).Length);
        (code, text, err) = Run("report", shared);
        Assert.True(code == 0, err + text);
        Assert.Equal(WithoutTimes(JsonNode.Parse(File.ReadAllText(Path.Combine(single, "results.json"))))!.ToJsonString(),
            WithoutTimes(JsonNode.Parse(File.ReadAllText(Path.Combine(shared, "results.json"))))!.ToJsonString());
    }

    [Fact]
    public void AutoPicksTheBestScreenedCandidatePerSeedAndRecommendRanksTheSame()
    {
        var data = MakeDataset([30, 12, 5]);
        var output = Path.Combine(data, "out");
        var file = WriteExperiment(data, $$"""
            dataset: {{data}}
            protocol: none
            validation: 0.3
            seeds: [0, 1]
            output: {{output}}
            classifier: {name: cnn28, epochs: 3}
            methods:
              - none
              - random-over
              - {name: smote, k: 2}
              - name: auto
                candidates: [none, random-over, {name: smote, k: 2}]
            """);
        var (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        var picks = new Dictionary<ulong, string>();
        foreach (var seed in new ulong[] { 0, 1 })
        {
            var run = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", $"auto-seed{seed}.json")))!;
            var screening = run["auto"]!["screening"]!.AsArray();
            Assert.Equal(3, screening.Count);
            // Best first, and the pick is the first.
            var scores = screening.Select(x => (double)x!["score"]!).ToList();
            Assert.Equal(scores.OrderByDescending(v => v), scores);
            var picked = (string)run["auto"]!["picked"]!;
            Assert.Equal((string)screening[0]!["label"]!, picked);
            picks[seed] = picked;
            // The pick's full run is the picked method's own run for this seed: the same test figures.
            var same = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", $"{picked}-seed{seed}.json")))!;
            Assert.Equal(same["metrics"]!.ToJsonString(), run["metrics"]!.ToJsonString());
        }
        var md = File.ReadAllText(Path.Combine(output, "results.md"));
        Assert.Contains("## Automatic method choice", md, StringComparison.Ordinal);
        Assert.Contains($"| auto | 1 | {picks[1]} |", md, StringComparison.Ordinal);
        Assert.Contains("<h2>Automatic method choice</h2>", File.ReadAllText(Path.Combine(output, "report.html")), StringComparison.Ordinal);
        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!["methods"]!["auto"]!["auto"]!.AsArray().Count);

        // recommend screens the same way for one seed (the same classifier, epochs and validation share).
        (code, text, err) = Run("recommend", data, "--candidates", "none,random-over,smote", "--classifier", "cnn28", "--epochs", "3", "--validation", "0.3", "--seed", "0", "--out", Path.Combine(data, "rec"));
        Assert.True(code == 0, err + text);
        Assert.Matches(@"screening 3 method\(s\) on .*, seed 0: \d+ training and \d+ validation images, cnn28 for 1 of 3 epochs each", text);
        // smote's k differs (the default 5 here), so compare the classic pair whose settings agree.
        var auto0 = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "auto-seed0.json")))!["auto"]!["screening"]!.AsArray();
        foreach (var label in new[] { "none", "random-over" })
        {
            var score = (double)auto0.First(x => (string)x!["label"]! == label)!["score"]!;
            Assert.Contains($"│ {label}", text, StringComparison.Ordinal);
            Assert.Contains((score * 100).ToString("F2", System.Globalization.CultureInfo.InvariantCulture), text, StringComparison.Ordinal);
        }
        Assert.Contains("recommended: ", text, StringComparison.Ordinal);
        (code, _, err) = Run("recommend", data, "--candidates", "none,smotte");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --candidates: unknown method 'smotte'", err, StringComparison.Ordinal);
        (code, _, err) = Run("recommend", data, "--budget", "0");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --budget: expected a share", err, StringComparison.Ordinal);
    }

    [Fact]
    public void BadSearchesFailInOneLine()
    {
        var data = MakeDataset([6, 4, 3]);
        foreach (var (search, expected) in new[]
        {
            ("{k: [1, 2], strategy: random}", "strategy random needs 'trials'"),
            ("{k: {min: 1, max: 5, int: true}}", "strategy random needs 'trials'"),
            ("{k: {min: 1, max: 5, int: true}, strategy: grid}", "a grid needs lists of values"),
            ("{k: {min: 1, max: 5}, trials: 3}", "value '2.48'"),
            ("{k: [1, 2], steps: [10, 20], strategy: halving, trials: 2}", "value '10'"),
            ("{k: [1, 1]}", "expected a list of distinct values"),
            ("{k: 3}", "expected a list of values"),
            ("{k: [1, 0]}", "value '0'"),
            ("{kk: [1, 2]}", "value '1'"),
            ("{trials: 3}", "name at least one setting to search"),
            ("{k: {min: 0, max: 4, log: true}, trials: 2}", "a log range needs 0 < min < max"),
        })
        {
            var file = WriteExperiment(data, $"dataset: {data}\nmethods:\n  - name: smote\n    search: {search}\n");
            var (code, _, err) = Run("run", file, "--check");
            Assert.True(code == 1, search);
            Assert.Contains(expected, err, StringComparison.Ordinal);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("methods[0].search", err, StringComparison.Ordinal);
        }
        var noValidation = WriteExperiment(data, $"dataset: {data}\nvalidation: 0\nmethods:\n  - name: smote\n    search: {{k: [1, 2]}}\n");
        Assert.Contains("trials are scored on the validation split", Run("run", noValidation, "--check").Err, StringComparison.Ordinal);
        var budget = WriteExperiment(data, $"dataset: {data}\nmethods:\n  - name: cgan\n    search: {{steps: [10, 20], strategy: halving, trials: 2}}\n");
        Assert.Contains("successive halving scales this setting as the budget", Run("run", budget, "--check").Err, StringComparison.Ordinal);
        var both = WriteExperiment(data, $"dataset: {data}\nmethods:\n  - name: smote\n    k: 2\n    search: {{k: [1, 2]}}\n");
        Assert.Contains("'k' is also set in the method entry", Run("run", both, "--check").Err, StringComparison.Ordinal);
    }

    [Fact]
    public void GenerativeMethodsAreJudgedAndAStoredRunIsJudgedAgainWithoutRetraining()
    {
        var data = MakeDataset([30, 30, 12]);
        var output = Path.Combine(data, "out");
        string Body(int perClass) => $$"""
            dataset: {{data}}
            protocol: none
            validation: 0
            seeds: [0]
            output: {{output}}
            classifier: {name: cnn28, epochs: 1, batch_size: 8}
            quality: {per_class: {{perClass}}, judge_epochs: 2, tsne_per_class: 8}
            methods:
              - {name: gan-per-class, label: gan, strategy: 'fill:2=1', steps: 4, batch_size: 4, z_dim: 8, cas: true}
              - {name: smote, strategy: 'fill:2=1', k: 3}
              - {name: smote, label: smote-judged, strategy: 'fill:2=1', k: 3, quality: true}
              - {name: cvae, strategy: 'fill:2=1', steps: 4, batch_size: 4, z_dim: 4}
            """;
        var file = WriteExperiment(data, Body(1000));
        var (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        // The judge is trained once per dataset (or found in the cache from an earlier run of this test):
        // on 90% of the training split (27, 27 and 11 images), class 2 oversampled to 27.
        Assert.Matches("judge: (training cnn28 on 81 images|reusing .*judge-)", text);
        Assert.Contains("gan seed 0: judged 18 added images: FID ", text, StringComparison.Ordinal);
        Assert.Contains("gan seed 0: train-on-synthetic: recall of the generated class(es) 2: ", text, StringComparison.Ordinal);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "gan-seed0.json")))!;
        var q = run["quality"]!;
        foreach (var key in new[] { "fid", "kid", "inception_score", "precision", "recall", "density", "coverage", "near_copy_share", "ssim_near_copy_share", "judge", "confusion", "tsne", "cas", "key" })
        {
            Assert.True(q[key] is not null, $"quality.{key} missing");
        }
        Assert.Equal(18, (int)q["per_class"]!["class2"]!["count"]!);
        // As many generated images as the class has before the protocol (here none: its 12).
        Assert.Equal(12, (int)q["cas"]!["images_per_class"]!["class2"]!);
        // t-SNE: 8 real test images of each of the 3 classes and 8 of the 18 generated ones, in the
        // judge's features and in those of the discriminator kept beside the generator.
        Assert.Equal(32, q["tsne"]!["x"]!.AsArray().Count);
        Assert.Equal(32, q["tsne_discriminator"]!["class2"]!["x"]!.AsArray().Count);
        // A VAE keeps its encoder: its map is of the encoder's features.
        var cvae = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "cvae-seed0.json")))!["quality"]!;
        Assert.Equal(32, cvae["tsne_encoder"]!["all"]!["x"]!.AsArray().Count);
        Assert.StartsWith("checkpoints/gan-per-class-seed0-", (string)run["model_folder"]!, StringComparison.Ordinal);
        // SMOTE is judged only when asked.
        Assert.Null(JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "smote-seed0.json")))!["quality"]);
        Assert.NotNull(JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "smote-judged-seed0.json")))!["quality"]!["fid"]);

        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!["methods"]!;
        Assert.NotNull(results["gan"]!["quality"]!["fid"]!["mean"]);
        Assert.NotNull(results["gan"]!["quality"]!["cas"]!["generated_class_recall"]!["mean"]);
        Assert.Null(results["smote"]!["quality"]);
        var md = File.ReadAllText(Path.Combine(output, "results.md"));
        Assert.Contains("## Generated images", md, StringComparison.Ordinal);
        Assert.Contains("| train-on-synthetic recall |", md, StringComparison.Ordinal);
        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        foreach (var section in new[] { "<h2>Generated images</h2>", "<h3>Per generated class</h3>", "<h3>Mode collapse</h3>", "<h3>t-SNE of judge features</h3>", "<h3>Generator training</h3>" })
        {
            Assert.Contains(section, html, StringComparison.Ordinal);
        }
        // Three methods' sample grids; charts: metric bars, confusion matrices, mode collapse, t-SNE, losses, curves.
        Assert.Contains("its discriminator class2's features", html, StringComparison.Ordinal);
        Assert.Contains("its encoder all's features", html, StringComparison.Ordinal);
        BrowserCheck.AssertRendersWell(Path.Combine(output, "report.html"), minImages: 4, minCharts: 16);

        // Other judging settings: the classifier runs stand, only the judging is done again, with the
        // generator loaded rather than trained.
        var trainSeconds = (double)run["train_seconds"]!;
        File.WriteAllText(file, Body(10));
        (code, text, err) = Run("run", file);
        Assert.True(code == 0, err + text);
        Assert.Contains("gan seed 0: stored run reused; judging its added images", text, StringComparison.Ordinal);
        Assert.Contains("gan seed 0: class2: reusing the trained generator", text, StringComparison.Ordinal);
        Assert.DoesNotContain("training a dcgan GAN", text, StringComparison.Ordinal);
        Assert.DoesNotContain("smote seed 0: stored run reused", text, StringComparison.Ordinal);
        run = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "runs", "gan-seed0.json")))!;
        Assert.Equal(trainSeconds, (double)run["train_seconds"]!);
        Assert.Equal(10, (int)run["quality"]!["generated"]!);
    }

    [Fact]
    public void CommandsOnAFolderWithoutATestSplitHoldOutTheTestSplitThatRunUses()
    {
        // data/train alone is a class-folder dataset without a test split: run holds out 20% of each class.
        var folder = Path.Combine(MakeDataset([15, 10, 5]), "train");
        var (_, test) = Evaluation.Runner.LoadTrainTest(folder, 0.2);
        Assert.Equal([3, 2, 1], test.ClassCounts());
        var testImages = Enumerable.Range(0, test.Count).Select(i => Convert.ToHexString(test.Image(i))).ToHashSet();

        var resampled = Path.Combine(folder, "..", "resampled");
        var (code, text, err) = Run("resample", "--dataset", folder, "--method", "random-over", "--out", resampled);
        Assert.True(code == 0, err);
        Assert.Contains("has no test split: 6 images (20 % of each class, fixed for all seeds) are held out", text.Replace("\n", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var back = ImageFolder.Load(resampled);
        Assert.Equal([12, 12, 12], back.ClassCounts());
        Assert.DoesNotContain(Enumerable.Range(0, back.Count), i => testImages.Contains(Convert.ToHexString(back.Image(i))));

        (code, text, err) = Run("gan", "train", "--dataset", folder, "--class", "2", "--set", "steps=2", "--set", "batch_size=4", "--set", "z_dim=8", "--out", Path.Combine(folder, "..", "gans"));
        Assert.True(code == 0, err);
        Assert.Contains("held out as the test set", text, StringComparison.Ordinal);
        Assert.Contains("on 4 images", text, StringComparison.Ordinal);

        var exported = Path.Combine(folder, "..", "exported");
        (code, _, err) = Run("data", "export", folder, "--protocol", "none", "--out", exported);
        Assert.True(code == 0, err);
        Assert.Equal([3, 2, 1], ImageFolder.Load(Path.Combine(exported, "test")).ClassCounts());
        var exportedTrain = ImageFolder.Load(Path.Combine(exported, "train"));
        Assert.DoesNotContain(Enumerable.Range(0, exportedTrain.Count), i => testImages.Contains(Convert.ToHexString(exportedTrain.Image(i))));
    }

    [Fact]
    public void QualityJudgesAFolderOfImagesAndRefusesOnesThatDoNotFit()
    {
        var data = MakeDataset([30, 30, 30]);
        var outDir = Path.Combine(data, "q");
        // A "generator" that returns its training images: the near-copy share must be high.
        var (code, text, err) = Run("quality", "--real", data, "--fake", Path.Combine(data, "train"), "--per-class", "20", "--out", outDir);
        Assert.True(code == 0, err + text);
        var q = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "quality.json")))!;
        foreach (var key in new[] { "fid", "kid", "inception_score", "precision", "recall", "density", "coverage", "near_copy_share", "judge", "per_class", "confusion" })
        {
            Assert.True(q.AsObject().ContainsKey(key), $"quality.json lacks '{key}'");
        }
        Assert.Equal(60, (int)q["generated"]!);
        Assert.Equal(20, (int)q["per_class"]!["class1"]!["count"]!);
        Assert.True((double)q["near_copy_share"]! > 0.5, $"training images judged near-copies: {q["near_copy_share"]}");
        Assert.Contains("<h2>Mode collapse</h2>", File.ReadAllText(Path.Combine(outDir, "quality.html")), StringComparison.Ordinal);
        BrowserCheck.AssertRendersWell(Path.Combine(outDir, "quality.html"), minImages: 0, minCharts: 2);

        var odd = Path.Combine(data, "odd");
        Directory.CreateDirectory(Path.Combine(odd, "zebra"));
        Png.WritePlanar(Path.Combine(odd, "zebra", "0.png"), 1, 28, 28, new byte[784], durable: false);
        (code, _, err) = Run("quality", "--real", data, "--fake", odd, "--out", outDir);
        Assert.Equal(1, code);
        Assert.Equal($"error: {odd}: class folder 'zebra' is not a class of the dataset (its classes: class0, class1, class2)", err.TrimEnd());
        var small = Path.Combine(data, "small");
        Png.WritePlanar(Path.Combine(small, "class0", "0.png"), 1, 8, 8, new byte[64], durable: false);
        (code, _, err) = Run("quality", "--real", data, "--fake", small, "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("images are 1x8x8, but the dataset's are 1x28x28", err, StringComparison.Ordinal);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void ResampleWritesTheRebalancedTrainingSet()
    {
        var data = MakeDataset([12, 6, 3]);
        var output = Path.Combine(data, "resampled");
        var (code, text, err) = Run("resample", "--dataset", data, "--method", "smote", "--set", "k=2", "--out", output);
        Assert.True(code == 0, err);
        Assert.Contains("0:12 1:12 2:12, 15 synthetic", text);
        var back = ImageFolder.Load(output);
        Assert.Equal([12, 12, 12], back.ClassCounts());
        Assert.Equal(9, Directory.GetFiles(Path.Combine(output, "class2")).Count(f => Path.GetFileName(f).StartsWith("syn-", StringComparison.Ordinal)));
        (code, _, err) = Run("resample", "--dataset", data, "--method", "smote", "--set", "q=2", "--out", Path.Combine(data, "other"));
        Assert.Equal(1, code);
        Assert.Contains("unknown setting 'q' for method 'smote'", err);
    }
}
