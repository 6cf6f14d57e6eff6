using Rebalance.Data;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Latent;
using Rebalance.Generative.Methods;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;
using static Rebalance.Generative.Tests.BandImages;

namespace Rebalance.Generative.Tests;

/// <summary>BAGAN: its (K+1)-way losses and class code distributions against hand values, exact resume,
/// and a tiny run whose added images carry their class.</summary>
public sealed class BaganTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-bagan-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static double Ce(double[] logits, int target)
    {
        var max = logits.Max();
        var lse = max + Math.Log(logits.Sum(v => Math.Exp(v - max)));
        return lse - logits[target];
    }

    [Fact]
    public void TheKPlusOneWayLossesMatchHandComputedValues()
    {
        // K = 2 classes, so 3 logits; the last is "generated".
        double[][] real = [[2.0, -1.0, 0.5], [0.1, 0.3, -0.2]];
        double[][] fake = [[0.0, 1.0, 2.0], [1.5, -0.5, 0.0]];
        var realT = Tensor.FromArray([.. real.SelectMany(r => r)], 2, 3);
        var fakeT = Tensor.FromArray([.. fake.SelectMany(r => r)], 2, 3);
        var d = BaganLosses.Discriminator(realT, Tensor.FromArray([0, 1], 2), fakeT).Item();
        Assert.Equal(((Ce(real[0], 0) + Ce(real[1], 1)) / 2) + ((Ce(fake[0], 2) + Ce(fake[1], 2)) / 2), d, 6);
        var g = BaganLosses.Generator(fakeT, Tensor.FromArray([1, 0], 2)).Item();
        Assert.Equal((Ce(fake[0], 1) + Ce(fake[1], 0)) / 2, g, 6);
    }

    [Fact]
    public void ClassGaussiansFitAndSampleTheirCodes()
    {
        float[][] codes = [[1, 2], [3, 2], [2, 5], [10, 10], [0, 0]];
        int[] labels = [0, 0, 0, 1, 2];
        var g = ClassGaussians.Fit(codes, labels, 4);
        Assert.Equal([2.0, 3.0], g.Mean[0]);
        // Class 0's sample covariance (n − 1) is [[1, 0], [0, 3]], plus 1e-4 on the diagonal.
        var l = g.Chol[0];
        Assert.Equal(Math.Sqrt(1 + 1e-4), l[0], 12);
        Assert.Equal(0, l[2], 12);
        Assert.Equal(Math.Sqrt(3 + 1e-4), l[3], 12);
        // One image: its code with 1e-4 I; no image: nothing to sample.
        Assert.Equal([10.0, 10.0], g.Mean[1]);
        Assert.Equal(0.01, g.Chol[1][0], 12);
        Assert.Empty(g.Mean[3]);
        // Diagonal: class 0's codes (1, 2), (3, 2), (2, 5) have covariance 0.5 between the two values; dropped.
        var full = ClassGaussians.Fit([[1, 2], [3, 4], [2, 3]], [0, 0, 0], 1);
        var diag = ClassGaussians.Fit([[1, 2], [3, 4], [2, 3]], [0, 0, 0], 1, diagonal: true);
        Assert.Equal(1 / Math.Sqrt(1 + 1e-4), full.Chol[0][2], 6);
        Assert.Equal(0, diag.Chol[0][2]);
        Assert.Contains("no images", Assert.Throws<ArgumentException>(() => g.Sample(3, 1, new Generator(0))).Message, StringComparison.Ordinal);
        // Draws reproduce the mean and variances.
        var s = g.Sample(0, 20000, new Generator(1)).ToDoubleArray();
        var xs = Enumerable.Range(0, 20000).Select(i => s[2 * i]).ToArray();
        var ys = Enumerable.Range(0, 20000).Select(i => s[(2 * i) + 1]).ToArray();
        Assert.Equal(2.0, xs.Average(), 1);
        Assert.Equal(3.0, ys.Average(), 1);
        Assert.Equal(3.0, ys.Select(v => (v - 3) * (v - 3)).Average(), 1);
        // Cholesky of a known matrix: [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]].
        var chol = ClassGaussians.Cholesky([4, 2, 2, 3], 2);
        double[] expected = [2.0, 0, 1, Math.Sqrt(2)];
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(expected[i], chol[i], 12));
        Assert.Throws<ArgumentException>(() => ClassGaussians.Cholesky([1, 2, 2, 1], 2));
    }

    [Fact]
    public void ATinyBaganAddsImagesOfTheirClassAndResumesExactly()
    {
        var train = Bands([40, 40, 10], 11);
        var settings = new MethodSettings("bagan", new Dictionary<string, string> { ["ae_steps"] = "150", ["steps"] = "20", ["batch_size"] = "16", ["z_dim"] = "8", ["checkpoint_every"] = "10" });
        var result = GenerativeMethods.Create("bagan", settings, new GenerativeContext { CheckpointRoot = _dir }).FitResample(train, SamplingStrategy.Parse("fill:2=1"), 3);
        Assert.Equal([40, 40, 40], result.Train.ClassCounts());
        var ae = File.ReadAllLines(Path.Combine(result.ModelFolder!, "ae.losses.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(ae[^10..].Average() < ae[..10].Average() * 0.7, "the autoencoder's reconstruction did not fall");
        Assert.Equal(21, File.ReadAllLines(Path.Combine(result.ModelFolder!, "all.losses.csv")).Length);
        var added = Enumerable.Range(0, result.Train.Count).Where(result.Train.IsSynthetic).ToArray();
        var right = added.Count(i => Rows(result.Train.Image(i), 20) > Math.Max(Rows(result.Train.Image(i), 4), Rows(result.Train.Image(i), 12)));
        Assert.True(right > added.Length * 2 / 3, $"{right} of {added.Length} added images have class 2's band");

        // Stage 2 stopped at step 15 (checkpoint at 10) and resumed ends where an uninterrupted run does.
        var (model, _) = AutoencoderFile.Load(Path.Combine(result.ModelFolder!, "ae.autoencoder.safetensors"));
        var gaussians = ClassGaussians.Fit(DeepSmote.Codes(model, train, [.. Enumerable.Range(0, train.Count)]), [.. train.Labels], 3);
        var s = BaganSettings.Read(settings);
        var shape = new GanShape(1, 28, 28, 8);
        var whole = new BaganTrainer(s, shape, 3, 3, model, gaussians);
        whole.Train(train, Path.Combine(_dir, "whole"), "all", "k");
        var first = new BaganTrainer(s, shape, 3, 3, model, gaussians);
        Assert.False(first.Train(train, Path.Combine(_dir, "split"), "all", "k", stopAfter: 15));
        var second = new BaganTrainer(s, shape, 3, 3, model, gaussians);
        Assert.True(second.Train(train, Path.Combine(_dir, "split"), "all", "k"));
        foreach (var (name, t) in whole.G.StateDict())
        {
            Assert.Equal(t.ToDoubleArray(), second.G.StateDict()[name].ToDoubleArray());
        }
        foreach (var (name, t) in whole.D.StateDict())
        {
            Assert.Equal(t.ToDoubleArray(), second.D.StateDict()[name].ToDoubleArray());
        }
    }
}

/// <summary>WAE-GAN and SCDL-GAN: the MMD term against hand values and finite differences, the
/// adversarial stage's losses, and tiny runs.</summary>
public sealed class WaeGanTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-waegan-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void ImqMmdMatchesAHandComputedValue()
    {
        // Codes (0), (1) against prior draws (0), (2); d = 1, so C = 2s for each scale s.
        var z = Tensor.FromArray([0.0, 1.0], 2, 1);
        var p = Tensor.FromArray([0.0, 2.0], 2, 1);
        double expected = 0;
        foreach (var s in new[] { 0.1, 0.2, 0.5, 1, 2, 5, 10 })
        {
            var c = 2 * s;
            double K(double d2) => c / (c + d2);
            var same = ((2 * K(1)) + (2 * K(4))) / 2;            // Σ_{i≠j} over z, then over p, / n(n−1)
            var cross = (K(0) + K(4) + K(1) + K(1)) * 2 / 4;     // 2 Σ_{i,j} k(z_i, p_j) / n²
            expected += same - cross;
        }
        Assert.Equal(expected, AutoencoderLosses.ImqMmd(z, p).Item(), 10);
        Assert.Contains("n of at least 2", Assert.Throws<ArgumentException>(() => AutoencoderLosses.ImqMmd(Tensor.FromArray([1.0], 1, 1), Tensor.FromArray([1.0], 1, 1))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImqMmdGradientMatchesFiniteDifferences()
    {
        double[] a = [0.3, -0.7, 0.1, 0.9, -0.2, 0.45];
        var prior = Tensor.FromArray([0.2, -0.1, 0.5, -0.6, 0.35, 0.8], 3, 2);
        double Value(double[] v)
        {
            using (GradMode.NoGrad())
            {
                return AutoencoderLosses.ImqMmd(Tensor.FromArray(v, 3, 2), prior).Item();
            }
        }
        var x = Tensor.FromArray(a, 3, 2).RequiresGrad_();
        AutoencoderLosses.ImqMmd(x, prior).Backward();
        var analytic = x.Grad!.ToDoubleArray();
        const double h = 1e-6;
        for (var i = 0; i < a.Length; i++)
        {
            var (up, down) = ((double[])a.Clone(), (double[])a.Clone());
            up[i] += h;
            down[i] -= h;
            var numeric = (Value(up) - Value(down)) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[i]) < 1e-6 * Math.Max(1, Math.Abs(numeric)), $"d/dz[{i}]: autograd {analytic[i]}, finite differences {numeric}");
        }
    }

    private static double Ce(double[] logits, int target)
    {
        var max = logits.Max();
        return max + Math.Log(logits.Sum(v => Math.Exp(v - max))) - logits[target];
    }

    private static double Softplus(double x) => Math.Log(1 + Math.Exp(x));

    [Fact]
    public void TheAdversarialStagesLossesMatchHandComputedValues()
    {
        // K = 2: logits are (class 0, class 1, real-vs-generated).
        double[][] real = [[2.0, -1.0, 0.5], [0.1, 0.3, -0.2]];
        double[][] fake = [[0.0, 1.0, 2.0], [1.5, -0.5, 0.0]];
        var realT = Tensor.FromArray([.. real.SelectMany(r => r)], 2, 3);
        var fakeT = Tensor.FromArray([.. fake.SelectMany(r => r)], 2, 3);
        // BCE with logits: −log σ(x) = softplus(−x) for target 1, softplus(x) for target 0.
        var d = WaeGanLosses.Discriminator(realT, Tensor.FromArray([0, 1], 2), fakeT).Item();
        var expectedD = ((Softplus(-0.5) + Softplus(0.2)) / 2) + ((Softplus(2.0) + Softplus(0.0)) / 2) + ((Ce([2.0, -1.0], 0) + Ce([0.1, 0.3], 1)) / 2);
        Assert.Equal(expectedD, d, 6);
        var g = WaeGanLosses.Generator(fakeT, Tensor.FromArray([1, 0], 2)).Item();
        Assert.Equal(((Softplus(-2.0) + Softplus(0.0)) / 2) + ((Ce([0.0, 1.0], 1) + Ce([1.5, -0.5], 0)) / 2), g, 6);
    }

    [Theory]
    [InlineData("wae-gan")]
    [InlineData("scdl-gan")]
    public void ATinyRunAddsImagesOfTheirClass(string method)
    {
        var train = Bands([40, 40, 10], 13);
        var settings = new MethodSettings(method, new Dictionary<string, string> { ["ae_steps"] = "150", ["steps"] = "10", ["batch_size"] = "16", ["z_dim"] = "4" });
        var result = GenerativeMethods.Create(method, settings, new GenerativeContext { CheckpointRoot = _dir }).FitResample(train, SamplingStrategy.Parse("fill:2=1"), 5);
        Assert.Equal([40, 40, 40], result.Train.ClassCounts());
        var ae = File.ReadAllLines(Path.Combine(result.ModelFolder!, "ae.losses.csv")).Skip(1).Select(l => l.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.True(ae[^10..].Average(r => r[2]) < ae[..10].Average(r => r[2]) * 0.7, "the autoencoder's reconstruction did not fall");
        Assert.True(ae.All(r => r[3] != 0), "the MMD term is missing");
        var added = Enumerable.Range(0, result.Train.Count).Where(result.Train.IsSynthetic).ToArray();
        var right = added.Count(i => Rows(result.Train.Image(i), 20) > Math.Max(Rows(result.Train.Image(i), 4), Rows(result.Train.Image(i), 12)));
        Assert.True(right > added.Length * 2 / 3, $"{right} of {added.Length} added images have class 2's band");
        var (model, _) = AutoencoderFile.Load(Path.Combine(result.ModelFolder!, "ae.autoencoder.safetensors"));
        if (method == "scdl-gan")
        {
            // L_SV trained a classifier on the codes: it tells the three classes apart.
            Assert.Equal(3, model.LatentClasses);
            var codes = DeepSmote.Codes(model, train, [.. Enumerable.Range(0, train.Count)]);
            using var noGrad = GradMode.NoGrad();
            var logits = model.ClassifyCode(Tensor.FromArray([.. codes.SelectMany(c => c)], codes.Length, 4)).ToFloatArray();
            var correct = Enumerable.Range(0, train.Count).Count(i => Enumerable.Range(0, 3).MaxBy(k => logits[(i * 3) + k]) == train.Label(i));
            Assert.True(correct >= train.Count * 0.8, $"the code classifier gets {correct} of {train.Count} (the largest class alone: 40)");
        }
        else
        {
            Assert.Equal(0, model.LatentClasses);
        }
    }
}

/// <summary>BAGAN-GP: a tiny run whose images carry their class, a class-conditional critic, exact resume.</summary>
public sealed class BaganGpTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-bagangp-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void ATinyBaganGpAddsImagesOfTheirClassWithAClassConditionalCriticAndResumesExactly()
    {
        var train = Bands([40, 40, 10], 17);
        var settings = new MethodSettings("bagan-gp", new Dictionary<string, string> { ["ae_steps"] = "150", ["steps"] = "6", ["d_steps"] = "2", ["batch_size"] = "16", ["z_dim"] = "8", ["checkpoint_every"] = "3" });
        var result = GenerativeMethods.Create("bagan-gp", settings, new GenerativeContext { CheckpointRoot = _dir }).FitResample(train, SamplingStrategy.Parse("fill:2=1"), 6);
        Assert.Equal([40, 40, 40], result.Train.ClassCounts());
        var ae = File.ReadAllLines(Path.Combine(result.ModelFolder!, "ae.losses.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(ae[^10..].Average() < ae[..10].Average() * 0.7, "the supervised autoencoder's reconstruction did not fall");
        var added = Enumerable.Range(0, result.Train.Count).Where(result.Train.IsSynthetic).ToArray();
        var right = added.Count(i => Rows(result.Train.Image(i), 20) > Math.Max(Rows(result.Train.Image(i), 4), Rows(result.Train.Image(i), 12)));
        Assert.True(right > added.Length * 2 / 3, $"{right} of {added.Length} added images have class 2's band");

        var (sae, _) = AutoencoderFile.Load(Path.Combine(result.ModelFolder!, "ae.autoencoder.safetensors"));
        Assert.Equal(3, sae.LabelEmbedding);
        var s = BaganGpSettings.Read(settings);
        var whole = new BaganGpTrainer(s, sae, new BaganGpGenerator(sae), 6);
        // The critic's score of an image depends on the class it is asked about (the projection term).
        using (GradMode.NoGrad())
        {
            var x = train.ToTensor(PixelRange.MinusOneToOne, [0, 0]);
            var scores = whole.Critic.Forward(x, Tensor.FromArray([0, 2], 2)).ToDoubleArray();
            Assert.NotEqual(scores[0], scores[1]);
        }
        var gWhole = new BaganGpGenerator(sae);
        whole = new BaganGpTrainer(s, sae, gWhole, 6);
        whole.Train(train, Path.Combine(_dir, "whole"), "all", "k");
        var gFirst = new BaganGpGenerator(sae);
        Assert.False(new BaganGpTrainer(s, sae, gFirst, 6).Train(train, Path.Combine(_dir, "split"), "all", "k", stopAfter: 4));
        var gSecond = new BaganGpGenerator(sae);
        Assert.True(new BaganGpTrainer(s, sae, gSecond, 6).Train(train, Path.Combine(_dir, "split"), "all", "k"));
        foreach (var (name, t) in gWhole.StateDict())
        {
            Assert.Equal(t.ToDoubleArray(), gSecond.StateDict()[name].ToDoubleArray());
        }
    }
}
