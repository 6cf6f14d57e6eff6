using Rebalance.Data;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Methods;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;
using Rebalance.Tensors.Tests;
using static Rebalance.Generative.Tests.BandImages;

namespace Rebalance.Generative.Tests;

/// <summary>GAMO: its objectives against values worked out by hand, their gradients against finite
/// differences, the convex generator's samples, exact resume, and a tiny run.</summary>
public sealed class GamoTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-gamo-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    // Two real images (classes 1 and 2) and two generated ones (classes 0 and 2, weights 0.2 and 0.35), K = 3.
    private static readonly Tensor RealLogits = Tensor.FromArray([1.0, 2.0, 0.5, 0.2, -0.3, 0.1], 2, 3);
    private static readonly Tensor GenLogits = Tensor.FromArray([0.5, -1.0, 1.5, 2.0, 0.0, -1.0], 2, 3);
    private static readonly Tensor RealLabels = Tensor.FromArray([1, 2], 2);
    private static readonly Tensor GenLabels = Tensor.FromArray([0, 2], 2);
    private static readonly Tensor Weights = Tensor.FromArray([0.2, 0.35], 2);

    [Fact]
    public void TheObjectivesMatchHandComputedValues()
    {
        // ℓ([1, 2, 0.5], 1) = −log M_1 − log(1 − M_0) − log(1 − M_2) with M the softmax (worked out in full
        // precision outside the engine).
        var l = GamoLosses.OneAgainstRest(RealLogits, RealLabels).ToDoubleArray();
        Assert.Equal(0.878431386822859, l[0], 9);
        Assert.Equal(1.8050710541862545, l[1], 9);
        // J = mean of the real ℓ + 0.2·ℓ(gen 0) + 0.35·ℓ(gen 1).
        Assert.Equal(3.6634308033678837, GamoLosses.ClassifierObjective(RealLogits, RealLabels, GenLogits, GenLabels, Weights).Item(), 9);
        Assert.Equal(2.321679582863327, GamoLosses.GeneratedPart(GenLogits, GenLabels, Weights).Item(), 9);
        // Q = mean log σ(real) + 0.2·log(1 − σ(0.8)) + 0.35·log(1 − σ(−0.4)).
        var real = Tensor.FromArray([0.3, -1.2], 2);
        var fake = Tensor.FromArray([0.8, -0.4], 2);
        Assert.Equal(-1.422594327432818, GamoLosses.DiscriminatorObjective(real, fake, Weights).Item(), 9);
        Assert.Equal(-0.413775471529539, GamoLosses.FakePart(fake, Weights).Item(), 9);
        // A classifier sure of the right class costs nothing, and stays finite when sure of a wrong one.
        var sure = GamoLosses.OneAgainstRest(Tensor.FromArray([0.0, 200.0, 0.0, 0.0, 200.0, 0.0], 2, 3), Tensor.FromArray([1, 0], 2)).ToDoubleArray();
        Assert.Equal(0, sure[0], 9);
        // Sure of class 1 for an image of class 0: −log M_0 ≈ 200 and −log(1 − M_1) = −log(2/(2 + e²⁰⁰)) ≈ 200 − log 2.
        Assert.Equal(400 - Math.Log(2), sure[1], 6);
        Assert.Throws<ArgumentException>(() => GamoLosses.OneAgainstRest(Tensor.FromArray([1.0, 2.0], 2, 1), RealLabels));
    }

    [Fact]
    public void TheObjectivesGradientsMatchFiniteDifferences()
    {
        GradCheck.Check(x => GamoLosses.ClassifierObjective(x[0], RealLabels, x[1], GenLabels, Weights), [RealLogits, GenLogits], secondOrder: false);
        GradCheck.Check(x => GamoLosses.DiscriminatorObjective(x[0], x[1], Weights), [Tensor.FromArray([0.3, -1.2], 2), Tensor.FromArray([0.8, -0.4], 2)], secondOrder: false);
    }

    [Fact]
    public void TheGeneratorMakesConvexCombinationsOfEachClasssImages()
    {
        // Class 0 has 3 images of 4 pixels, class 2 has 2.
        var images = new[]
        {
            Tensor.FromArray([-1f, 0, 0.5f, 1, 0, 0, 0, 0, 1, 1, -1, -1], 3, 4),
            Tensor.FromArray([0.25f, 0.5f, 0.75f, -0.5f, -0.25f, 0, 0.5f, 1], 2, 4),
        };
        var g = new GamoGenerator(5, 3, [0, 2], [3, 2], new Generator(1));
        var (x, w) = g.Forward(new Generator(2).Normal([7, 5]), [4, 3], images);
        Assert.Equal([7, 4], x.Shape);
        for (var k = 0; k < 2; k++)
        {
            var weights = w[k].ToDoubleArray();
            var rows = w[k].Size(0);
            var cols = w[k].Size(1);
            Assert.All(weights, v => Assert.True(v > 0));
            for (var r = 0; r < rows; r++)
            {
                Assert.Equal(1.0, weights.Skip(r * cols).Take(cols).Sum(), 5);
            }
        }
        // The first block's rows are weights · class 0's images; the second's · class 2's.
        var samples = x.ToDoubleArray();
        var w0 = w[0].ToDoubleArray();
        var img0 = images[0].ToDoubleArray();
        for (var p = 0; p < 4; p++)
        {
            Assert.Equal((w0[0] * img0[p]) + (w0[1] * img0[4 + p]) + (w0[2] * img0[8 + p]), samples[p], 5);
        }
        var w1 = w[1].ToDoubleArray();
        var img1 = images[1].ToDoubleArray();
        Assert.Equal((w1[0] * img1[0]) + (w1[1] * img1[4]), samples[4 * 4], 5);
    }

    [Fact]
    public void ATinyGamoAddsImagesOfTheirClassAndResumesExactly()
    {
        var train = Bands([40, 40, 6], 5);
        var settings = new MethodSettings("gamo", new Dictionary<string, string> { ["steps"] = "120", ["batch_size"] = "24", ["checkpoint_every"] = "10" });
        var result = GenerativeMethods.Create("gamo", settings, new GenerativeContext { CheckpointRoot = _dir }).FitResample(train, SamplingStrategy.Parse("fill:2=1"), 3);
        Assert.Equal([40, 40, 40], result.Train.ClassCounts());
        var rows = File.ReadAllLines(Path.Combine(result.ModelFolder!, "all.losses.csv")).Skip(1).Select(l => l.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.Equal(120, rows.Length);
        Assert.True(rows[^10..].Average(r => r[1]) < rows[..10].Average(r => r[1]) * 0.5, "the classifier's objective J did not fall");
        Assert.True(File.Exists(Path.Combine(result.ModelFolder!, "all.gamo.safetensors")));
        Assert.True(File.Exists(Path.Combine(result.ModelFolder!, "all.samples.png")));
        // Convex combinations of class 2's images keep its band (rows 18-22), not the others'.
        var added = Enumerable.Range(0, result.Train.Count).Where(result.Train.IsSynthetic).ToArray();
        Assert.Equal(34, added.Length);
        Assert.All(added, i => Assert.True(Rows(result.Train.Image(i), 20) > 3 * Math.Max(Rows(result.Train.Image(i), 4), Rows(result.Train.Image(i), 12))));
        // Not copies: a generated image differs from each of the six it is made from.
        var firstAdded = result.Train.Image(added[0]).ToArray();
        Assert.All(train.IndicesOf(2), i => Assert.NotEqual(train.Image(i).ToArray(), firstAdded));

        // Stopped at step 15 (checkpoint at 10) and resumed, training ends where an uninterrupted run does.
        var s = GamoSettings.Read(new MethodSettings("gamo", new Dictionary<string, string> { ["steps"] = "20", ["batch_size"] = "24", ["checkpoint_every"] = "10" }));
        var counts = train.ClassCounts();
        GamoTrainer Make(out (GamoGenerator G, Nn.Sequential M, Nn.Sequential D) nets)
        {
            nets = Gamo.Create(s, 784, 3, [2], counts, 3);
            return new GamoTrainer(s, nets.G, nets.M, nets.D, [2], counts, [Gamo.ClassImages(train, 2)], 3);
        }
        Make(out var whole).Train(train, Path.Combine(_dir, "whole"), "all", "k");
        Assert.False(Make(out _).Train(train, Path.Combine(_dir, "split"), "all", "k", stopAfter: 15));
        Assert.True(Make(out var resumed).Train(train, Path.Combine(_dir, "split"), "all", "k"));
        foreach (var (a, b) in new Nn.Module[] { whole.G, whole.M, whole.D }.Zip(new Nn.Module[] { resumed.G, resumed.M, resumed.D }))
        {
            foreach (var (name, t) in a.StateDict())
            {
                Assert.Equal(t.ToDoubleArray(), b.StateDict()[name].ToDoubleArray());
            }
        }
    }

    [Fact]
    public void ClassesOfAnySizeWorkAndBadRequestsAreRefused()
    {
        // 10x6 RGB images: GAMO works on flattened pixels.
        var rng = new Random(2);
        var pixels = Enumerable.Range(0, 30 * 180).Select(_ => (byte)rng.Next(256)).ToArray();
        var data = new Dataset("rgb", pixels, [.. Enumerable.Range(0, 30).Select(i => i < 24 ? 0 : 1)], 3, 10, 6, ["a", "b"]);
        var settings = new MethodSettings("gamo", new Dictionary<string, string> { ["steps"] = "5", ["batch_size"] = "8" });
        var result = GenerativeMethods.Create("gamo", settings).FitResample(data, SamplingStrategy.Auto, 1);
        Assert.Equal([24, 24], result.Train.ClassCounts());
        Assert.Contains("steps", Assert.Throws<SettingException>(() => GenerativeMethods.Create("gamo", new MethodSettings("gamo", new Dictionary<string, string> { ["steps"] = "0" }))).Message, StringComparison.Ordinal);
        Assert.Contains("class 1", Assert.Throws<ArgumentException>(() => GamoTrainer.Generate(new GamoGenerator(4, 3, [0], [2], new Generator(0)), [0], [Tensor.Zeros([2, 4])], 1, 3, new Generator(0), 1, 2, 2)).Message, StringComparison.Ordinal);
    }
}
