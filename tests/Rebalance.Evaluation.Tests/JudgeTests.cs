using Rebalance.Data;
using Rebalance.Data.Acquisition;
using Rebalance.Evaluation.Quality;
using Rebalance.Tensors;

namespace Rebalance.Evaluation.Tests;

/// <summary>The judge on real MNIST (a small one: 6,000 training images, 2 epochs, so the suite stays
/// short) and the measures built on its features behaving as they must on real data.</summary>
public sealed class JudgeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-judge-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static readonly JudgeSettings Small = new() { Epochs = 2, MaxImages = 6000, Augment = [] };

    private static Dataset Noisy(Dataset d, double sigma, ulong seed)
    {
        using var scope = TensorScope.Begin();
        var x = d.ToTensor(PixelRange.MinusOneToOne);
        var noisy = Tensor.Clamp(x + (new Generator(seed).Normal(x.Shape) * (2 * sigma)), -1, 1);
        return new Dataset(d.Name + $" + noise {sigma}", Dataset.ToBytes(noisy), [.. d.Labels], d.Channels, d.Height, d.Width, [.. d.ClassNames]);
    }

    private static Dataset Blurred(Dataset d, int passes)
    {
        var size = d.ImageSize;
        var pixels = new byte[d.Count * size];
        for (var i = 0; i < d.Count; i++)
        {
            var img = d.Image(i).ToArray().Select(v => (double)v).ToArray();
            for (var p = 0; p < passes; p++)
            {
                var next = new double[size];
                for (var y = 0; y < d.Height; y++)
                {
                    for (var x = 0; x < d.Width; x++)
                    {
                        double sum = 0;
                        var n = 0;
                        for (var dy = -1; dy <= 1; dy++)
                        {
                            for (var dx = -1; dx <= 1; dx++)
                            {
                                var (yy, xx) = (y + dy, x + dx);
                                if (yy >= 0 && yy < d.Height && xx >= 0 && xx < d.Width)
                                {
                                    sum += img[(yy * d.Width) + xx];
                                    n++;
                                }
                            }
                        }
                        next[(y * d.Width) + x] = sum / n;
                    }
                }
                img = next;
            }
            for (var k = 0; k < size; k++)
            {
                pixels[(i * size) + k] = (byte)Math.Round(img[k]);
            }
        }
        return new Dataset(d.Name + $" blurred {passes}", pixels, [.. d.Labels], d.Channels, d.Height, d.Width, [.. d.ClassNames]);
    }

    [Fact]
    public void AnMnistJudgeIsCachedAndItsFidAndNearCopiesBehave()
    {
        var (train, test) = DatasetCatalog.Load("mnist");
        var lines = new List<string>();
        var judge = Judge.LoadOrTrain(train, test!, 0, _dir, Small, lines.Add);
        Assert.InRange(judge.TestAccuracy, 0.95, 1.0);
        var again = Judge.LoadOrTrain(train, test!, 0, _dir, Small, lines.Add);
        Assert.Equal(judge.TestAccuracy, again.TestAccuracy);
        Assert.Contains(lines, l => l.StartsWith("judge: reusing", StringComparison.Ordinal));

        // FID between two disjoint sets of real images is far below that of real against noisy ones, and
        // rises strictly with the noise (images in [0, 1]; σ of the noise in those units).
        var gen = new Generator(1);
        var order = gen.Permutation(test!.Count).ToIntArray();
        var a = test.Subset(order[..2000]);
        var b = test.Subset(order[2000..4000]);
        var fa = judge.Features(a);
        Assert.Equal(600, fa[0].Length);
        var realFid = FrechetDistance.Compute(fa, judge.Features(b));
        var previous = realFid;
        foreach (var sigma in new[] { 0.05, 0.1, 0.2, 0.4 })
        {
            var fid = FrechetDistance.Compute(fa, judge.Features(Noisy(b, sigma, 7)));
            Assert.True(fid > previous, $"FID with noise σ {sigma} is {fid:F2}, not above {previous:F2}");
            previous = fid;
        }
        Assert.True(realFid * 5 < previous, $"real-vs-real FID {realFid:F2} is not far below the noisiest {previous:F2}");
        // And with blur: a 3x3 box filter applied 1, 2 and 4 times.
        previous = realFid;
        foreach (var passes in new[] { 1, 2, 4 })
        {
            var fid = FrechetDistance.Compute(fa, judge.Features(Blurred(b, passes)));
            Assert.True(fid > previous, $"FID with {passes} blur pass(es) is {fid:F2}, not above {previous:F2}");
            previous = fid;
        }

        // Near-copies of digit 3: a "generator" returning its training images copies; unseen real images do not.
        var train3 = train.Subset(train.IndicesOf(3)[..300]);
        var test3 = test.Subset(test.IndicesOf(3));
        var half = test3.Count / 2;
        var ft = judge.Features(train3);
        var calibration = judge.Features(test3.Subset([.. Enumerable.Range(0, half)]));
        var copies = NearCopies.Compute(judge.Features(train3.Subset([.. Enumerable.Range(0, 100)])), ft, calibration);
        Assert.True(copies.Share > 0.9, $"training images judged near-copies: {copies.Share:P0}");
        var fresh = NearCopies.Compute(judge.Features(test3.Subset([.. Enumerable.Range(half, test3.Count - half)])), ft, calibration);
        Assert.InRange(fresh.Share, 0.0, 0.15);

        // The same in pixels: a training image's highest SSIM with the training set is 1.
        var ssim = new Ssim(1, 28, 28);
        Ssim.Stats[] P(Dataset d, int from, int count) => [.. Enumerable.Range(from, count).Select(i => ssim.Prepare(d.Image(i)))];
        var pixelTrain = P(train3, 0, 300);
        var pixelCalibration = P(test3, 0, 100);
        var pixelCopies = NearCopies.ComputeSsim(ssim, P(train3, 0, 60), pixelTrain, pixelCalibration);
        Assert.True(pixelCopies.Share > 0.9, $"training images judged pixel near-copies: {pixelCopies.Share:P0}");
        Assert.Equal(1.0, pixelCopies.MedianGenerated, 12);
        var pixelFresh = NearCopies.ComputeSsim(ssim, P(test3, half, 100), pixelTrain, pixelCalibration);
        Assert.InRange(pixelFresh.Share, 0.0, 0.15);
        Assert.True(pixelFresh.MedianGenerated < 0.9, $"unseen digits' median highest SSIM {pixelFresh.MedianGenerated:F3}");

        // Mode collapse: the judge's labels of real test images sit on the diagonal.
        var collapse = ModeCollapse.Compute([.. b.Labels], judge.Predict(b), 10);
        Assert.All(collapse.JudgedAsClass, s => Assert.InRange(s, 0.85, 1.0));
        var probs = judge.Probabilities(b);
        Assert.All(probs, p => Assert.Equal(1.0, p.Sum(), 4));
        // One pass gives both, and the kept per-class features and FID references are those of the images.
        var (bf, bp) = judge.FeaturesAndProbabilities(b);
        Assert.Equal(judge.Features(b), bf);
        Assert.Equal(probs, bp);
        // Probabilities of some images of a set, in the order asked, as those of the same images copied out.
        int[] picked = [1500, 3, 77, 3, 1999, 640];
        Assert.Equal(judge.Probabilities(b.Subset(picked)), judge.Probabilities(b, picked));
        Assert.Equal(probs[77], judge.Probabilities(b, picked)[2]);
        Assert.Equal(judge.Features(test3), judge.ClassFeatures(test, 3));
        Assert.Same(judge.ClassFeatures(test, 3), judge.ClassFeatures(test, 3));
        var reference = judge.Reference(test, [3, 5]);
        Assert.Same(reference, judge.Reference(test, [3, 5]));
        var fives = judge.Features(test.Subset(test.IndicesOf(5)));
        Assert.Equal(FrechetDistance.Compute([.. judge.ClassFeatures(test, 3), .. fives], fa), FrechetDistance.Compute(reference, FeatureStatistics.Fit(fa)), 9);
        // Real digits are evenly spread and fairly confident even to this small judge: an Inception Score
        // well above a collapsed generator's 1 (a fully trained MNIST judge gives about 9.9).
        Assert.InRange(InceptionScore.Compute(probs).Mean, 5.0, 10.0);
    }

    [Fact]
    public void PercentileInterpolatesLikeNumpy()
    {
        // np.percentile([1, 2, 3, 4], 5) = 1.15; 50 -> 2.5; 100 -> 4.
        Assert.Equal(1.15, NearCopies.Percentile([4, 1, 3, 2], 5), 12);
        Assert.Equal(2.5, NearCopies.Percentile([4, 1, 3, 2], 50), 12);
        Assert.Equal(4, NearCopies.Percentile([4, 1, 3, 2], 100), 12);
    }
}
