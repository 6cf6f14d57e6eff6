using System.Globalization;
using Rebalance.Data;
using Rebalance.Evaluation.Quality;
using Rebalance.Generative.Methods;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Evaluation;

/// <summary>
/// Two levers the literature applies to generated images, for every generative method, set in the
/// method's entry and implemented once here:
/// <list type="bullet">
/// <item><c>filter: P</c> keeps a generated image only when a classifier trained on the imbalanced
/// training split the method sees (cnn28 with class-balanced batches, <c>filter_epochs</c> epochs; never
/// the judge, which saw data a user would not have) gives its class a probability of at least P. More images
/// are drawn until each class's target is met, up to <c>filter_draws</c> times the target; when that cap is
/// hit, the class is completed with the most probable of the rejected images and a note says so.</item>
/// <item><c>augment: [names]</c> applies classic augmentations (the names of <c>augment-over</c>) to the
/// generated images after filtering: "combine traditional and generative augmentation".</item>
/// </list>
/// Neither lever changes the generators: they are the same files as without the levers (the levers'
/// settings are not part of the model folder's key), so entries that differ only in levers share them.
/// </summary>
public sealed class GeneratedImageLevers : IRebalancer
{
    /// <summary>The settings the levers read (kept out of the generative method's own settings).</summary>
    public static readonly IReadOnlyList<string> Keys = ["filter", "filter_epochs", "filter_draws", "augment"];

    private readonly GenerativeContext _context;

    private GeneratedImageLevers(GenerativeRebalancer inner, double filter, int epochs, int draws, IReadOnlyList<string> augment, GenerativeContext context)
    {
        Inner = inner;
        Filter = filter;
        FilterEpochs = epochs;
        FilterDraws = draws;
        AugmentNames = augment;
        _context = context;
    }

    /// <summary>The generative method whose images are filtered and augmented.</summary>
    public GenerativeRebalancer Inner { get; }

    /// <summary>The class probability a generated image needs (0: no filter).</summary>
    public double Filter { get; }

    /// <summary>Epochs of the filter classifier.</summary>
    public int FilterEpochs { get; }

    /// <summary>At most this many times the images needed are drawn per class.</summary>
    public int FilterDraws { get; }

    /// <summary>Augmentations of the kept images (empty: none).</summary>
    public IReadOnlyList<string> AugmentNames { get; }

    /// <inheritdoc />
    public string Name => Inner.Name;

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Over;

    /// <summary>The generative method, wrapped when its settings name a lever. Lever settings are read
    /// (and checked) here; the method gets the rest.</summary>
    public static IRebalancer Create(string name, MethodSettings settings, GenerativeContext? context)
    {
        context ??= new GenerativeContext();
        var own = settings.Values.Where(kv => !Keys.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var ownSettings = new MethodSettings(name, own);
        ownSettings.Allow(Keys);
        var inner = (GenerativeRebalancer)GenerativeMethods.Create(name, ownSettings, context);
        if (own.Count == settings.Values.Count)
        {
            return inner;
        }
        var levers = new MethodSettings(name, settings.Values.Where(kv => Keys.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
        var filter = levers.Double("filter", 0, 0, 0.999);
        var epochs = levers.Int("filter_epochs", 3, 1, 100);
        var draws = levers.Int("filter_draws", 20, 2, 1000);
        var augment = levers.List("augment", []);
        if (augment.Count > 0)
        {
            Augmentations.Parse(augment);
        }
        levers.CheckAllUsed();
        return new GeneratedImageLevers(inner, filter, epochs, draws, augment, context);
    }

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null)
    {
        var counts = train.ClassCounts();
        var targets = strategy.Targets(counts, Kind);
        var need = counts.Select((n, c) => Math.Max(0, targets[c] - n)).ToArray();
        if (need.Sum() == 0)
        {
            return Inner.FitResample(train, strategy, seed, log);
        }
        var notes = new List<RebalanceNote>();
        RebalanceResult drawn;
        var chosen = new List<int>();
        if (Filter > 0)
        {
            var judge = FilterClassifier(train, seed, log);
            // Draw twice what is needed, then more while a class falls short, up to the cap. A generator
            // draws the same first images whatever the count asked, so each round extends the last.
            var factor = 2;
            while (true)
            {
                var ask = counts.Select((n, c) => n + (need[c] * factor)).ToArray();
                drawn = Inner.FitResample(train, SamplingStrategy.FromCounts(ask), seed, factor == 2 ? log : null);
                var synthetic = Enumerable.Range(0, drawn.Train.Count).Where(drawn.Train.IsSynthetic).ToArray();
                var probs = judge.Probabilities(drawn.Train, synthetic);
                var p = synthetic.Select((i, k) => probs[k][drawn.Train.Label(i)]).ToArray();
                var shortOf = Enumerable.Range(0, counts.Length).Where(c => need[c] > 0 && synthetic.Where((i, k) => drawn.Train.Label(i) == c && p[k] >= Filter).Count() < need[c]).ToList();
                if (shortOf.Count == 0 || factor >= FilterDraws)
                {
                    chosen = Choose(drawn.Train, synthetic, p, need, notes, log);
                    break;
                }
                factor = Math.Min(FilterDraws, factor * 2);
                // The next round draws all again: let this round's images and their copies go first, so the
                // rounds' datasets are not all resident at once.
                drawn = null!;
                TensorMemory.Trim();
            }
        }
        else
        {
            drawn = Inner.FitResample(train, strategy, seed, log);
            chosen = [.. Enumerable.Range(0, drawn.Train.Count).Where(drawn.Train.IsSynthetic)];
        }
        var size = train.ImageSize;
        var pixels = new byte[chosen.Count * size];
        for (var k = 0; k < chosen.Count; k++)
        {
            drawn.Train.Image(chosen[k]).CopyTo(pixels.AsSpan(k * size, size));
        }
        if (AugmentNames.Count > 0)
        {
            var augmentation = Augmentations.Parse(AugmentNames);
            var gen = new Generator(seed ^ 0xa06e);
            for (var start = 0; start < chosen.Count; start += 1024)
            {
                var len = Math.Min(1024, chosen.Count - start);
                using var scope = TensorScope.Begin();
                var batch = new Dataset("generated", pixels[(start * size)..((start + len) * size)], [.. Enumerable.Repeat(0, len)], train.Channels, train.Height, train.Width, ["x"]);
                Dataset.ToBytes(augmentation.Apply(batch.ToTensor(PixelRange.MinusOneToOne), gen)).CopyTo(pixels.AsSpan(start * size));
            }
            log?.Invoke($"augmented the {chosen.Count} generated images ({string.Join("+", AugmentNames)})");
        }
        return new RebalanceResult(train.WithSynthetic(pixels, [.. chosen.Select(drawn.Train.Label)]))
        {
            ModelFolder = drawn.ModelFolder,
            Notes = [.. drawn.Notes, .. notes],
        };
    }

    /// <summary>For each class, the first images (in generation order) that reach the filter's probability;
    /// where too few do, the most probable of the rest complete it, with a note.</summary>
    private List<int> Choose(Dataset drawn, int[] synthetic, double[] p, int[] need, List<RebalanceNote> notes, Action<string>? log)
    {
        var chosen = new List<int>();
        for (var c = 0; c < need.Length; c++)
        {
            if (need[c] == 0)
            {
                continue;
            }
            var mine = Enumerable.Range(0, synthetic.Length).Where(k => drawn.Label(synthetic[k]) == c).ToArray();
            var pass = mine.Where(k => p[k] >= Filter).Take(need[c]).ToList();
            var passed = mine.Count(k => p[k] >= Filter);
            var detail = string.Create(CultureInfo.InvariantCulture, $"{passed} of {mine.Length} drawn images ({passed / (double)mine.Length:P0}) reached probability {Filter:0.###} of class {c} ('{drawn.ClassNames[c]}'); {mine.Length - passed} filtered out");
            if (pass.Count < need[c])
            {
                var fill = mine.Where(k => p[k] < Filter).OrderByDescending(k => p[k]).ThenBy(k => k).Take(need[c] - pass.Count).ToList();
                detail += string.Create(CultureInfo.InvariantCulture, $"; the cap of {FilterDraws}x draws was hit, so {fill.Count} of the rejected (the most probable, down to {(fill.Count > 0 ? p[fill[^1]] : double.NaN):0.###}) complete the class");
                pass.AddRange(fill);
                pass.Sort();
                notes.Add(new RebalanceNote("filter-cap", detail, $"class{c}"));
            }
            else
            {
                notes.Add(new RebalanceNote("filter", detail, $"class{c}"));
            }
            log?.Invoke("filter: " + detail);
            chosen.AddRange(pass.Select(k => synthetic[k]));
        }
        chosen.Sort();
        return chosen;
    }

    /// <summary>The filter classifier of this training split and seed: trained once, kept beside the
    /// generators (or in a temporary folder).</summary>
    private Judge FilterClassifier(Dataset train, ulong seed, Action<string>? log)
    {
        var dir = Path.Combine(_context.CheckpointRoot ?? Path.Combine(Path.GetTempPath(), "rebalance-filters"), "filters");
        return Judge.LoadOrTrain(train, null, seed, dir, new JudgeSettings { Epochs = FilterEpochs }, line => log?.Invoke(line.Replace("judge:", "filter classifier:", StringComparison.Ordinal)));
    }
}
