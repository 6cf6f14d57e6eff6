using System.Diagnostics;
using Rebalance.Data;
using Rebalance.Data.Acquisition;
using Rebalance.Evaluation.Quality;

namespace Rebalance.Bench;

/// <summary>
/// What judging generated images costs (README, "Judging generated images"; BENCHMARKS.md): the MNIST
/// judge's features of 10,000 test images, each measure on them, and a whole judging of 1,000 images of
/// one class as <c>rebalance run</c> does it (with SSIM near-copies and the t-SNE map). Absolute times on
/// this machine's cores; there is no peer, as PyTorch has no judge of ours to run. Best of 3 passes.
/// </summary>
internal static class QualityBench
{
    public static void Run()
    {
        var (train, test) = DatasetCatalog.Load("mnist");
        var judge = Judge.LoadOrTrain(train, test!, 0, Path.Combine(DatasetCatalog.CacheRoot, "judges"), log: Console.WriteLine);
        Console.WriteLine($"judging on {Environment.ProcessorCount} cores, best of 3 passes, seconds");
        var features = Time("judge features of 10,000 28x28 test images", () => judge.Features(test!));
        var half = features.Length / 2;
        var (a, b) = (features[..half], features[half..]);
        Time("FID, 5,000 against 5,000 (600 features, float64)", () => FrechetDistance.Compute(a, b));
        Time("KID, 10 subsets of 1,000", () => KernelInceptionDistance.Compute(a, b, subsets: 10, subsetSize: 1000));
        Time("precision/recall + density/coverage, 2,000 against 2,000", () => NearestNeighbourMeasures.Compute(a[..2000], b[..2000]));
        Time("Inception Score of 10,000 (probabilities included)", () => InceptionScore.Compute(judge.Probabilities(test!)));
        // Real test images of digit 3 stand in for 1,000 generated ones; near-copies against 5,000 training 3s.
        var threes = test!.IndicesOf(3)[..1000];
        var generated = test.Subset(threes);
        var trainThrees = train.Subset(train.IndicesOf(3)[..5000]);
        var ft = judge.Features(trainThrees);
        var fg = judge.Features(generated);
        Time("near-copies in judge features, 1,000 (and 1,000 calibration) against 5,000", () => NearCopies.Compute(fg, ft, fg));
        var ssim = new Ssim(1, 28, 28);
        var pg = Enumerable.Range(0, 200).Select(i => ssim.Prepare(generated.Image(i))).ToArray();
        var pt = Enumerable.Range(0, 1000).Select(i => ssim.Prepare(trainThrees.Image(i))).ToArray();
        Time("pixel near-copies (SSIM), 200 (and 200 calibration) against 1,000", () => NearCopies.ComputeSsim(ssim, pg, pt, pg));
        Time("t-SNE of 1,100 points (600 features, 750 steps)", () => Tsne.Fit([.. features[..1100]], 0));
        Time("whole judging of 1,000 images of one class, t-SNE of 1,100 points included", () => QualityAssessment.Assess(judge, generated, trainThrees, test, 0, tsnePerClass: 100));
        Time("the same without the t-SNE map", () => QualityAssessment.Assess(judge, generated, trainThrees, test, 0));
        // Nine classes of 1,000 (real test images of digits 1-9 stand in), as when every class but the
        // largest is filled, against the whole training split. The first judging of a run computes the real
        // images' features and FID references, which the judge keeps for every further method and seed.
        var nine = test!.Subset([.. Enumerable.Range(1, 9).SelectMany(c => test.IndicesOf(c).Take(1000))]);
        Time("whole judging of 1,000 images each of 9 classes, t-SNE included, first of a run", () =>
            QualityAssessment.Assess(Judge.LoadOrTrain(train, test, 0, Path.Combine(DatasetCatalog.CacheRoot, "judges")), nine, train, test, 0, tsnePerClass: 100));
        Time("the same, a further method (real images' features and references kept)", () => QualityAssessment.Assess(judge, nine, train, test, 0, tsnePerClass: 100));
        Time("the same without the t-SNE map (seeds after the first)", () => QualityAssessment.Assess(judge, nine, train, test, 0));
    }

    private static T Time<T>(string what, Func<T> work)
    {
        var best = double.PositiveInfinity;
        T result = default!;
        for (var pass = 0; pass < 3; pass++)
        {
            var sw = Stopwatch.StartNew();
            result = work();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        Console.WriteLine($"{what,-78} {best,8:F2}");
        return result;
    }
}
