using System.Numerics.Tensors;

namespace Rebalance.Evaluation.Quality;

/// <summary>How many generated images sit closer to a training image than real new images do.</summary>
/// <param name="Share">Share of generated images whose nearest training image is closer than
/// <paramref name="Threshold"/>.</param>
/// <param name="Threshold">The <c>percentile</c>-th percentile of the real test images' distances to
/// their nearest training image.</param>
/// <param name="MedianGenerated">Median distance of a generated image to its nearest training image.</param>
/// <param name="MedianReal">Median distance of a real test image to its nearest training image.</param>
/// <param name="Generated">Generated images measured.</param>
/// <param name="Training">Training images they were compared with.</param>
public sealed record NearCopyScore(double Share, double Threshold, double MedianGenerated, double MedianReal, int Generated, int Training);

/// <summary>
/// Whether a generator merely copies its training images, which matters most when a class has a few
/// dozen of them. For each generated image of a class, the distance (judge features, Euclidean) to the
/// nearest real training image of that class (the training split after the protocol: what the generator
/// could have seen) is set against the same distance for real test images of the class, which the
/// generator never saw. The near-copy share is the share of generated images closer than the 5th
/// percentile of the real ones: a generator that returns its training images scores about 100%, one whose
/// images are as new as real unseen ones about 5%.
/// </summary>
public static class NearCopies
{
    /// <summary>The near-copy score of <paramref name="generated"/> against <paramref name="training"/>,
    /// calibrated on <paramref name="realTest"/> (all feature rows of one class).</summary>
    public static NearCopyScore Compute(float[][] generated, float[][] training, float[][] realTest, double percentile = 5)
    {
        foreach (var (rows, what) in new[] { (training, "training"), (generated, "generated"), (realTest, "real test") })
        {
            if (rows.Length == 0)
            {
                throw new ArgumentException($"no {what} feature vectors");
            }
        }
        var g = Nearest(generated, training);
        var r = Nearest(realTest, training);
        var t = training;
        var threshold = Percentile(r, percentile);
        return new NearCopyScore(g.Count(d => d < threshold) / (double)g.Length, threshold, Percentile(g, 50), Percentile(r, 50), g.Length, t.Length);
    }

    /// <summary>
    /// The same test in pixel space: each image's highest SSIM (<see cref="Ssim"/>) with any training image
    /// of its class. A generated image is a near-copy when its highest SSIM exceeds the
    /// <c>100 - percentile</c>-th percentile of the real test images' highest SSIMs. The score's
    /// <see cref="NearCopyScore.Threshold"/> and medians are then similarities (higher is closer), not distances.
    /// </summary>
    public static NearCopyScore ComputeSsim(Ssim ssim, IReadOnlyList<Ssim.Stats> generated, IReadOnlyList<Ssim.Stats> training, IReadOnlyList<Ssim.Stats> realTest, double percentile = 5)
    {
        if (generated.Count == 0 || training.Count == 0 || realTest.Count == 0)
        {
            throw new ArgumentException($"SSIM near-copies need images on every side (generated {generated.Count}, training {training.Count}, real test {realTest.Count})");
        }
        var packed = ssim.Pack(training);
        double[] Best(IReadOnlyList<Ssim.Stats> from)
        {
            var result = new double[from.Count];
            Parallel.For(0, from.Count, i => result[i] = ssim.Max(from[i], packed));
            return result;
        }
        var g = Best(generated);
        var r = Best(realTest);
        var threshold = Percentile(r, 100 - percentile);
        return new NearCopyScore(g.Count(v => v > threshold) / (double)g.Length, threshold, Percentile(g, 50), Percentile(r, 50), g.Length, training.Count);
    }

    /// <summary>The <paramref name="p"/>-th percentile with linear interpolation between order statistics
    /// (numpy's default).</summary>
    public static double Percentile(double[] values, double p)
    {
        if (values.Length == 0)
        {
            throw new ArgumentException("a percentile of no values");
        }
        var sorted = values.Order().ToArray();
        var pos = p / 100 * (sorted.Length - 1);
        var lo = (int)Math.Floor(pos);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((pos - lo) * (sorted[hi] - sorted[lo]));
    }

    /// <summary>Each row's Euclidean distance to its nearest row of <paramref name="to"/>, through one
    /// matrix product per block of rows (‖a‖² + ‖b‖² − 2a·b in float32, the engine's GEMM: a judging of nine
    /// classes compares millions of pairs of 600 features). Deterministic whatever the thread count.</summary>
    private static double[] Nearest(float[][] from, float[][] to)
    {
        var d = to[0].Length;
        if (from.Any(r => r.Length != d))
        {
            throw new ArgumentException($"feature vectors of different lengths ({from.First(r => r.Length != d).Length} and {d})");
        }
        var m = to.Length;
        var toFlat = new float[m * d];
        var toNorm = new double[m];
        for (var j = 0; j < m; j++)
        {
            to[j].CopyTo(toFlat, j * d);
            toNorm[j] = TensorPrimitives.Dot<float>(to[j], to[j]);
        }
        var result = new double[from.Length];
        using var outer = Tensors.TensorScope.Begin();
        var toT = Tensors.Tensor.FromArray(toFlat, m, d).T();
        const int block = 512;
        for (var start = 0; start < from.Length; start += block)
        {
            var n = Math.Min(block, from.Length - start);
            var flat = new float[n * d];
            for (var i = 0; i < n; i++)
            {
                from[start + i].CopyTo(flat, i * d);
            }
            float[] products;
            using (Tensors.TensorScope.Begin())
            {
                products = Tensors.Tensor.MatMul(Tensors.Tensor.FromArray(flat, n, d), toT).ToFloatArray();
            }
            Parallel.For(0, n, i =>
            {
                var norm = (double)TensorPrimitives.Dot<float>(from[start + i], from[start + i]);
                var best = double.PositiveInfinity;
                for (var j = 0; j < m; j++)
                {
                    best = Math.Min(best, norm + toNorm[j] - (2.0 * products[(i * m) + j]));
                }
                result[start + i] = Math.Sqrt(Math.Max(best, 0));
            });
        }
        return result;
    }
}

/// <summary>
/// The SCDL-GAN study's mode-collapse analysis: the judge labels the images generated for each class; the
/// confusion matrix (rows: the class an image was generated for; columns: the judge's class) shows which
/// classes collapse into others, and the diagonal share is each class's "judged as class".
/// </summary>
public sealed record ModeCollapse(int[,] Confusion, double[] JudgedAsClass)
{
    /// <summary>From the intended and judged class of every generated image.</summary>
    public static ModeCollapse Compute(IReadOnlyList<int> intended, IReadOnlyList<int> judged, int classes)
    {
        if (intended.Count != judged.Count)
        {
            throw new ArgumentException($"{intended.Count} intended classes for {judged.Count} judged images");
        }
        var m = ClassificationMetrics.ConfusionMatrix(intended, judged, classes);
        var share = new double[classes];
        for (var c = 0; c < classes; c++)
        {
            var row = Enumerable.Range(0, classes).Sum(j => m[c, j]);
            share[c] = row == 0 ? double.NaN : m[c, c] / (double)row;
        }
        return new ModeCollapse(m, share);
    }
}
