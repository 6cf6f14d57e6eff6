using Rebalance.Data;
using Rebalance.Evaluation;
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
        Assert.Contains("28x28 or 32x32", Assert.Throws<ArgumentException>(() => Classifiers.Create("cnn28", 1, 64, 64, 10, new Generator(0))).Message, StringComparison.Ordinal);
    }
}
