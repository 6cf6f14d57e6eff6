using Rebalance.Data;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Methods;
using Rebalance.Generative.Training;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;
using Rebalance.Tensors.Tests;

namespace Rebalance.Generative.Tests;

/// <summary><c>ccgan</c>: the galaxy study's loss terms by hand and against finite differences, the
/// attribute-conditioned layers, every size through both networks, a seeded run whose images follow the
/// requested attribute, exact resume, the kernel density draws and the errors a user can meet.</summary>
public sealed class CcganTests
{
    private static readonly Tensor Pred = Tensor.FromArray([1.0, 2.0, 0.0, -1.0], 2, 2);
    private static readonly Tensor Target = Tensor.FromArray([0.0, 2.0, 1.0, 1.0], 2, 2);

    [Fact]
    public void LossTermsMatchHandComputedValues()
    {
        // (1 − 0)², (2 − 2)², (0 − 1)², (−1 − 1)²: mean (1 + 0 + 1 + 4) / 4 = 1.5.
        Assert.Equal(1.5, CcganLosses.PredictorError(Pred, Target).Item(), 12);
        var adv = Tensor.Scalar(0.7, DType.Float64);
        // D: 0.7 + 2·max(0, 1.5 − 0.25) = 3.2; when the generated images' error is the larger, the hinge is 0.
        Assert.Equal(3.2, CcganLosses.Discriminator(adv, Tensor.Scalar(1.5, DType.Float64), Tensor.Scalar(0.25, DType.Float64), 2).Item(), 12);
        Assert.Equal(0.7, CcganLosses.Discriminator(adv, Tensor.Scalar(0.25, DType.Float64), Tensor.Scalar(1.5, DType.Float64), 2).Item(), 12);
        // G: 0.7 + 2·1.5 = 3.7.
        Assert.Equal(3.7, CcganLosses.Generator(adv, Tensor.Scalar(1.5, DType.Float64), 2).Item(), 12);
        Assert.Contains("differ in shape", Assert.Throws<ArgumentException>(() => CcganLosses.PredictorError(Pred, Tensor.Zeros([2, 3], DType.Float64))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LossTermsMatchFiniteDifferences()
    {
        var fakePred = Tensor.FromArray([0.5, -0.3, 1.2, 0.1], 2, 2);
        // Both sides of D's hinge: the real error above and below the generated one.
        GradCheck.Check(t => CcganLosses.Discriminator(t[0], CcganLosses.PredictorError(t[1], Target), CcganLosses.PredictorError(t[2], Target), 1.5), [Tensor.Scalar(0.4, DType.Float64), Pred, fakePred]);
        GradCheck.Check(t => CcganLosses.Discriminator(t[0], CcganLosses.PredictorError(t[1], Target), CcganLosses.PredictorError(t[2], Target), 1.5), [Tensor.Scalar(0.4, DType.Float64), fakePred, Pred]);
        GradCheck.Check(t => CcganLosses.Generator(t[0], CcganLosses.PredictorError(t[1], Target), 0.5), [Tensor.Scalar(0.4, DType.Float64), fakePred]);
    }

    [Fact]
    public void AttributeBatchNormScalesAndShiftsByTheAttributes()
    {
        var gen = new Generator(5);
        var layer = new AttributeBatchNorm2d(3, 2, gen);
        var x = gen.Normal([4, 3, 2, 2]);
        var a = Tensor.FromArray([0.5f, -1f, 2f, 0.25f, 0f, 0f, -0.7f, 1.3f], 4, 2);
        var y = layer.Forward(x, a).ToFloatArray();
        var p = layer.NamedParameters().ToDictionary(t => t.Name, t => t.Value.ToFloatArray());
        var xs = x.ToFloatArray();
        var av = a.ToFloatArray();
        for (var c = 0; c < 3; c++)
        {
            // The channel's batch statistics (biased variance), then 1 + W_γ a + b_γ and W_β a + b_β.
            var values = Enumerable.Range(0, 4).SelectMany(n => Enumerable.Range(0, 4).Select(s => (double)xs[(n * 12) + (c * 4) + s])).ToArray();
            var mean = values.Average();
            var variance = values.Select(v => (v - mean) * (v - mean)).Average();
            for (var n = 0; n < 4; n++)
            {
                var gamma = 1 + p["gamma.bias"][c] + (p["gamma.weight"][c * 2] * av[n * 2]) + (p["gamma.weight"][(c * 2) + 1] * av[(n * 2) + 1]);
                var beta = p["beta.bias"][c] + (p["beta.weight"][c * 2] * av[n * 2]) + (p["beta.weight"][(c * 2) + 1] * av[(n * 2) + 1]);
                for (var s = 0; s < 4; s++)
                {
                    var i = (n * 12) + (c * 4) + s;
                    Assert.Equal(((xs[i] - mean) / Math.Sqrt(variance + 1e-5) * gamma) + beta, y[i], 1e-4);
                }
            }
        }
        // The attributes' gradient against central differences (float32, so a loose tolerance).
        var w = gen.Normal([4, 3, 2, 2]);
        var ar = Tensor.FromArray(av, 4, 2);
        ar.RequiresGrad = true;
        (layer.Forward(x, ar) * w).Sum().Backward();
        var analytic = ar.Grad!.ToFloatArray();
        for (var i = 0; i < av.Length; i++)
        {
            double At(float delta)
            {
                var shifted = (float[])av.Clone();
                shifted[i] += delta;
                using (GradMode.NoGrad())
                {
                    return (layer.Forward(x, Tensor.FromArray(shifted, 4, 2)) * w).Sum().Item();
                }
            }
            var numeric = (At(1e-2f) - At(-1e-2f)) / 2e-2;
            Assert.Equal(numeric, analytic[i], Math.Max(2e-3, Math.Abs(numeric) * 1e-2));
        }
        Assert.Throws<InvalidOperationException>(() => layer.Forward(x));
    }

    [Theory]
    [MemberData(nameof(TestSizes.Every), MemberType = typeof(TestSizes))]
    public void EverySizeGoesThroughBothNetworksAndDLearns(int height, int width, int channels)
    {
        var s = new CcganSettings { Width = 8, LatentDim = 8, MinibatchKernels = 4, MinibatchKernelDim = 3 };
        var (g, d) = Ccgan.Create(s, channels, height, width, 2, 11);
        var gen = new Generator(2);
        var a = gen.Normal([4, 2]);
        var fake = g.Forward(gen.Normal([4, 8]), a);
        Assert.Equal([4, channels, height, width], fake.Shape);
        var (logit, pred) = d.Score(fake);
        Assert.Equal([4], logit.Shape);
        Assert.Equal([4, 2], pred.Shape);
        // G's gradient reaches its first layer through the crop and the attribute norms.
        CcganLosses.Generator(AdversarialLoss.Get("gan").Generator(logit), CcganLosses.PredictorError(pred, a), 1).Backward();
        Assert.Contains(g.NamedParameters().First(p => p.Name == "fc.weight").Value.Grad!.ToFloatArray(), v => v != 0);

        // D learns to tell bright images from dark ones in a few seeded steps.
        var opt = new Adam([.. d.Parameters()], 2e-3, 0.5);
        var real = Tensor.Full([4, channels, height, width], 0.8f);
        var dark = Tensor.Full([4, channels, height, width], -0.8f);
        var loss = AdversarialLoss.Get("gan");
        double first = 0, last = 0;
        for (var step = 0; step < 6; step++)
        {
            var l = loss.Discriminator(d.Score(real).Logit, d.Score(dark).Logit);
            opt.ZeroGrad();
            l.Backward();
            opt.Step();
            if (step == 0)
            {
                first = l.Item();
            }
            last = l.Item();
        }
        Assert.True(last < first, $"{height}x{width}: D's loss {first} -> {last}");
    }

    /// <summary>16x16 images of a vertical bar whose width (the attribute "thickness") is 2 to 7 pixels,
    /// its position jittered; class 1 is the thick bars (width 6 or 7), the rarer class.</summary>
    internal static Dataset Bars(int n, int seed = 4)
    {
        var rng = new Random(seed);
        var pixels = new byte[n * 256];
        var labels = new int[n];
        var attributes = new float[n * 2];
        for (var i = 0; i < n; i++)
        {
            var w = 2 + rng.Next(6);
            var left = 8 - (w / 2) + rng.Next(-2, 3);
            for (var y = 2; y < 14; y++)
            {
                for (var x = left; x < left + w; x++)
                {
                    pixels[(i * 256) + (y * 16) + x] = 230;
                }
            }
            labels[i] = w >= 6 ? 1 : 0;
            attributes[i * 2] = w;
            attributes[(i * 2) + 1] = left;
        }
        return new Dataset("bars", pixels, labels, 1, 16, 16, ["thin", "thick"], null, ["thickness", "left"], attributes);
    }

    /// <summary>Columns whose mean over the bar's rows is above half brightness.</summary>
    private static int BarWidth(ReadOnlySpan<byte> img)
    {
        var w = 0;
        for (var x = 0; x < 16; x++)
        {
            var s = 0;
            for (var y = 2; y < 14; y++)
            {
                s += img[(y * 16) + x];
            }
            w += s > 12 * 115 ? 1 : 0;
        }
        return w;
    }

    [Fact]
    public void ASeededRunFollowsTheRequestedThickness()
    {
        var data = Bars(256);
        var s = new CcganSettings { Attributes = ["thickness"], Steps = 300, BatchSize = 32, LatentDim = 8, Width = 16, LrG = 1e-3, LrD = 1e-3, SampleEvery = 1000, CheckpointEvery = 1000 };
        var (g, d) = Ccgan.Create(s, 1, 16, 16, 1, 7);
        var (rows, raw) = Ccgan.KnownRows(data, ["thickness"]);
        var scale = AttributeScale.Fit(["thickness"], raw);
        var z = raw.Select(v => scale.Standardise([v])[0]).ToArray();
        var trainer = new CcganTrainer(s, g, d, 7);
        var dir = Path.Combine(Path.GetTempPath(), "rebalance-ccgan-" + Guid.NewGuid().ToString("N"));
        try
        {
            trainer.Train(data, rows, z, dir, "all", "k");
            var csv = File.ReadAllLines(Path.Combine(dir, "all.losses.csv")).Skip(1).Select(l => l.Split(',')).ToArray();
            double Mean(int col, int from, int to) => csv[from..to].Average(r => double.Parse(r[col], System.Globalization.CultureInfo.InvariantCulture));
            // The predictor learns the real images' thickness: its error falls well below the attribute's
            // variance (1, standardised) within the first steps and stays there.
            Assert.True(Mean(3, 270, 300) < 0.75, $"predictor error on real images at the end {Mean(3, 270, 300)}");
            // Asked for bars 2 to 7 pixels wide, G draws bars whose measured width rises with the request and
            // is off by about a pixel on average (a generator ignoring the request would be off by ~1.9, the
            // mean distance between two widths drawn at random from 2 ... 7).
            var gen = new Generator(9);
            var means = new List<double>();
            var errors = new List<double>();
            for (var want = 2; want <= 7; want++)
            {
                var images = Ccgan.GenerateAt(g, Enumerable.Repeat(scale.Standardise([want])[0], 32).ToArray(), gen);
                var widths = Enumerable.Range(0, 32).Select(i => (double)BarWidth(images.AsSpan(i * 256, 256))).ToArray();
                means.Add(widths.Average());
                errors.AddRange(widths.Select(w => Math.Abs(w - want)));
            }
            var shown = string.Join(", ", means.Select(m => m.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)));
            Assert.True(means.Zip(means.Skip(1)).All(p => p.Second > p.First), $"mean widths for 2 ... 7: {shown}");
            Assert.True(errors.Average() < 1.25, $"mean error {errors.Average():F2} pixels (widths {shown})");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AnInterruptedRunResumesToTheSameWeights()
    {
        var data = Bars(64);
        var s = new CcganSettings { Steps = 6, BatchSize = 8, LatentDim = 4, Width = 8, CheckpointEvery = 3, SampleEvery = 1000, MinibatchKernels = 4, MinibatchKernelDim = 2 };
        var (rows, raw) = Ccgan.KnownRows(data, ["thickness", "left"]);
        var scale = AttributeScale.Fit(["thickness", "left"], raw);
        var z = new float[raw.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            scale.Standardise(raw.AsSpan(i * 2, 2)).CopyTo(z, i * 2);
        }
        float[] Run(string dir, int? stop)
        {
            var (g, d) = Ccgan.Create(s, 1, 16, 16, 2, 3);
            var done = new CcganTrainer(s, g, d, 3).Train(data, rows, z, dir, "all", "key", stopAfter: stop);
            if (!done)
            {
                (g, d) = Ccgan.Create(s, 1, 16, 16, 2, 3);
                Assert.True(new CcganTrainer(s, g, d, 3).Train(data, rows, z, dir, "all", "key"));
            }
            return [.. g.Parameters().SelectMany(p => p.ToFloatArray()), .. d.Parameters().SelectMany(p => p.ToFloatArray())];
        }
        var a = Path.Combine(Path.GetTempPath(), "rebalance-ccgan-" + Guid.NewGuid().ToString("N"));
        var b = Path.Combine(Path.GetTempPath(), "rebalance-ccgan-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Equal(Run(a, null), Run(b, 3));
            Assert.Equal(File.ReadAllText(Path.Combine(a, "all.losses.csv")), File.ReadAllText(Path.Combine(b, "all.losses.csv")));
        }
        finally
        {
            Directory.Delete(a, recursive: true);
            Directory.Delete(b, recursive: true);
        }
    }

    [Fact]
    public void AttributesAreDrawnFromTheClassesOwnDensity()
    {
        var data = Bars(200);
        var (_, raw) = Ccgan.KnownRows(data, ["thickness"]);
        var scale = AttributeScale.Fit(["thickness"], raw);
        // Without bandwidth, draws are the class's own values: thick bars are 6 or 7 wide.
        var exact = Ccgan.DrawAttributes(data, scale, 1, 500, 0, new Generator(1)).Select(v => scale.Raw(0, v)).ToArray();
        Assert.All(exact, v => Assert.True(Math.Abs(v - 6) < 1e-4 || Math.Abs(v - 7) < 1e-4, $"{v}"));
        Assert.Contains(exact, v => Math.Abs(v - 6) < 1e-4);
        Assert.Contains(exact, v => Math.Abs(v - 7) < 1e-4);
        // With Scott's bandwidth they spread around them, with the class's mean.
        var smooth = Ccgan.DrawAttributes(data, scale, 1, 4000, 1, new Generator(1)).Select(v => scale.Raw(0, v)).ToArray();
        var classMean = Enumerable.Range(0, data.Count).Where(i => data.Label(i) == 1).Average(i => data.Attributes(i)[0]);
        Assert.Equal(classMean, smooth.Average(), 0.05);
        Assert.Contains(smooth, v => v is > 6.1 and < 6.9);
        Assert.Equal(Ccgan.DrawAttributes(data, scale, 1, 50, 1, new Generator(8)), Ccgan.DrawAttributes(data, scale, 1, 50, 1, new Generator(8)));
    }

    [Fact]
    public void FillsTheRareClassAndSaysWhatIsWrong()
    {
        var data = Bars(120);
        var settings = new MethodSettings("ccgan", new Dictionary<string, string> { ["steps"] = "4", ["batch_size"] = "8", ["width"] = "8", ["z_dim"] = "4" });
        var r = GenerativeMethods.Create("ccgan", settings);
        var result = r.FitResample(data, SamplingStrategy.Parse("auto"), 5);
        var counts = result.Train.ClassCounts();
        Assert.Equal(counts[0], counts[1]);
        Assert.Equal(counts[1] - data.ClassCounts()[1], result.Train.SyntheticCount);
        // Without the predictor and with minibatch discrimination, the galaxy study's ablations, it fills too.
        var ablated = new MethodSettings("ccgan", new Dictionary<string, string> { ["steps"] = "4", ["batch_size"] = "8", ["width"] = "8", ["z_dim"] = "4", ["predictor"] = "false", ["minibatch"] = "5" });
        Assert.Equal(result.Train.Count, GenerativeMethods.Create("ccgan", ablated).FitResample(data, SamplingStrategy.Parse("auto"), 5).Train.Count);

        var plain = new Dataset("plain", new byte[4 * 256], [0, 0, 0, 1], 1, 16, 16, ["a", "b"]);
        Assert.Contains("carry no attributes", Assert.Throws<ArgumentException>(() => GenerativeMethods.Create("ccgan", new MethodSettings("ccgan")).FitResample(plain, SamplingStrategy.Parse("auto"), 1)).Message, StringComparison.Ordinal);
        var unknown = new MethodSettings("ccgan", new Dictionary<string, string> { ["attributes"] = "slant" });
        Assert.Contains("'slant' is not an attribute of the data (it has thickness, left)", Assert.Throws<SettingException>(() => GenerativeMethods.Create("ccgan", unknown).FitResample(data, SamplingStrategy.Parse("auto"), 1)).Message, StringComparison.Ordinal);
        Assert.Contains("16 to 128", Assert.Throws<ArgumentException>(() => ((GenerativeRebalancer)GenerativeMethods.Create("ccgan", new MethodSettings("ccgan"))).CheckData(1, 8, 8, 2)).Message, StringComparison.Ordinal);
        Assert.Throws<SettingException>(() => GenerativeMethods.Create("ccgan", new MethodSettings("ccgan", new Dictionary<string, string> { ["loss"] = "wgan-gp" })));
    }
}
