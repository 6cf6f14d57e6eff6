using Rebalance.Data;
using Rebalance.Tensors;

namespace Rebalance.Evaluation.Tests;

/// <summary>The classifier trainer on a tiny, easily separable dataset.</summary>
public class TrainerTests
{
    /// <summary>28x28 images: class c is a bright horizontal band at rows 4+8c, plus noise.</summary>
    internal static Dataset Bands(int[] counts, ulong seed)
    {
        var gen = new Generator(seed);
        var pixels = new List<byte>();
        var labels = new List<int>();
        for (var c = 0; c < counts.Length; c++)
        {
            for (var i = 0; i < counts[c]; i++)
            {
                labels.Add(c);
                for (var y = 0; y < 28; y++)
                {
                    for (var x = 0; x < 28; x++)
                    {
                        var band = Math.Abs(y - (4 + (8 * c))) <= 2 ? 180 : 20;
                        pixels.Add((byte)Math.Clamp(band + (gen.NextNormal() * 30), 0, 255));
                    }
                }
            }
        }
        return new Dataset("bands", [.. pixels], [.. labels], 1, 28, 28, ["top", "middle", "bottom"]);
    }

    [Fact]
    public void SeededTinyRunLearnsAndRepeatsExactly()
    {
        var train = Bands([60, 30, 10], 1);
        var test = Bands([20, 20, 20], 2);
        (TrainHistory, ClassificationMetrics) Once()
        {
            var model = Classifiers.Create("cnn28", 1, 28, 28, 3, new Generator(5));
            var settings = new TrainSettings { Epochs = 3, BatchSize = 16, LearningRate = 1e-3 };
            var h = Trainer.Fit(model, train, null, [0.5f, 1f, 3f], settings, 5, train.Count);
            return (h, Trainer.Evaluate(model, test, train.ClassCounts()));
        }
        var (history, metrics) = Once();
        Assert.Equal(3, history.Epochs.Count);
        Assert.True(history.Epochs[^1].TrainLoss < history.Epochs[0].TrainLoss * 0.5, $"loss {history.Epochs[0].TrainLoss} -> {history.Epochs[^1].TrainLoss}");
        Assert.True(metrics.BalancedAccuracy > 0.9, $"balanced accuracy {metrics.BalancedAccuracy}");
        var (again, metricsAgain) = Once();
        Assert.Equal(history.Epochs.Select(e => e.TrainLoss), again.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(metrics.Confusion, metricsAgain.Confusion);
    }

    [Fact]
    public void EarlyStoppingKeepsTheBestValidationEpochAndEqualStepsAreEqual()
    {
        var train = Bands([40, 20, 6], 3);
        var validation = Bands([6, 6, 6], 4);
        var model = Classifiers.Create("cnn28", 1, 28, 28, 3, new Generator(1));
        var progress = new List<TrainProgress>();
        var settings = new TrainSettings { Epochs = 30, BatchSize = 16, Patience = 2, EpochSize = EpochSize.Original };
        var h = Trainer.Fit(model, train, validation, null, settings, 1, originalCount: 32, progress.Add);
        Assert.True(h.StoppedEarly);
        Assert.True(h.Epochs.Count < 30);
        Assert.Equal(h.Epochs.Max(e => e.ValidationBalancedAccuracy), h.Epochs[h.BestEpoch - 1].ValidationBalancedAccuracy);
        // Epoch length follows the original count (32 images = 2 steps of 16), not the 66 images given.
        Assert.All(progress, p => Assert.Equal(2, p.Steps));
        // The restored weights are the best epoch's: evaluating again gives its validation figure.
        Assert.Equal(h.Epochs[h.BestEpoch - 1].ValidationBalancedAccuracy!.Value, Trainer.Evaluate(model, validation, train.ClassCounts()).BalancedAccuracy, 12);
    }

    [Fact]
    public void SchedulesTrainOnTheAddedImagesAloneOrFirst()
    {
        // 30 + 10 + 10 real images and 20 + 20 + 20 added ones (marked synthetic).
        var real = Bands([30, 10, 10], 7);
        var extra = Bands([20, 20, 20], 8);
        var rebalanced = real.WithSynthetic([.. Enumerable.Range(0, extra.Count).SelectMany(i => extra.Image(i).ToArray())], [.. extra.Labels]);
        var validation = Bands([6, 6, 6], 9);
        var settings = new TrainSettings { Epochs = 2, BatchSize = 10 };
        (TrainHistory H, List<TrainProgress> P, float[] W) Run(TrainSettings s, Dataset data)
        {
            var model = Classifiers.Create("cnn28", 1, 28, 28, 3, new Generator(2));
            var progress = new List<TrainProgress>();
            var h = Trainer.FitScheduled(model, data, validation, null, s, 3, data.Count, progress.Add);
            return (h, progress, model.Parameters().First().ToFloatArray());
        }

        // The default is exactly Fit on the rebalanced set.
        var together = Run(settings, rebalanced);
        var model = Classifiers.Create("cnn28", 1, 28, 28, 3, new Generator(2));
        Trainer.Fit(model, rebalanced, validation, null, settings, 3, rebalanced.Count);
        Assert.Equal(model.Parameters().First().ToFloatArray(), together.W);
        Assert.All(together.P, p => Assert.Equal(11, p.Steps));

        // train_on synthetic: epochs over the 60 added images only (6 steps of 10).
        var synthetic = Run(settings with { TrainOn = TrainOn.Synthetic }, rebalanced);
        Assert.All(synthetic.P, p => Assert.Equal(6, p.Steps));
        Assert.Equal(2, synthetic.H.Epochs.Count);

        // synthetic-then-real: 3 epochs on the added images (no model selection), then 2 on everything;
        // epochs are numbered across both phases and the best epoch is one of the second phase.
        var then = Run(settings with { Schedule = TrainSchedule.SyntheticThenReal, SyntheticEpochs = 3 }, rebalanced);
        Assert.Equal([1, 2, 3, 4, 5], then.H.Epochs.Select(r => r.Epoch));
        Assert.Equal([null, null, null], then.H.Epochs.Take(3).Select(r => r.ValidationBalancedAccuracy));
        Assert.InRange(then.H.BestEpoch, 4, 5);
        Assert.Equal([6, 6, 6, 11, 11], then.P.Where(p => p.EpochDone).Select(p => p.Steps));
        Assert.All(then.P, p => Assert.Equal(5, p.Epochs));
        Assert.NotEqual(together.W, then.W);

        // A class the method added nothing to cannot be learnt from added images alone.
        var partial = real.WithSynthetic([.. Enumerable.Range(0, 20).SelectMany(i => extra.Image(i).ToArray())], [.. Enumerable.Repeat(0, 20)]);
        var e = Assert.Throws<ArgumentException>(() => Run(settings with { TrainOn = TrainOn.Synthetic }, partial));
        Assert.Contains("added none of 1 ('middle'), 2 ('bottom')", e.Message, StringComparison.Ordinal);
        Assert.Contains("and it added none", Assert.Throws<ArgumentException>(() => Run(settings with { Schedule = TrainSchedule.SyntheticThenReal }, real)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(16, 16)]
    [InlineData(50, 50)]
    [InlineData(50, 30)]
    [InlineData(64, 64)]
    [InlineData(128, 128)]
    public void EveryClassifierTakesAnySizeFrom16To128AndLearns(int height, int width)
    {
        // Class 0 is bright in the top half, class 1 in the bottom half, three channels.
        var gen = new Generator(11);
        var pixels = new List<byte>();
        var labels = new List<int>();
        for (var i = 0; i < 24; i++)
        {
            labels.Add(i % 2);
            for (var k = 0; k < 3 * height * width; k++)
            {
                var top = k % (height * width) / width < height / 2;
                pixels.Add((byte)Math.Clamp((top == (i % 2 == 0) ? 170 : 40) + (gen.NextNormal() * 25), 0, 255));
            }
        }
        var data = new Dataset("halves", [.. pixels], [.. labels], 3, height, width, ["top", "bottom"]);
        foreach (var name in Classifiers.Names)
        {
            var model = Classifiers.Create(name, 3, height, width, 2, new Generator(1));
            using (TensorScope.Begin())
            {
                model.Eval();
                Assert.Equal([4, 2], model.Forward(data.ToTensor(PixelRange.MinusOneToOne, [0, 1, 2, 3])).Shape);
            }
        }
        var cnn = Classifiers.Create("cnn28", 3, height, width, 2, new Generator(1));
        var h = Trainer.Fit(cnn, data, null, null, new TrainSettings { Epochs = 4, BatchSize = 8 }, 2, data.Count);
        Assert.True(h.Epochs[^1].TrainLoss < h.Epochs[0].TrainLoss, $"loss {h.Epochs[0].TrainLoss} -> {h.Epochs[^1].TrainLoss}");
        Assert.Contains("16 to 128 pixels a side, got 15x40", Assert.Throws<ArgumentException>(() => Classifiers.Create("cnn28", 3, 15, 40, 2, new Generator(1))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SimpleCnnIsTheStudysPublishedNetwork()
    {
        // The SCDL-GAN report lists BatchNorm2d(1), ReLU, Conv2d(1,64,3), BatchNorm2d(64), ReLU,
        // Conv2d(64,32,3), MaxPool2d(2), Flatten, Linear(4608,1024), ReLU, Linear(1024,128), ReLU,
        // Linear(128,10), and gives its size: 4,871,340 parameters.
        var model = (Rebalance.Nn.Sequential)Classifiers.Create("simple-cnn", 1, 28, 28, 10, new Generator(0));
        Assert.Equal(4_871_340, model.Parameters().Sum(p => (long)p.Numel));
        Assert.Equal(
            ["BatchNorm2d", "Activation", "Conv2d", "BatchNorm2d", "Activation", "Conv2d", "MaxPool2d", "Flatten", "Linear", "Activation", "Linear", "Activation", "Linear"],
            model.Children().Select(c => c.GetType().Name));
        // The batch-norm variant is kept under its own name and is a different network.
        Assert.NotEqual(4_871_340, Classifiers.Create("simple-cnn-bn", 1, 28, 28, 10, new Generator(0)).Parameters().Sum(p => (long)p.Numel));
    }

    [Fact]
    public void EveryClassifierRunsOnBothImageSizes()
    {
        foreach (var name in Classifiers.Names)
        {
            foreach (var (c, s) in new[] { (1, 28), (3, 32) })
            {
                var model = Classifiers.Create(name, c, s, s, 10, new Generator(0));
                model.Eval();
                using var scope = TensorScope.Begin();
                var y = model.Forward(new Generator(1).Normal([2, c, s, s]));
                Assert.Equal([2, 10], y.Shape);
            }
        }
        Assert.Contains("16 to 128 pixels a side, got 200x64", Assert.Throws<ArgumentException>(() => Classifiers.Create("cnn28", 1, 200, 64, 10, new Generator(0))).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 28)]
    [InlineData(3, 32)]
    public void EvaluationGivesTheSameLogitsWhateverTheBatchSize(int channels, int side)
    {
        // Predict and the judge cut the data into batches of their own size, smaller than they once were to
        // hold less memory: each image's logits must not depend on the batch it came in, bit for bit.
        var gen = new Generator(21);
        var count = 300;
        var x = gen.Normal([count, channels, side, side]);
        foreach (var name in Classifiers.Names)
        {
            var model = Classifiers.Create(name, channels, side, side, 10, new Generator(3));
            // Running statistics away from (0, 1), as after training, so batch norm's affine step matters.
            using (TensorScope.Begin())
            {
                model.Train();
                model.Forward(x.Slice(0, 0, 64) * 1.5f);
            }
            model.Eval();
            float[] Logits(int batch)
            {
                var all = new List<float>();
                using var noGrad = GradMode.NoGrad();
                for (var start = 0; start < count; start += batch)
                {
                    using var scope = TensorScope.Begin();
                    all.AddRange(model.Forward(x.Slice(0, start, Math.Min(start + batch, count))).ToFloatArray());
                }
                return [.. all];
            }
            var whole = Logits(count);
            foreach (var batch in new[] { 64, 7 })
            {
                Assert.True(whole.AsSpan().SequenceEqual(Logits(batch)), $"{name} ({channels}x{side}x{side}): logits in batches of {batch} differ from one batch of {count}");
            }
        }
    }
}
