using Rebalance.Data;
using Rebalance.Data.Augment;
using Rebalance.Tensors;

namespace Rebalance.Sampling;

/// <summary>What a rebalancer returns: the new training set (added images flagged synthetic) and,
/// for loss-weighting methods, a weight per class.</summary>
public sealed record RebalanceResult(Dataset Train, float[]? ClassWeights = null)
{
    /// <summary>For methods that train models: the folder that keeps them (null when they were not kept).</summary>
    public string? ModelFolder { get; init; }

    /// <summary>What the method did that a results table should not hide: a class it left as it was,
    /// a training restart, a learning-rate cut. Runs store them and reports show them.</summary>
    public IReadOnlyList<RebalanceNote> Notes { get; init; } = [];

    /// <summary>For a generator conditioned on measurable attributes: how well its images show the values
    /// they were requested with (empty otherwise). Runs store them and reports show them.</summary>
    public IReadOnlyList<AttributeCheck> ConditionCheck { get; init; } = [];
}

/// <summary>How well generated images show one attribute they were requested with.</summary>
/// <param name="Attribute">The attribute.</param>
/// <param name="Generated">Mean |requested − measured| over generated images.</param>
/// <param name="Ignored">Mean |requested − a random real image's value|: what a generator that drew realistic
/// images without regard to the request would score.</param>
/// <param name="Real">Mean |recorded − measured| over real images: how far the measurement itself is from the
/// recorded values (0 when they were measured the same way).</param>
public sealed record AttributeCheck(string Attribute, double Generated, double Ignored, double Real)
{
    /// <summary>One line for logs and notes.</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{Attribute}: generated images are off by {Generated:G3} on average (a generator ignoring the request: {Ignored:G3}; real images re-measured: {Real:G3})");
}

/// <summary>One thing a rebalancer reports about its own work. <paramref name="Kind"/> is a short
/// machine-readable word ("class-unchanged", "restart", "plateau"); <paramref name="Source"/> names the
/// class or model it concerns; <paramref name="Step"/> is the training step for a model's events.</summary>
public sealed record RebalanceNote(string Kind, string Detail, string? Source = null, int? Step = null)
{
    /// <summary>The note as one line for logs and reports.</summary>
    public override string ToString() => $"{(Source is null ? "" : Source + ": ")}{Kind}{(Step is { } s ? $" at step {s}" : "")}: {Detail}";
}

/// <summary>
/// One rebalancing method. <c>FitResample</c> takes the imbalanced training split only (never the test
/// set), a strategy and a seed, and is deterministic for a given seed.
/// </summary>
public interface IRebalancer
{
    /// <summary>The method's name as experiment files write it.</summary>
    string Name { get; }

    /// <summary>Whether it adds or removes images (what <see cref="SamplingStrategy.Targets"/> assumes).</summary>
    SamplingKind Kind { get; }

    /// <summary>Rebalances <paramref name="train"/>; <paramref name="log"/> receives progress lines.</summary>
    RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null);
}

/// <summary>The classic rebalancers by name, with their settings read from <see cref="MethodSettings"/>.</summary>
public static class Rebalancers
{
    /// <summary>Known method names.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["none", "random-over", "random-under", "class-weights", "smote", "borderline-smote", "adasyn", "augment-over"];

    /// <summary>Whether <paramref name="name"/> is a classic rebalancer.</summary>
    public static bool IsKnown(string name) => Names.Contains(name);

    /// <summary>Builds a rebalancer; unknown names and settings throw with the known ones listed.</summary>
    public static IRebalancer Create(string name, MethodSettings settings)
    {
        IRebalancer r = name switch
        {
            "none" => new NoRebalancing(),
            "random-over" => new RandomOverSampler(),
            "random-under" => new RandomUnderSampler(),
            "class-weights" => new ClassWeighting(settings.Double("power", 1.0, 0, 4)),
            "smote" => new Smote(settings.Int("k", 5, 1, 100)),
            "borderline-smote" => new BorderlineSmote(settings.Int("kind", 1, 1, 2), settings.Int("k", 5, 1, 100), settings.Int("m", 10, 1, 100)),
            "adasyn" => new Adasyn(settings.Int("k", 5, 1, 100)),
            "augment-over" => new AugmentOverSampler(Augmentations.Parse(settings.List("augment", AugmentOverSampler.DefaultAugment))),
            _ => throw new ArgumentException($"unknown method '{name}' (known: {string.Join(", ", Names)})"),
        };
        settings.CheckAllUsed();
        return r;
    }

    /// <summary>Class counts as text for logs: "0:4000 1:2000 ...".</summary>
    public static string FormatCounts(int[] counts) => string.Join(" ", counts.Select((n, c) => $"{c}:{n}"));
}

/// <summary>Image augmentations by name, with the defaults that suit 28x28 and 32x32 images.</summary>
public static class Augmentations
{
    /// <summary>Known names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["affine", "crop", "hflip", "vflip", "cutout", "noise", "blur", "contrast", "multiply", "elastic"];

    /// <summary>The named augmentations applied in order.</summary>
    public static Augmentation Parse(IReadOnlyList<string> names) => Augmentation.Compose([.. names.Select(One)]);

    private static Augmentation One(string name) => name switch
    {
        "affine" => new Affine(rotation: 10, translate: 0.08, scaleMin: 0.9, scaleMax: 1.1, shear: 8),
        "crop" => new PadCrop(2),
        "hflip" => new HorizontalFlip(),
        "vflip" => new VerticalFlip(),
        "cutout" => new Cutout(8, 0.5),
        "noise" => new GaussianNoise(0.05),
        "blur" => new GaussianBlur(0, 0.8, 0.5),
        "contrast" => new ContrastNormalization(0.8, 1.2),
        "multiply" => new Multiply(0.8, 1.2),
        "elastic" => new ElasticDistortion(8, 3),
        _ => throw new ArgumentException($"unknown augmentation '{name}' (known: {string.Join(", ", Names)})"),
    };
}

/// <summary>Leaves the training set as it is (the baseline).</summary>
public sealed class NoRebalancing : IRebalancer
{
    /// <inheritdoc />
    public string Name => "none";

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Over;

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null) => new(train);
}

/// <summary>Keeps the data and weights each class's loss by (N / (K n_c))^power (power 1 is
/// scikit-learn's "balanced" weighting).</summary>
public sealed class ClassWeighting(double power = 1.0) : IRebalancer
{
    /// <inheritdoc />
    public string Name => "class-weights";

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Over;

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null)
    {
        var counts = train.ClassCounts();
        var n = (double)train.Count;
        var k = counts.Length;
        var weights = counts.Select(c => c == 0 ? 0f : (float)Math.Pow(n / (k * (double)c), power)).ToArray();
        log?.Invoke("class weights " + string.Join(" ", weights.Select((w, c) => $"{c}:{w:0.###}")));
        return new RebalanceResult(train, weights);
    }
}

/// <summary>Duplicates randomly chosen images of each class (with replacement) up to its target.</summary>
public sealed class RandomOverSampler : IRebalancer
{
    /// <inheritdoc />
    public string Name => "random-over";

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Over;

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null)
    {
        var counts = train.ClassCounts();
        var targets = strategy.Targets(counts, Kind);
        SamplingStrategy.CheckGrowable(train, counts, targets, Name);
        var gen = new Generator(seed);
        var added = new List<int>();
        for (var c = 0; c < counts.Length; c++)
        {
            var idx = train.IndicesOf(c);
            for (var i = counts[c]; i < targets[c]; i++)
            {
                added.Add(idx[gen.NextInt(idx.Length)]);
            }
        }
        return new RebalanceResult(Synthesis.AddCopies(train, added));
    }
}

/// <summary>Keeps a random subset (without replacement) of each class down to its target.</summary>
public sealed class RandomUnderSampler : IRebalancer
{
    /// <inheritdoc />
    public string Name => "random-under";

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Under;

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null)
    {
        var counts = train.ClassCounts();
        var targets = strategy.Targets(counts, Kind);
        var gen = new Generator(seed);
        var keep = new List<int>();
        for (var c = 0; c < counts.Length; c++)
        {
            var idx = train.IndicesOf(c);
            var perm = gen.Permutation(idx.Length).ToIntArray();
            keep.AddRange(perm.Take(targets[c]).Select(p => idx[p]));
        }
        keep.Sort();
        return new RebalanceResult(train.Subset(keep));
    }
}

/// <summary>Fills each class with augmented copies of randomly chosen images of that class.</summary>
public sealed class AugmentOverSampler(Augmentation augmentation) : IRebalancer
{
    /// <summary>The augmentations used when none are named.</summary>
    public static readonly IReadOnlyList<string> DefaultAugment = ["affine", "noise"];

    /// <inheritdoc />
    public string Name => "augment-over";

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Over;

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null)
    {
        var counts = train.ClassCounts();
        var targets = strategy.Targets(counts, Kind);
        SamplingStrategy.CheckGrowable(train, counts, targets, Name);
        var gen = new Generator(seed);
        var sources = new List<int>();
        var labels = new List<int>();
        for (var c = 0; c < counts.Length; c++)
        {
            var idx = train.IndicesOf(c);
            for (var i = counts[c]; i < targets[c]; i++)
            {
                sources.Add(idx[gen.NextInt(idx.Length)]);
                labels.Add(c);
            }
        }
        var pixels = new byte[sources.Count * train.ImageSize];
        const int chunk = 1024;
        for (var start = 0; start < sources.Count; start += chunk)
        {
            var part = sources.GetRange(start, Math.Min(chunk, sources.Count - start));
            using var scope = TensorScope.Begin();
            var images = augmentation.Apply(train.ToTensor(PixelRange.MinusOneToOne, part), gen);
            Dataset.ToBytes(images).CopyTo(pixels.AsSpan(start * train.ImageSize));
        }
        return new RebalanceResult(sources.Count == 0 ? train : train.WithSynthetic(pixels, [.. labels]));
    }
}
