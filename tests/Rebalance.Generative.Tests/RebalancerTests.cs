using Rebalance.Data;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Methods;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Tests;

public sealed class RebalancerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-genreb-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static MethodSettings Quick(string method, params (string Key, string Value)[] extra)
    {
        var values = new Dictionary<string, string> { ["steps"] = "6", ["batch_size"] = "8", ["z_dim"] = "8", ["checkpoint_every"] = "3", ["eval_every"] = "3" };
        if (method == "smate")
        {
            values["pretrain_steps"] = "4";
        }
        foreach (var (k, v) in extra)
        {
            values[k] = v;
        }
        return new MethodSettings(method, values);
    }

    private static Dataset Imbalanced()
    {
        var d = TrainerTests.TwoBlobs(20);
        var keep = d.IndicesOf(0).Concat(d.IndicesOf(1).Take(4)).Order().ToArray();
        return d.Subset(keep);
    }

    [Theory]
    [InlineData("gan-per-class")]
    [InlineData("smate")]
    [InlineData("cgan")]
    public void FillsEachClassToItsTargetWithSyntheticImagesAndReusesTheTrainedGenerators(string method)
    {
        var train = Imbalanced();
        var context = new GenerativeContext { CheckpointRoot = _dir };
        var lines = new List<string>();
        var r = GenerativeMethods.Create(method, Quick(method), context);
        var result = r.FitResample(train, SamplingStrategy.Auto, 3, lines.Add).Train;
        Assert.Equal([20, 20], result.ClassCounts());
        Assert.Equal(16, result.SyntheticCount);
        Assert.All(Enumerable.Range(0, result.Count).Where(result.IsSynthetic), i => Assert.Equal(1, result.Label(i)));
        var files = Directory.GetFiles(_dir, "*.generator.safetensors", SearchOption.AllDirectories);
        Assert.Single(files);
        Assert.EndsWith(method == "cgan" ? "all.generator.safetensors" : "class1.generator.safetensors", files[0], StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dir, "*.state.safetensors", SearchOption.AllDirectories));

        // A second run with the same settings, data and seed loads the generator and gives the same images.
        var again = new List<string>();
        var second = GenerativeMethods.Create(method, Quick(method), context).FitResample(train, SamplingStrategy.Auto, 3, again.Add).Train;
        Assert.Contains(again, l => l.Contains("reusing the trained generator", StringComparison.Ordinal));
        for (var i = 0; i < result.Count; i++)
        {
            Assert.True(result.Image(i).SequenceEqual(second.Image(i)));
        }
    }

    /// <summary>Three classes of 20, 4 and 4 images (class 2 repeats class 1's pattern from other noise).</summary>
    private static Dataset ThreeClasses()
    {
        var a = TrainerTests.TwoBlobs(20);
        var b = TrainerTests.TwoBlobs(4, seed: 9);
        var idx = a.IndicesOf(0).Concat(a.IndicesOf(1).Take(4)).ToList();
        var pixels = new List<byte>();
        var labels = new List<int>();
        foreach (var i in idx)
        {
            pixels.AddRange(a.Image(i).ToArray());
            labels.Add(a.Label(i));
        }
        foreach (var i in b.IndicesOf(1))
        {
            pixels.AddRange(b.Image(i).ToArray());
            labels.Add(2);
        }
        return new Dataset("three", [.. pixels], [.. labels], 1, 28, 28, ["a", "b", "c"]);
    }

    [Fact]
    public void SmateEntriesThatFillDifferentClassesEachRunAndKeepTheirOwnModels()
    {
        // auto fills classes 1 and 2 (pre-training on class 0); fill:2=0.5 fills class 2 only (pre-training
        // on classes 0 and 1). Same settings and seed, so before the fix both used one folder and the
        // second failed on the first one's class-2 generator.
        var train = ThreeClasses();
        var context = new GenerativeContext { CheckpointRoot = _dir };
        var all = GenerativeMethods.Create("smate", Quick("smate"), context).FitResample(train, SamplingStrategy.Auto, 3);
        Assert.Equal([20, 20, 20], all.Train.ClassCounts());
        var one = GenerativeMethods.Create("smate", Quick("smate"), context).FitResample(train, SamplingStrategy.Parse("fill:2=0.5"), 3);
        Assert.Equal([20, 4, 10], one.Train.ClassCounts());
        Assert.NotEqual(all.ModelFolder, one.ModelFolder);
        // Another fill level of the same classes reuses the second entry's models.
        var lines = new List<string>();
        var full = GenerativeMethods.Create("smate", Quick("smate"), context).FitResample(train, SamplingStrategy.Parse("fill:2=1"), 3, lines.Add);
        Assert.Equal(one.ModelFolder, full.ModelFolder);
        Assert.Contains(lines, l => l.Contains("reusing the trained generator", StringComparison.Ordinal));
    }

    [Fact]
    public void TheGeneratorFileKeepsPyTorchStateDictNamesAndRebuildsTheGenerator()
    {
        var shape = new GanShape(1, 28, 28, 8, 2);
        var g = GanArchitectures.Get("dcgan").CreateGenerator(shape, new Generator(1));
        var path = Path.Combine(_dir, "g.safetensors");
        Directory.CreateDirectory(_dir);
        GeneratorFile.Save(path, g, "dcgan", null, ["a", "b"]);
        var loaded = GeneratorFile.Load(path);
        Assert.Equal(
            ["label_embed.weight", "fc.weight", "fc.bias", "bn0.weight", "bn0.bias", "bn0.running_mean", "bn0.running_var", "bn0.num_batches_tracked",
             "up1.weight", "up1.bias", "bn1.bn.running_mean", "bn1.bn.running_var", "bn1.bn.num_batches_tracked", "bn1.embed.weight", "up2.weight", "up2.bias"],
            loaded.Generator.StateDict().Keys);
        var a = GeneratorFile.Generate(g, 5, 1, new Generator(4));
        var b = GeneratorFile.Generate(loaded.Generator, 5, 1, new Generator(4));
        Assert.Equal(a, b);
        Assert.Equal(["a", "b"], loaded.ClassNames);
        Assert.Null(loaded.Class);
    }

    [Fact]
    public void AFileThatIsNotAGeneratorIsRefusedNamingIt()
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "plain.safetensors");
        new Nn.Checkpoint().AddModule(GanArchitectures.Get("dcgan").CreateGenerator(new GanShape(1, 28, 28, 8), new Generator(1))).Save(path);
        var e = Assert.Throws<Nn.CheckpointException>(() => GeneratorFile.Load(path));
        Assert.Equal($"{path}: not a generator file (no 'generator.shape' in its metadata)", e.Message);
        Assert.Throws<FileNotFoundException>(() => GeneratorFile.Load(Path.Combine(_dir, "missing.safetensors")));
        var g = GanArchitectures.Get("dcgan").CreateGenerator(new GanShape(1, 28, 28, 8), new Generator(1));
        var bad = new Nn.Checkpoint().AddModule(g);
        bad.Metadata["generator.arch"] = "dcgan";
        bad.Metadata["generator.shape"] = "1,28";
        bad.Save(path);
        e = Assert.Throws<Nn.CheckpointException>(() => GeneratorFile.Load(path));
        Assert.Equal($"{path}: not a generator file ('generator.shape' is '1,28', expected 3 non-negative integer(s))", e.Message);
    }

    [Fact]
    public void AStoredGeneratorFromOtherSettingsIsNeitherReusedNorOverwritten()
    {
        var train = Imbalanced();
        var dir = Path.Combine(_dir, "models");
        var first = (GenerativeRebalancer)GenerativeMethods.Create("gan-per-class", Quick("gan-per-class"));
        first.TrainGenerators(train, [1], 3, dir);
        var file = Path.Combine(dir, "class1.generator.safetensors");
        var before = File.ReadAllBytes(file);
        var other = (GenerativeRebalancer)GenerativeMethods.Create("gan-per-class", Quick("gan-per-class", ("lr_g", "0.001")));
        var e = Assert.Throws<ArgumentException>(() => other.TrainGenerators(train, [1], 3, dir));
        Assert.Equal($"{file} holds a generator trained with other settings, data or seed; use another output folder or delete the file", e.Message);
        Assert.Throws<ArgumentException>(() => first.TrainGenerators(train, [1], 4, dir));
        Assert.Equal(before, File.ReadAllBytes(file));
    }

    [Theory]
    [InlineData("loss", "wgan", "one of gan, gan-gp, wgan-gp, lsgan, dragan, hinge")]
    [InlineData("arch", "resnet", "one of atienza, brownlee, dcgan, dcgan-deep")]
    [InlineData("diffaugment", "flip", "unknown augmentation 'flip'")]
    [InlineData("stepz", "10", "unknown setting 'stepz'")]
    public void BadSettingsNameTheKey(string key, string value, string expected)
    {
        var e = Assert.Throws<SettingException>(() => GenerativeMethods.Create("gan-per-class", new MethodSettings("gan-per-class", new Dictionary<string, string> { [key] = value })));
        Assert.Equal(key, e.Key);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gan-per-class")]
    [InlineData("cgan")]
    public void AnImageSizeTheArchitectureDoesNotSupportIsRefused(string method)
    {
        var r = (GenerativeRebalancer)GenerativeMethods.Create(method, new MethodSettings(method));
        var e = Assert.Throws<ArgumentException>(() => r.CheckData(3, 200, 64, 10));
        Assert.Equal("GAN architecture 'dcgan' supports images of 16 to 128 pixels a side, got 3x200x64", e.Message);
        r.CheckData(3, 32, 32, 10);
        r.CheckData(3, 50, 50, 10);
    }

    [Fact]
    public void AClassWithNoImagesIsRefusedBeforeTraining()
    {
        var d = TrainerTests.TwoBlobs(10);
        var onlyZero = d.Subset(d.IndicesOf(0));
        var r = GenerativeMethods.Create("gan-per-class", Quick("gan-per-class"), new GenerativeContext { CheckpointRoot = _dir });
        var e = Assert.Throws<ArgumentException>(() => r.FitResample(onlyZero, SamplingStrategy.Parse("fill:1=0.5"), 0));
        Assert.Contains("class 1 ('bottom-right') has no images to train a generator on", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir) && Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories).Any());
    }

    [Fact]
    public void SmateNeedsAMajorityClassToPretrainOn()
    {
        var train = Imbalanced();
        var r = GenerativeMethods.Create("smate", Quick("smate"));
        var e = Assert.Throws<ArgumentException>(() => r.FitResample(train, SamplingStrategy.Parse("counts:30,30"), 0));
        Assert.Contains("no majority class is left to pre-train on", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dcgan", 1, 28, false)]
    [InlineData("dcgan", 3, 32, true)]
    [InlineData("dcgan-deep", 1, 28, true)]
    [InlineData("dcgan-deep", 3, 32, false)]
    public void ArchitecturesMapCodesToImagesAndImagesToOneScore(string arch, int channels, int size, bool conditional)
    {
        var shape = new GanShape(channels, size, size, 12, conditional ? 3 : 0);
        var a = GanArchitectures.Get(arch);
        var gen = new Generator(2);
        var g = a.CreateGenerator(shape, gen);
        var d = a.CreateDiscriminator(shape, new DiscriminatorOptions(AuxClassifier: conditional, SpectralNorm: !conditional), gen);
        var labels = conditional ? Tensor.FromArray(new[] { 0, 2, 1, 0 }, 4) : null;
        var x = g.Forward(gen.Normal([4, 12]), labels);
        Assert.Equal([4, channels, size, size], x.Shape);
        Assert.All(x.ToFloatArray(), v => Assert.InRange(v, -1f, 1f));
        var o = d.Forward(x, labels);
        Assert.Equal([4], o.Logits.Shape);
        Assert.Equal(conditional ? [4, 3] : null, o.ClassLogits?.Shape);
        Assert.Contains("unknown GAN architecture 'vgg'", Assert.Throws<ArgumentException>(() => GanArchitectures.Get("vgg")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DiffAugmentIsDifferentiableAndTranslationMovesPixels()
    {
        var gen = new Generator(1);
        var x = gen.Uniform([3, 1, 28, 28], -1, 1).RequiresGrad_();
        var aug = new DiffAugment(["color", "translation", "cutout"]);
        var y = aug.Apply(x, gen);
        Assert.Equal(x.Shape, y.Shape);
        y.Sum().Backward();
        Assert.Contains(x.Grad!.ToFloatArray(), g => g != 0);

        // A translation alone keeps every pixel value it does not push out (the rest become zero).
        var ones = Tensor.Arange(1, 785).Reshape(1, 1, 28, 28);
        var moved = new DiffAugment(["translation"]).Apply(ones, new Generator(3)).ToFloatArray();
        Assert.All(moved, v => Assert.True(v == 0 || (v >= 1 && v <= 784 && v == Math.Floor(v))));
        Assert.Equal(moved.Where(v => v != 0).Distinct().Count(), moved.Count(v => v != 0));
        Assert.Throws<ArgumentException>(() => new DiffAugment(["zoom"]));
    }
}
