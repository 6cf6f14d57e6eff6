using System.Text.Json.Nodes;
using Rebalance.Data;

namespace Rebalance.Evaluation.Quality;

/// <summary>What the judge says of one class's generated images.</summary>
/// <param name="Class">Class index.</param>
/// <param name="Count">Generated images of the class that were measured.</param>
/// <param name="Fid">Intra-class FID against the class's real test images (NaN with fewer than 2 on either side).</param>
/// <param name="JudgedAsClass">Share the judge assigns to the class they were generated for.</param>
/// <param name="NearCopies">Near-copy score against the class's training images (null when the class has no training or test images).</param>
/// <param name="RealCount">Real test images of the class the FID rests on.</param>
/// <param name="SsimNearCopies">The near-copy test in pixel space (highest SSIM with a training image), on
/// a sample of at most <see cref="QualityAssessment.SsimSamples"/> generated and real test images and
/// <see cref="QualityAssessment.SsimTraining"/> training images; null where the feature test is null or the
/// images are smaller than SSIM's window.</param>
public sealed record ClassQuality(int Class, int Count, double Fid, double JudgedAsClass, NearCopyScore? NearCopies, int RealCount, NearCopyScore? SsimNearCopies = null);

/// <summary>Every measure of a set of generated images, with the judge that produced them.</summary>
public sealed record QualityResult(
    double Fid,
    (double Mean, double Std) Kid,
    (double Mean, double Std) InceptionScore,
    NeighbourScores Neighbours,
    double NearCopyShare,
    IReadOnlyList<ClassQuality> PerClass,
    ModeCollapse Collapse,
    double JudgeTestAccuracy,
    int Generated,
    int Real,
    IReadOnlyList<string> Warnings)
{
    /// <summary>The share of generated images that are pixel near-copies (SSIM), over the classes measured.</summary>
    public double SsimNearCopyShare { get; init; } = double.NaN;

    /// <summary>A t-SNE map of judge features: real test images of every class and generated images of each
    /// generated class (empty when not asked for).</summary>
    public IReadOnlyList<TsnePoint> Tsne { get; init; } = [];
}

/// <summary>One point of a t-SNE map: where it lies, its class, and whether it is a generated image.</summary>
public sealed record TsnePoint(double X, double Y, int Class, bool Generated);

/// <summary>
/// Judges generated images of a dataset's classes: FID, KID, IS, precision/recall, density/coverage
/// overall (against the real test images of the generated classes, which neither the generator nor any
/// sampler saw), intra-class FID
/// and judged-as-class per class, the mode-collapse confusion matrix, and the near-copy share against the
/// training split after the protocol (what a generator could have copied), calibrated on the real test
/// images. Every figure comes from the same judge (<see cref="Judge"/>); a figure resting on fewer images
/// than the feature dimension is flagged in <see cref="QualityResult.Warnings"/>.
/// </summary>
public static class QualityAssessment
{
    /// <summary>Random subsets of 1,000 images per side behind KID (Bińkowski et al. use 100; 10 keep the
    /// judging of 10,000 images to a few seconds on 2 cores, and the std over subsets says how settled it is).</summary>
    public const int KidSubsets = 10;

    /// <summary>At most this many images per side (a seeded sample) behind precision, recall, density and
    /// coverage, whose cost grows with the product of the two counts.</summary>
    public const int NeighbourSamples = 2000;

    /// <summary>Fewest generated (and real test) images judged: density and coverage need more than 5.</summary>
    public const int MinImages = 6;

    /// <summary>At most this many generated and real test images per class behind the SSIM near-copy test.</summary>
    public const int SsimSamples = 200;

    /// <summary>At most this many training images per class the SSIM near-copy test compares with.</summary>
    public const int SsimTraining = 1000;

    private static float[][] Sample(float[][] rows, int max, Tensors.Generator gen) =>
        rows.Length <= max ? rows : [.. gen.Permutation(rows.Length).ToIntArray()[..max].Order().Select(i => rows[i])];

    /// <summary>Measures <paramref name="generated"/> (labelled with the class each image was made for).</summary>
    /// <param name="judge">The dataset's judge.</param>
    /// <param name="generated">The generated images.</param>
    /// <param name="trainAfterProtocol">The training split the generator learnt from (near-copies are measured against it).</param>
    /// <param name="test">The dataset's real test split.</param>
    /// <param name="seed">Seed of every sample drawn (KID subsets, neighbour samples, SSIM samples, t-SNE).</param>
    /// <param name="tsnePerClass">Points per class and side in the t-SNE map; 0 for none.</param>
    public static QualityResult Assess(Judge judge, Dataset generated, Dataset trainAfterProtocol, Dataset test, ulong seed = 0, int tsnePerClass = 0)
    {
        if (generated.Count < MinImages)
        {
            throw new ArgumentException($"at least {MinImages} generated images are needed (density and coverage look at 5 nearest neighbours), got {generated.Count}");
        }
        if (generated.Channels != test.Channels || generated.Height != test.Height || generated.Width != test.Width)
        {
            throw new ArgumentException($"generated images are {generated.Channels}x{generated.Height}x{generated.Width}, the dataset's are {test.Channels}x{test.Height}x{test.Width}");
        }
        var warnings = new List<string>();
        // The overall measures compare with the real test images of the classes that were generated: a
        // generator that fills one class is not to be judged against the nine it never drew.
        var fullTest = test;
        var fullTrain = trainAfterProtocol;
        var classes = Enumerable.Range(0, test.NumClasses).Where(c => generated.IndicesOf(c).Length > 0).ToArray();
        var present = classes.ToHashSet();
        var referenceIndices = Enumerable.Range(0, test.Count).Where(i => present.Contains(test.Label(i))).ToArray();
        if (referenceIndices.Length < MinImages)
        {
            throw new ArgumentException($"at least {MinImages} real test images of the generated classes are needed, got {referenceIndices.Length}");
        }
        var (fg, probs) = judge.FeaturesAndProbabilities(generated);
        // The real images' features and FID references are the judge's, kept across the methods and seeds
        // of a run; fetched here, on this thread, before the per-class loop.
        var realByClass = new Dictionary<int, float[][]>();
        foreach (var c in classes)
        {
            realByClass[c] = judge.ClassFeatures(fullTest, c);
            judge.ClassFeatures(fullTrain, c);
        }
        var seen = new Dictionary<int, int>();
        var fr = referenceIndices.Select(i =>
        {
            var c = test.Label(i);
            var k = seen.GetValueOrDefault(c);
            seen[c] = k + 1;
            return realByClass[c][k];
        }).ToArray();
        test = test.Subset(referenceIndices);
        // Each stage leaves garbage and pooled buffers the next cannot use (the feature passes' odd last
        // batches, distance and kernel matrices, SSIM's per-pair arrays), which the collector let pile up to
        // several hundred MB: trimmed between the stages (BENCHMARKS.md, peak memory). No figure changes.
        Tensors.TensorMemory.Trim();
        var dim = judge.FeatureSize;
        if (generated.Count < dim)
        {
            warnings.Add($"FID rests on {generated.Count} generated images, fewer than the {dim} judge features: its covariance is rank-deficient and the figure is biased upward");
        }
        var fid = FrechetDistance.Compute(judge.Reference(fullTest, classes), FeatureStatistics.Fit(fg));
        var kid = KernelInceptionDistance.Compute(fr, fg, subsets: KidSubsets, subsetSize: 1000, seed: seed);
        var inception = InceptionScore.Compute(probs, Math.Min(10, generated.Count));
        var gen = new Tensors.Generator(seed ^ 0x9dc);
        var neighbours = NearestNeighbourMeasures.Compute(Sample(fr, NeighbourSamples, gen), Sample(fg, NeighbourSamples, gen));
        var predicted = probs.Select(p => Array.IndexOf(p, p.Max())).ToArray();
        var collapse = ModeCollapse.Compute([.. generated.Labels], predicted, test.NumClasses);
        Tensors.TensorMemory.Trim();
        var perClass = new List<ClassQuality>();
        var copies = 0.0;
        var measured = 0;
        var ssimCopies = 0.0;
        var ssimMeasured = 0;
        var ssim = test.Height >= Ssim.Window && test.Width >= Ssim.Window ? new Ssim(test.Channels, test.Height, test.Width) : null;
        if (ssim is null)
        {
            warnings.Add($"images of {test.Height}x{test.Width} are smaller than SSIM's {Ssim.Window}x{Ssim.Window} window: no pixel near-copy test");
        }
        // Classes are measured in parallel (each with its own seeded samples), then gathered in class order,
        // so the figures do not depend on the thread count.
        var results = new (ClassQuality Quality, string? Warning)[classes.Length];
        Parallel.For(0, classes.Length, k =>
        {
            var c = classes[k];
            var gi = generated.IndicesOf(c);
            var ri = fullTest.IndicesOf(c);
            var ti = fullTrain.IndicesOf(c);
            var classFid = gi.Length >= 2 && ri.Length >= 2 ? FrechetDistance.Compute(judge.Reference(fullTest, [c]), FeatureStatistics.Fit([.. gi.Select(i => fg[i])])) : double.NaN;
            var warning = gi.Length < dim || ri.Length < dim
                ? $"class {c} ('{test.ClassNames[c]}'): intra-class FID rests on {gi.Length} generated and {ri.Length} real images, fewer than the {dim} judge features"
                : null;
            NearCopyScore? near = null;
            NearCopyScore? ssimNear = null;
            if (ti.Length > 0 && ri.Length > 0)
            {
                near = NearCopies.Compute([.. gi.Select(i => fg[i])], judge.ClassFeatures(fullTrain, c), realByClass[c]);
                if (ssim is not null)
                {
                    var classGen = new Tensors.Generator(seed ^ 0x55e1 ^ ((ulong)c * 0x9e3779b97f4a7c15UL));
                    Ssim.Stats[] Prepared(Dataset d, int[] idx, int max) =>
                        [.. (idx.Length <= max ? idx : classGen.Permutation(idx.Length).ToIntArray()[..max].Order().Select(j => idx[j])).Select(i => ssim.Prepare(d.Image(i)))];
                    ssimNear = NearCopies.ComputeSsim(ssim, Prepared(generated, gi, SsimSamples), Prepared(fullTrain, ti, SsimTraining), Prepared(fullTest, ri, SsimSamples));
                }
            }
            results[k] = (new ClassQuality(c, gi.Length, classFid, collapse.JudgedAsClass[c], near, ri.Length, ssimNear), warning);
        });
        Tensors.TensorMemory.Trim();
        foreach (var (q, warning) in results)
        {
            if (warning is not null)
            {
                warnings.Add(warning);
            }
            perClass.Add(q);
            if (q.NearCopies is { } near)
            {
                copies += near.Share * q.Count;
                measured += q.Count;
            }
            if (q.SsimNearCopies is { } sn)
            {
                ssimCopies += sn.Share * q.Count;
                ssimMeasured += q.Count;
            }
        }
        return new QualityResult(fid, kid, inception, neighbours, measured == 0 ? double.NaN : copies / measured, perClass, collapse, judge.TestAccuracy, generated.Count, test.Count, warnings)
        {
            SsimNearCopyShare = ssimMeasured == 0 ? double.NaN : ssimCopies / ssimMeasured,
            Tsne = tsnePerClass > 0 ? TsneMap(judge, fullTest, generated, fg, tsnePerClass, seed) : [],
        };
    }

    /// <summary>Real test images of every class and the generated images of each class, at most
    /// <paramref name="perClass"/> of each (a seeded sample), embedded together by t-SNE.</summary>
    private static IReadOnlyList<TsnePoint> TsneMap(Judge judge, Dataset test, Dataset generated, float[][] fg, int perClass, ulong seed)
    {
        var (real, fake) = TsneSample(test, generated, perClass, seed);
        return TsneFit([.. judge.Features(test.Subset(real)), .. fake.Select(i => fg[i])], [.. real.Select(test.Label)], [.. fake.Select(generated.Label)], seed);
    }

    /// <summary>The images a t-SNE map shows: at most <paramref name="perClass"/> real test images of every
    /// class and as many generated images of each generated class (seeded; the same for every feature
    /// space a run maps, so maps of the judge's and a discriminator's features show the same images).</summary>
    public static (int[] Real, int[] Generated) TsneSample(Dataset test, Dataset generated, int perClass, ulong seed)
    {
        var gen = new Tensors.Generator(seed ^ 0x75e);
        int[] Pick(int[] idx) => idx.Length <= perClass ? idx : [.. gen.Permutation(idx.Length).ToIntArray()[..perClass].Order().Select(k => idx[k])];
        var real = Enumerable.Range(0, test.NumClasses).SelectMany(c => Pick(test.IndicesOf(c))).ToArray();
        var fake = Enumerable.Range(0, generated.NumClasses).SelectMany(c => Pick(generated.IndicesOf(c))).ToArray();
        return (real, fake);
    }

    /// <summary>A t-SNE map of feature rows: the real images' first, then the generated ones' (empty under 8 rows).</summary>
    public static IReadOnlyList<TsnePoint> TsneFit(float[][] rows, int[] realLabels, int[] generatedLabels, ulong seed)
    {
        if (rows.Length < 8)
        {
            return [];
        }
        var e = Tsne.Fit(rows, seed, new TsneSettings { Perplexity = Math.Min(30, (rows.Length - 2) / 3.0) });
        return [.. realLabels.Select((c, k) => new TsnePoint(e.X[k], e.Y[k], c, false)),
            .. generatedLabels.Select((c, k) => new TsnePoint(e.X[realLabels.Length + k], e.Y[realLabels.Length + k], c, true))];
    }

    /// <summary>A t-SNE map as {x: [...], y: [...], class: [...], generated: [...]} (coordinates to 3 decimals).</summary>
    public static JsonObject TsneJson(IReadOnlyList<TsnePoint> points) => new()
    {
        ["x"] = new JsonArray([.. points.Select(p => (JsonNode)Math.Round(p.X, 3))]),
        ["y"] = new JsonArray([.. points.Select(p => (JsonNode)Math.Round(p.Y, 3))]),
        ["class"] = new JsonArray([.. points.Select(p => (JsonNode)p.Class)]),
        ["generated"] = new JsonArray([.. points.Select(p => (JsonNode)(p.Generated ? 1 : 0))]),
    };

    /// <summary>Reads what <see cref="TsneJson"/> wrote (empty for null).</summary>
    public static IReadOnlyList<TsnePoint> TsneFromJson(JsonNode? node)
    {
        if (node is not JsonObject o)
        {
            return [];
        }
        var x = o["x"]!.AsArray();
        return [.. Enumerable.Range(0, x.Count).Select(i => new TsnePoint((double)x[i]!, (double)o["y"]![i]!, (int)o["class"]![i]!, (int)o["generated"]![i]! == 1))];
    }

    /// <summary>The result as <c>quality.json</c>: fid, kid {mean, std}, inception_score, precision, recall,
    /// density, coverage, near_copy_share, judge {test_accuracy, file}, per_class {CLASS: {fid,
    /// judged_as_class, near_copy_share, count}}, confusion, warnings.</summary>
    public static JsonObject ToJson(QualityResult r, IReadOnlyList<string> classNames, Judge? judge = null)
    {
        static JsonNode? N(double v) => double.IsFinite(v) ? v : null;
        var k = classNames.Count;
        return new JsonObject
        {
            ["fid"] = N(r.Fid),
            ["kid"] = new JsonObject { ["mean"] = N(r.Kid.Mean), ["std"] = N(r.Kid.Std) },
            ["inception_score"] = new JsonObject { ["mean"] = N(r.InceptionScore.Mean), ["std"] = N(r.InceptionScore.Std) },
            ["precision"] = r.Neighbours.Precision,
            ["recall"] = r.Neighbours.Recall,
            ["density"] = r.Neighbours.Density,
            ["coverage"] = r.Neighbours.Coverage,
            ["near_copy_share"] = N(r.NearCopyShare),
            ["ssim_near_copy_share"] = N(r.SsimNearCopyShare),
            ["generated"] = r.Generated,
            ["real"] = r.Real,
            ["judge"] = new JsonObject
            {
                ["network"] = "cnn28, penultimate layer (600 features)",
                ["test_accuracy"] = r.JudgeTestAccuracy,
                ["file"] = judge?.File,
            },
            ["per_class"] = new JsonObject(r.PerClass.Select(c => KeyValuePair.Create(classNames[c.Class], (JsonNode?)new JsonObject
            {
                ["fid"] = N(c.Fid),
                ["judged_as_class"] = N(c.JudgedAsClass),
                ["near_copy_share"] = c.NearCopies is { } n ? n.Share : null,
                ["ssim_near_copy_share"] = c.SsimNearCopies is { } sn ? sn.Share : null,
                ["count"] = c.Count,
                ["real_count"] = c.RealCount,
            }))),
            ["confusion"] = new JsonArray([.. Enumerable.Range(0, k).Select(i => (JsonNode)new JsonArray([.. Enumerable.Range(0, k).Select(j => (JsonNode)r.Collapse.Confusion[i, j])]))]),
            ["warnings"] = new JsonArray([.. r.Warnings.Select(w => (JsonNode)w)]),
            ["tsne"] = TsneJson(r.Tsne),
        };
    }
}
