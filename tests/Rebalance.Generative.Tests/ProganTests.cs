using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;
using Rebalance.Tensors.Tests;

namespace Rebalance.Generative.Tests;

/// <summary>ProGAN: the growth schedule, the equalised learning rate and pixel norm against hand-computed
/// values and finite differences, every size at every level through both networks, continuity at each
/// fade-in, the paper's recipe as defaults, and a run that grows, saves its level and resumes exactly
/// mid-phase.</summary>
public sealed class ProganTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-progan-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void TheScheduleFadesEachLevelInThenHoldsIt()
    {
        // Phases of 1,000 images, 3 levels above 4x4: 4x4 alone, then fade in and hold 8x8, 16x16, 32x32.
        long[] images = [0, 999, 1000, 1500, 2000, 2999, 3000, 3250, 4000, 5000, 5500, 6000, 7000, 100_000];
        double[] levels = [0, 0, 0, 0.5, 1, 1, 1, 1.25, 2, 2, 2.5, 3, 3, 3];
        Assert.Equal(levels, images.Select(i => ProganSchedule.Level(i, 1000, 3)));
        Assert.Equal((0, 1.0), Progan.Split(0));
        Assert.Equal((1, 0.5), Progan.Split(0.5));
        Assert.Equal((1, 1.0), Progan.Split(1));
        Assert.Equal((2, 0.25), Progan.Split(1.25));
        Assert.Equal((32, 3), (Progan.Resolution(28, 28), Progan.Levels(28, 28)));
        Assert.Equal((64, 4), (Progan.Resolution(50, 30), Progan.Levels(50, 30)));
        Assert.Equal((16, 2), (Progan.Resolution(16, 16), Progan.Levels(16, 16)));
    }

    [Fact]
    public void EqualizedLrScalesTheWeightByHesConstantAtUse()
    {
        var gen = new Generator(3);
        var layer = EqualizedLr.Apply(new Linear(3, 2, gen), gen);
        var c = Math.Sqrt(2.0) / Math.Sqrt(3);
        Assert.Equal(c, EqualizedLr.Scale(layer), 12);
        var w = layer.NamedParameters().Single(p => p.Name == "weight_orig").Value;
        var b = layer.NamedParameters().Single(p => p.Name == "bias").Value;
        Assert.All(b.ToFloatArray(), v => Assert.Equal(0f, v));
        var x = Tensor.FromArray([1f, -2f, 0.5f, 0.3f, 0.7f, -1f], 2, 3);
        var y = layer.Forward(x).ToFloatArray();
        var wv = w.ToFloatArray();
        for (var n = 0; n < 2; n++)
        {
            for (var o = 0; o < 2; o++)
            {
                var expected = Enumerable.Range(0, 3).Sum(i => x.ToFloatArray()[(n * 3) + i] * wv[(o * 3) + i] * c);
                Assert.Equal(expected, y[(n * 2) + o], 1e-5);
            }
        }
        // d sum(y) / d w_orig[o, i] = c · Σ_n x[n, i].
        layer.Forward(x).Sum().Backward();
        var grad = w.Grad!.ToFloatArray();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(c * (x.ToFloatArray()[i] + x.ToFloatArray()[3 + i]), grad[i], 1e-5);
        }
        // A convolution's fan-in is its input channels times the kernel's area.
        Assert.Equal(1 / Math.Sqrt(4 * 9), EqualizedLr.Scale(EqualizedLr.Apply(new Conv2d(4, 5, 3, gen), gen, gain: 1)), 12);
    }

    [Fact]
    public void PixelNormMatchesItsFormulaAndFiniteDifferences()
    {
        var x = Tensor.FromArray([1.0, -2.0, 0.5, 3.0, 0.1, -0.4, 2.0, 1.5, -1.0, 0.2, 0.0, 0.7], 2, 3, 2);
        var y = NnFunctional.PixelNorm(x).ToDoubleArray();
        var xv = x.ToDoubleArray();
        for (var n = 0; n < 2; n++)
        {
            for (var p = 0; p < 2; p++)
            {
                var ms = Enumerable.Range(0, 3).Average(c => xv[(n * 6) + (c * 2) + p] * xv[(n * 6) + (c * 2) + p]);
                for (var c = 0; c < 3; c++)
                {
                    Assert.Equal(xv[(n * 6) + (c * 2) + p] / Math.Sqrt(ms + 1e-8), y[(n * 6) + (c * 2) + p], 12);
                }
            }
        }
        GradCheck.Check(t => NnFunctional.PixelNorm(t[0]), [x]);
    }

    [Theory]
    [MemberData(nameof(TestSizes.Every), MemberType = typeof(TestSizes))]
    public void EverySizeGoesThroughBothNetworksAtEveryLevel(int height, int width, int channels)
    {
        var arch = GanArchitectures.Get("progan");
        var shape = new GanShape(channels, height, width, 8, 3);
        var gen = new Generator(4);
        var g = (ProganGenerator)arch.CreateGenerator(shape, gen);
        var d = (ProganDiscriminator)arch.CreateDiscriminator(shape, new DiscriminatorOptions(BatchNorm: false), gen);
        var levels = Progan.Levels(height, width);
        var labels = Tensor.FromArray([0, 1, 2, 0], 4);
        foreach (var level in new[] { 0, 0.5, levels - 0.5, levels })
        {
            g.SetProgress(level);
            d.SetProgress(level);
            var fake = g.Forward(gen.Normal([4, 8]), labels);
            Assert.Equal([4, channels, height, width], fake.Shape);
            var score = d.Forward(fake, labels).Logits;
            Assert.Equal([4], score.Shape);
        }
        // At 4x4 only the first block learns; the top level's layers get no gradient.
        g.SetProgress(0);
        d.SetProgress(0);
        d.Forward(g.Forward(gen.Normal([4, 8]), labels), labels).Logits.Sum().Backward();
        var grads = g.NamedParameters().ToDictionary(p => p.Name, p => p.Value.Grad);
        Assert.Contains(grads["fc.weight_orig"]!.ToFloatArray(), v => v != 0);
        Assert.True(grads[$"up{levels}a.weight_orig"] is null || grads[$"up{levels}a.weight_orig"]!.ToFloatArray().All(v => v == 0));

        // D learns bright from dark in a few steps at the top level.
        d.SetProgress(levels);
        var opt = new Adam([.. d.Parameters()], 1e-3, 0, 0.99);
        var loss = AdversarialLoss.Get("wgan-gp");
        var bright = Tensor.Full([4, channels, height, width], 0.8f);
        var dark = Tensor.Full([4, channels, height, width], -0.8f);
        double first = 0, last = 0;
        for (var step = 0; step < 6; step++)
        {
            var l = loss.Discriminator(d.Forward(bright, labels).Logits, d.Forward(dark, labels).Logits);
            opt.ZeroGrad();
            l.Backward();
            opt.Step();
            first = step == 0 ? l.Item() : first;
            last = l.Item();
        }
        Assert.True(last < first, $"{height}x{width}: D's loss {first} -> {last}");
    }

    [Fact]
    public void EachFadeInStartsFromTheLevelBelow()
    {
        // Just after level k + 1 starts to fade in, G's images and D's scores are those of level k.
        var arch = GanArchitectures.Get("progan");
        var shape = new GanShape(1, 28, 28, 8);
        var g = (ProganGenerator)arch.CreateGenerator(shape, new Generator(1));
        var d = (ProganDiscriminator)arch.CreateDiscriminator(shape, new DiscriminatorOptions(BatchNorm: false), new Generator(2));
        var z = new Generator(5).Normal([4, 8]);
        for (var k = 0; k < 3; k++)
        {
            g.SetProgress(k);
            d.SetProgress(k);
            var at = g.Forward(z, null);
            var scoreAt = d.Forward(at, null).Logits.ToFloatArray();
            g.SetProgress(k + 1e-4);
            d.SetProgress(k + 1e-4);
            var after = g.Forward(z, null);
            var scoreAfter = d.Forward(at, null).Logits.ToFloatArray();
            var diff = at.ToFloatArray().Zip(after.ToFloatArray()).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(diff < 1e-2, $"level {k}: images move by {diff} at the start of the fade-in");
            Assert.True(scoreAt.Zip(scoreAfter).All(p => Math.Abs(p.First - p.Second) < 1e-2 * (1 + Math.Abs(p.First))), $"level {k}: D's scores jump at the start of the fade-in");
        }
    }

    [Fact]
    public void ThePapersRecipeIsTheDefaultAndSpectralNormIsRefused()
    {
        var s = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["arch"] = "progan" }), new GanSettings());
        Assert.Equal(("wgan-gp", 10.0, 0.001, 1, 1e-3, 1e-3, 0.0, 0.99, 0.999), (s.Loss, s.PenaltyWeight, s.Drift, s.DSteps, s.LrG, s.LrD, s.Beta1, s.Beta2, s.EmaDecay));
        var mine = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["arch"] = "progan", ["d_steps"] = "2", ["drift"] = "0" }), new GanSettings());
        Assert.Equal((2, 0.0), (mine.DSteps, mine.Drift));
        Assert.Contains("spectral_norm would fight it", Assert.Throws<ArgumentException>(() => GanArchitectures.Get("progan").CreateDiscriminator(new GanShape(1, 28, 28, 8), new DiscriminatorOptions(SpectralNorm: true), new Generator(1))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheChannelCapSizesEveryLevelAndTravelsWithTheFiles()
    {
        // progan_channels 16 at 28x28 (grown to 32x32): every level has min(16, 4096 / r) = 16 channels.
        var s = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["arch"] = "progan", ["progan_channels"] = "16" }), new GanSettings());
        Assert.Equal((16, 16), (s.ProganChannels, s.MaxChannels));
        var plain = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["arch"] = "progan" }), new GanSettings());
        Assert.Equal(128, plain.MaxChannels);
        Assert.DoesNotContain("progan channels", plain.Canonical(), StringComparison.Ordinal); // stored generators of the default keep their keys
        Assert.Contains(";progan channels 16", s.Canonical(), StringComparison.Ordinal);
        Assert.Equal(0, new GanSettings().MaxChannels);
        var e = Assert.Throws<SettingException>(() => GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["progan_channels"] = "16" }), new GanSettings()));
        Assert.Contains("needs arch: progan (arch is dcgan)", e.Message, StringComparison.Ordinal);

        Assert.Equal([128, 128, 128, 128, 64, 32], Enumerable.Range(0, 6).Select(k => Progan.Channels(k)).ToArray());
        Assert.Equal([16, 16, 16, 16, 16, 16], Enumerable.Range(0, 6).Select(k => Progan.Channels(k, 16)).ToArray());
        var shape = new GanShape(1, 28, 28, 8, MaxChannels: 16);
        var arch = GanArchitectures.Get("progan");
        var g = arch.CreateGenerator(shape, new Generator(1));
        var d = arch.CreateDiscriminator(shape, new DiscriminatorOptions(BatchNorm: false), new Generator(2));
        var gw = g.StateDict();
        Assert.Equal([16 * 16, 8], gw["fc.weight_orig"].Shape);
        Assert.Equal([16, 16, 3, 3], gw["up3b.weight_orig"].Shape);
        Assert.Equal([16, 17, 3, 3], d.StateDict()["conv0.weight_orig"].Shape); // and the minibatch-std channel
        ((IProgressive)g).SetProgress(3);
        ((IProgressive)d).SetProgress(3);
        Assert.Equal([2], d.Forward(g.Forward(new Generator(3).Normal([2, 8]), null), null).Logits.Shape);
        var full = arch.CreateGenerator(new GanShape(1, 28, 28, 8), new Generator(1)).Parameters().Sum(p => (long)p.Numel);
        Assert.True(g.Parameters().Sum(p => (long)p.Numel) * 30 < full, "a cap of 16 should cut the parameters by about (128 / 16)^2");

        var file = Path.Combine(_dir, "capped.generator.safetensors");
        Directory.CreateDirectory(_dir);
        GeneratorFile.Save(file, g, "progan", 1, ["a", "b"]);
        var loaded = GeneratorFile.Load(file);
        Assert.Equal(16, loaded.Generator.Shape.MaxChannels);
        Assert.Equal(GeneratorFile.Generate(g, 3, 1, new Generator(9)), GeneratorFile.Generate(loaded.Generator, 3, 1, new Generator(9)));
        var dfile = Path.Combine(_dir, "capped.discriminator.safetensors");
        DiscriminatorFile.Save(dfile, d, "progan");
        Assert.Equal(16, DiscriminatorFile.Load(dfile).Shape.MaxChannels);

        // A cap that is not a whole number is one error naming the file and the key.
        var bad = Checkpoint.Load(file);
        bad.Metadata["generator.max_channels"] = "many";
        bad.Save(file);
        var error = Assert.Throws<CheckpointException>(() => GeneratorFile.Load(file));
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
        Assert.Contains("'generator.max_channels' is 'many'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARunGrowsSavesItsLevelAndResumesExactlyMidPhase()
    {
        var data = TrainerTests.TwoBlobs(8);
        var train = data.Subset(data.IndicesOf(1));
        // 8 images a step, phases of 24 images: 4x4 for 3 steps, then 3 steps of fade-in per level.
        var s = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["arch"] = "progan", ["progan_phase"] = "24" }), new GanSettings()) with
        {
            Steps = 14, BatchSize = 8, CheckpointEvery = 4, SampleEvery = 1000, EvalEvery = 7, DiffAugment = [], DivergencePatience = 0, PlateauPatience = 0,
        };
        var shape = new GanShape(1, 28, 28, 8);
        var whole = new GanTrainer(s, shape, 3);
        Assert.True(whole.Train(train, Path.Combine(_dir, "a"), "run"));
        // 14 steps of 8 images: 112 images, phase 4 (hold level 2) of 24 images each; level 2.
        Assert.Equal(2.0, ((IProgressive)whole.G).Progress, 6);
        Assert.Equal(2.0, ((IProgressive)whole.Sampler).Progress, 6);

        var first = new GanTrainer(s, shape, 3);
        // Stopped at step 5: the checkpoint of step 4 is mid-way through the fade-in of level 1.
        Assert.False(first.Train(train, Path.Combine(_dir, "b"), "run", new GanCallbacks { StopAfter = 5 }));
        var resumed = new GanTrainer(s, shape, 3);
        var lines = new List<string>();
        Assert.True(resumed.Train(train, Path.Combine(_dir, "b"), "run", new GanCallbacks { Log = lines.Add }));
        Assert.Contains("run: resumed at step 4/14", lines);
        foreach (var (a, b) in new[] { (whole.G.StateDict(), resumed.G.StateDict()), (whole.D.StateDict(), resumed.D.StateDict()), (whole.Sampler.StateDict(), resumed.Sampler.StateDict()) })
        {
            foreach (var (name, t) in a)
            {
                Assert.True(t.ToDoubleArray().SequenceEqual(b[name].ToDoubleArray()), $"{name} differs after resume");
            }
        }
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "a", "run.losses.csv")), File.ReadAllText(Path.Combine(_dir, "b", "run.losses.csv")));

        // SMate's fine-tuning of a transferred pair carries on at the level the pair had grown to.
        var fine = new GanTrainer(s with { Steps = 2 }, shape, 4, transferFrom: whole);
        Assert.True(fine.Train(train, Path.Combine(_dir, "c"), "fine"));
        Assert.Equal(2.0, ((IProgressive)fine.G).Progress, 6);
        var fresh = new GanTrainer(s with { Steps = 2 }, shape, 4);
        Assert.True(fresh.Train(train, Path.Combine(_dir, "d"), "fresh"));
        Assert.Equal(0.0, ((IProgressive)fresh.G).Progress, 6);

        // The saved generator draws at the level it reached.
        var file = Path.Combine(_dir, "g.generator.safetensors");
        GeneratorFile.Save(file, whole.Sampler, "progan", 1, data.ClassNames, "k", []);
        var loaded = GeneratorFile.Load(file);
        Assert.Equal(2.0, ((IProgressive)loaded.Generator).Progress, 6);
        Assert.Equal(GeneratorFile.Generate(whole.Sampler, 3, 1, new Generator(9)), GeneratorFile.Generate(loaded.Generator, 3, 1, new Generator(9)));
    }
}
