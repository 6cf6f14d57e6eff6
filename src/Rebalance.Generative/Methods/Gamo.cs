using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Methods;

/// <summary>How GAMO is trained.</summary>
public sealed record GamoSettings
{
    /// <summary>Training steps (each updates the classifier, the discriminator and the generator once).</summary>
    public int Steps { get; init; } = 3000;

    /// <summary>Real images per step, drawn uniformly (so each class appears at its prior, as the objective assumes).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Generated images per filled class per step; 0: the batch size over the number of classes.</summary>
    public int GeneratedPerClass { get; init; }

    /// <summary>Noise size fed to the transient mapping unit with the class.</summary>
    public int LatentDim { get; init; } = 32;

    /// <summary>Adam rate of all three players.</summary>
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>Adam β1.</summary>
    public double Beta1 { get; init; } = 0.5;

    /// <summary>Steps between checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Steps between sample grids.</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>Reads the settings.</summary>
    public static GamoSettings Read(MethodSettings s)
    {
        var d = new GamoSettings();
        return new GamoSettings
        {
            Steps = s.Int("steps", d.Steps, 1, 10_000_000),
            BatchSize = s.Int("batch_size", d.BatchSize, 2, 4096),
            GeneratedPerClass = s.Int("gen_per_class", d.GeneratedPerClass, 0, 4096),
            LatentDim = s.Int("z_dim", d.LatentDim, 1, 1024),
            LearningRate = s.Double("lr", d.LearningRate, 1e-7, 1),
            Beta1 = s.Double("beta1", d.Beta1, 0, 0.999),
            CheckpointEvery = s.Int("checkpoint_every", d.CheckpointEvery, 1, 10_000_000),
            SampleEvery = s.Int("sample_every", d.SampleEvery, 1, 10_000_000),
        };
    }

    /// <summary>Everything that decides the trained weights.</summary>
    public string Canonical() => string.Join(";", "gamo v1", Steps, BatchSize, GeneratedPerClass, LatentDim,
        LearningRate.ToString("R", CultureInfo.InvariantCulture), Beta1.ToString("R", CultureInfo.InvariantCulture), CheckpointEvery);
}

/// <summary>
/// GAMO (Mullick, Datta and Das 2019, "Generative adversarial minority oversampling"): a three-player game
/// between a convex generator (<see cref="GamoGenerator"/>), a classifier M and a class-conditional
/// discriminator D, with the objectives of <see cref="GamoLosses"/>, on flattened pixels as the authors do
/// for MNIST and Fashion-MNIST (M and D are dense networks; images of any size and channel count work).
/// Each step updates M, then D, then G, each with Adam (2e-4, β1 0.5). New images of a filled class: the
/// generator's convex combinations of that class's training images for fresh noise. The classifier is a
/// by-product, kept beside the generator in <c>all.gamo.safetensors</c> (modules <c>g</c>, <c>m</c>,
/// <c>d</c>). Training checkpoints and resumes exactly.
/// </summary>
public sealed class Gamo : GenerativeRebalancer
{
    private readonly GamoSettings _s;
    private GamoGenerator? _g;
    private Dictionary<int, Tensor>? _images;

    internal Gamo(GamoSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => "gamo";

    private protected override GanSettings Primary => new() { LatentDim = _s.LatentDim };

    /// <summary>GAMO works on flattened pixels, so any image size and channel count will do.</summary>
    public override void CheckData(int channels, int height, int width, int numClasses)
    {
        if (numClasses < 2)
        {
            throw new ArgumentException($"gamo: needs at least 2 classes, the data has {numClasses}");
        }
    }

    /// <summary>The three networks, for a dataset of <paramref name="pixels"/> values per image.</summary>
    internal static (GamoGenerator G, Sequential M, Sequential D) Create(GamoSettings s, int pixels, int numClasses, int[] grow, int[] counts, ulong seed) =>
        (new GamoGenerator(s.LatentDim, numClasses, grow, [.. grow.Select(c => counts[c])], new Generator(seed ^ 0x6a09e667f3bcc908UL)),
         new Sequential(new Linear(pixels, 256, new Generator(seed ^ 0xbb67ae8584caa73bUL)), Activation.LeakyReLU(0.2), new Linear(256, 128, new Generator(seed ^ 0x3c6ef372fe94f82bUL)), Activation.LeakyReLU(0.2), new Linear(128, numClasses, new Generator(seed ^ 0xa54ff53a5f1d36f1UL))),
         new Sequential(new Linear(pixels + numClasses, 256, new Generator(seed ^ 0x510e527fade682d1UL)), Activation.LeakyReLU(0.2), new Linear(256, 128, new Generator(seed ^ 0x9b05688c2b3e6c1fUL)), Activation.LeakyReLU(0.2), new Linear(128, 1, new Generator(seed ^ 0x1f83d9abfb41bd6bUL))));

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var counts = train.ClassCounts();
        var key = GanSettings.Digest(_s.Canonical() + ";" + string.Join(",", grow) + ";" + seed.ToString(CultureInfo.InvariantCulture) + ";" + GeneratorFile.Fingerprint(train));
        var file = Path.Combine(dir, "all.gamo.safetensors");
        var pixels = train.Channels * train.Height * train.Width;
        var (g, m, d) = Create(_s, pixels, train.NumClasses, grow, counts, seed);
        _images = grow.ToDictionary(c => c, c => ClassImages(train, c));
        foreach (var c in grow.Where(c => counts[c] == 1))
        {
            notes.Add(new RebalanceNote("copies", $"class {c} ('{train.ClassNames[c]}') has one training image, so every convex combination of it is a copy", $"class{c}"));
        }
        if (StoredModel.Open(file, "gamo", key, "a GAMO model") is { } stored)
        {
            stored.LoadModule(g, "g");
            log?.Invoke($"all: reusing the trained GAMO model {file}");
        }
        else
        {
            var trainer = new GamoTrainer(_s, g, m, d, grow, counts, [.. grow.Select(c => _images[c])], seed);
            log?.Invoke($"all: training GAMO (convex generator, classifier and discriminator) on {train.Count} images for {_s.Steps} steps, filling class(es) {string.Join(", ", grow)}");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            trainer.Train(train, dir, "all", key, log, Context.Progress);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"all: trained in {sw.Elapsed.TotalSeconds:F0} s, J {trainer.Last.J:G4}, Q {trainer.Last.Q:G4}"));
            var save = new Checkpoint().AddModule(g, "g").AddModule(m, "m").AddModule(d, "d");
            save.Metadata["gamo.key"] = key;
            save.Metadata["gamo.classes"] = string.Join(",", grow);
            save.Save(file);
            File.Delete(Path.Combine(dir, "all.state.safetensors"));
        }
        g.Eval();
        _g = g;
        return [];
    }

    /// <summary>The training images of class <paramref name="c"/> as rows of pixels in [-1, 1].</summary>
    internal static Tensor ClassImages(Dataset train, int c)
    {
        var idx = train.IndicesOf(c);
        return train.ToTensor(PixelRange.MinusOneToOne, idx).Reshape(idx.Length, -1);
    }

    private protected override byte[] Generate(Dataset train, int c, int n, GanGenerator? g, Generator gen, Action<string>? log)
    {
        var model = _g ?? throw new InvalidOperationException("GAMO: generating before training");
        var images = _images ?? throw new InvalidOperationException("GAMO: generating before training");
        return GamoTrainer.Generate(model, [.. images.Keys], [.. images.Values], c, n, gen, train.Channels, train.Height, train.Width);
    }
}
