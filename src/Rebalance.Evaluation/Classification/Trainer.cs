using Rebalance.Data;
using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Evaluation;

/// <summary>How long an epoch is.</summary>
public enum EpochSize
{
    /// <summary>One pass over the (rebalanced) training set: over-sampling methods get more steps.</summary>
    Resampled,

    /// <summary>As many steps as one pass over the imbalanced training set: every method gets the same
    /// number of optimiser steps, so a comparison is at equal compute.</summary>
    Original,
}

/// <summary>Which images the classifier learns from.</summary>
public enum TrainOn
{
    /// <summary>The rebalanced training set: the real images and whatever the method added.</summary>
    Real,

    /// <summary>Only the images the method added (the galaxy study's test of generated images on their own).</summary>
    Synthetic,
}

/// <summary>In what order the classifier sees the images.</summary>
public enum TrainSchedule
{
    /// <summary>All at once, for <see cref="TrainSettings.Epochs"/> epochs.</summary>
    Together,

    /// <summary><see cref="TrainSettings.SyntheticEpochs"/> epochs on the added images only, then
    /// <see cref="TrainSettings.Epochs"/> on the whole rebalanced set (the galaxy study's suggested fix).</summary>
    SyntheticThenReal,
}

/// <summary>Classifier training settings (the experiment file's <c>classifier</c> block).</summary>
public sealed record TrainSettings
{
    /// <summary>Epochs.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>adam, adamw or sgd.</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>Learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Weight decay (L2 for adam and sgd, decoupled for adamw).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Momentum for sgd.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Augmentations applied on the fly to every training batch (names from <see cref="Sampling.Augmentations"/>).</summary>
    public IReadOnlyList<string> Augment { get; init; } = [];

    /// <summary>Stop after this many epochs without a better validation balanced accuracy; 0 = never.</summary>
    public int Patience { get; init; }

    /// <summary>What an epoch is.</summary>
    public EpochSize EpochSize { get; init; } = EpochSize.Resampled;

    /// <summary>Which images the classifier learns from.</summary>
    public TrainOn TrainOn { get; init; } = TrainOn.Real;

    /// <summary>In what order.</summary>
    public TrainSchedule Schedule { get; init; } = TrainSchedule.Together;

    /// <summary>Epochs on the added images first, for <see cref="TrainSchedule.SyntheticThenReal"/>; 0: as many as <see cref="Epochs"/>.</summary>
    public int SyntheticEpochs { get; init; }

    /// <summary>Whether the run departs from training once on the rebalanced set (what run digests have always meant).</summary>
    public bool Scheduled => TrainOn != TrainOn.Real || Schedule != TrainSchedule.Together;

    /// <summary>"train_on synthetic" or "schedule synthetic-then-real (5 epochs)" for digests and logs.</summary>
    public string ScheduleText => TrainOn == TrainOn.Synthetic
        ? "train_on synthetic"
        : Schedule == TrainSchedule.SyntheticThenReal ? $"schedule synthetic-then-real ({(SyntheticEpochs > 0 ? SyntheticEpochs : Epochs)} synthetic epochs)" : "train_on real";
}

/// <summary>Progress of a training run, for progress bars.</summary>
/// <param name="Epoch">Current epoch, from 1.</param>
/// <param name="Epochs">Epochs planned.</param>
/// <param name="Step">Steps done in this epoch.</param>
/// <param name="Steps">Steps per epoch.</param>
/// <param name="Loss">Mean training loss of the epoch so far.</param>
/// <param name="ValidationBalancedAccuracy">Of the last finished epoch, when there is a validation split.</param>
/// <param name="EpochDone">True once per epoch, after its validation.</param>
public readonly record struct TrainProgress(int Epoch, int Epochs, int Step, int Steps, double Loss, double? ValidationBalancedAccuracy, bool EpochDone = false);

/// <summary>One epoch's figures.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double? ValidationAccuracy, double? ValidationBalancedAccuracy);

/// <summary>What a training run did.</summary>
public sealed record TrainHistory(IReadOnlyList<EpochRecord> Epochs, int BestEpoch, bool StoppedEarly, double Seconds);

/// <summary>
/// Trains a classifier with cross-entropy (optionally class-weighted), keeps the weights of the epoch with
/// the best validation balanced accuracy (when a validation split is given) and restores them at the end.
/// Deterministic for a seed: the model's initialisation and dropout come from the caller's generator,
/// the batch order and augmentations from one derived from <c>seed</c>.
/// </summary>
public static class Trainer
{
    /// <summary>Trains <paramref name="model"/> in place.</summary>
    public static TrainHistory Fit(Module model, Dataset train, Dataset? validation, float[]? classWeights, TrainSettings settings, ulong seed, int originalCount, Action<TrainProgress>? progress = null)
    {
        if (train.Count < 2)
        {
            throw new ArgumentException($"training needs at least 2 images, the training set has {train.Count}");
        }
        var started = System.Diagnostics.Stopwatch.StartNew();
        var gen = new Generator(seed ^ 0x5eed_0fba_7c4e_5UL);
        var augment = settings.Augment.Count > 0 ? Sampling.Augmentations.Parse(settings.Augment) : null;
        var optimizer = CreateOptimizer(model, settings);
        var weights = classWeights is null ? null : Tensor.FromArray(classWeights);
        var batch = Math.Min(settings.BatchSize, train.Count);
        var epochSamples = settings.EpochSize == EpochSize.Original ? originalCount : train.Count;
        var steps = Math.Max(1, (epochSamples + batch - 1) / batch);
        var stream = new BatchStream(train.Count, batch, gen);
        var history = new List<EpochRecord>();
        Dictionary<string, Tensor>? best = null;
        var bestScore = double.NegativeInfinity;
        var bestEpoch = settings.Epochs;
        var stale = 0;
        var stoppedEarly = false;
        double? lastVal = null;
        for (var epoch = 1; epoch <= settings.Epochs; epoch++)
        {
            model.Train();
            var lossSum = 0.0;
            for (var s = 0; s < steps; s++)
            {
                var idx = stream.Next();
                using (TensorScope.Begin())
                {
                    var x = train.ToTensor(PixelRange.MinusOneToOne, idx);
                    if (augment is not null)
                    {
                        x = augment.Apply(x, gen);
                    }
                    optimizer.ZeroGrad();
                    var loss = F.CrossEntropy(model.Forward(x), train.LabelTensor(idx), weights);
                    loss.Backward();
                    optimizer.Step();
                    var value = loss.Item();
                    if (!double.IsFinite(value))
                    {
                        throw new InvalidOperationException($"training diverged: the loss became {value} in epoch {epoch}, step {s + 1}; lower the learning rate (now {settings.LearningRate})");
                    }
                    lossSum += value;
                }
                progress?.Invoke(new TrainProgress(epoch, settings.Epochs, s + 1, steps, lossSum / (s + 1), lastVal));
            }
            double? valAcc = null;
            if (validation is { Count: > 0 })
            {
                var m = Evaluate(model, validation, train.ClassCounts());
                valAcc = m.Accuracy;
                lastVal = m.BalancedAccuracy;
                if (m.BalancedAccuracy > bestScore)
                {
                    bestScore = m.BalancedAccuracy;
                    bestEpoch = epoch;
                    best = Snapshot(model);
                    stale = 0;
                }
                else if (settings.Patience > 0 && ++stale >= settings.Patience)
                {
                    stoppedEarly = epoch < settings.Epochs;
                }
            }
            history.Add(new EpochRecord(epoch, lossSum / steps, valAcc, lastVal));
            progress?.Invoke(new TrainProgress(epoch, settings.Epochs, steps, steps, lossSum / steps, lastVal, EpochDone: true));
            if (stoppedEarly)
            {
                break;
            }
        }
        if (best is not null)
        {
            model.LoadStateDict(best);
        }
        model.Eval();
        return new TrainHistory(history, bestEpoch, stoppedEarly, started.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Trains <paramref name="model"/> on a rebalanced set as <paramref name="settings"/> schedule it: once on
    /// <paramref name="rebalanced"/> (the usual), only on its added images (<see cref="TrainOn.Synthetic"/>), or
    /// on the added images first and then on the whole set (<see cref="TrainSchedule.SyntheticThenReal"/>: the
    /// first phase keeps its last weights, the second selects its epoch on the validation split as usual).
    /// The history numbers the epochs of both phases in order. A class with no added images cannot be learnt
    /// from added images alone: that is an error naming the classes.
    /// </summary>
    public static TrainHistory FitScheduled(Module model, Dataset rebalanced, Dataset? validation, float[]? classWeights, TrainSettings settings, ulong seed, int originalCount, Action<TrainProgress>? progress = null)
    {
        if (!settings.Scheduled)
        {
            return Fit(model, rebalanced, validation, classWeights, settings, seed, originalCount, progress);
        }
        var added = rebalanced.Subset([.. Enumerable.Range(0, rebalanced.Count).Where(rebalanced.IsSynthetic)]);
        var counts = added.ClassCounts();
        var missing = Enumerable.Range(0, counts.Length).Where(c => counts[c] == 0 && rebalanced.ClassCounts()[c] > 0).ToArray();
        if (missing.Length > 0)
        {
            var what = settings.TrainOn == TrainOn.Synthetic ? "classifier.train_on: synthetic" : "classifier.schedule: synthetic-then-real";
            throw new ArgumentException(added.Count == 0
                ? $"{what} needs images added by the method, and it added none"
                : $"{what} needs added images of every class, and the method added none of {string.Join(", ", missing.Select(c => $"{c} ('{rebalanced.ClassNames[c]}')"))}; use a strategy that adds to every class (e.g. counts:N,...,N above the largest class)");
        }
        if (settings.TrainOn == TrainOn.Synthetic)
        {
            return Fit(model, added, validation, classWeights, settings, seed, originalCount, progress);
        }
        var first = settings with { Epochs = settings.SyntheticEpochs > 0 ? settings.SyntheticEpochs : settings.Epochs, Patience = 0 };
        var total = first.Epochs + settings.Epochs;
        var pre = Fit(model, added, null, classWeights, first, seed ^ 0x5e7_7a11UL, originalCount, progress is null ? null : p => progress(p with { Epochs = total }));
        var post = Fit(model, rebalanced, validation, classWeights, settings, seed, originalCount, progress is null ? null : p => progress(p with { Epoch = p.Epoch + first.Epochs, Epochs = total }));
        return new TrainHistory([.. pre.Epochs, .. post.Epochs.Select(r => r with { Epoch = r.Epoch + first.Epochs })], post.BestEpoch + first.Epochs, post.StoppedEarly, pre.Seconds + post.Seconds);
    }

    /// <summary>Predicted class of every image, in order (evaluation mode, no gradients). The batches are
    /// the usual training size: an image's logits do not depend on the batch it is in (tested), and a batch's
    /// activations live until it ends, so larger ones only cost memory (simple-cnn's first layers at 256 images
    /// held 266 MB, which stayed pooled into the next epoch's training).</summary>
    public static int[] Predict(Module model, Dataset data, int batchSize = 64)
    {
        var wasTraining = model.Training;
        model.Eval();
        var predictions = new int[data.Count];
        using (GradMode.NoGrad())
        {
            for (var start = 0; start < data.Count; start += batchSize)
            {
                var len = Math.Min(batchSize, data.Count - start);
                using var scope = TensorScope.Begin();
                var logits = model.Forward(data.ToTensor(PixelRange.MinusOneToOne, new ArraySegment<int>(Enumerable.Range(start, len).ToArray())));
                var k = logits.Size(1);
                var v = logits.ToFloatArray();
                for (var i = 0; i < len; i++)
                {
                    var row = v.AsSpan(i * k, k);
                    var arg = 0;
                    for (var j = 1; j < k; j++)
                    {
                        if (row[j] > row[arg])
                        {
                            arg = j;
                        }
                    }
                    predictions[start + i] = arg;
                }
            }
        }
        if (wasTraining)
        {
            model.Train();
        }
        return predictions;
    }

    /// <summary>Metrics of the model on <paramref name="data"/>.</summary>
    public static ClassificationMetrics Evaluate(Module model, Dataset data, IReadOnlyList<int> trainCounts)
    {
        var predicted = Predict(model, data);
        return new ClassificationMetrics(ClassificationMetrics.ConfusionMatrix(data.Labels, predicted, data.NumClasses), trainCounts);
    }

    private static Optimizer CreateOptimizer(Module model, TrainSettings s) => s.Optimizer switch
    {
        "adam" => new Adam(model.Parameters(), s.LearningRate, weightDecay: s.WeightDecay),
        "adamw" => new AdamW(model.Parameters(), s.LearningRate, weightDecay: s.WeightDecay),
        "sgd" => new Sgd(model.Parameters(), s.LearningRate, momentum: s.Momentum, weightDecay: s.WeightDecay),
        _ => throw new ArgumentException($"unknown optimizer '{s.Optimizer}' (known: adam, adamw, sgd)"),
    };

    private static Dictionary<string, Tensor> Snapshot(Module model)
    {
        using (GradMode.NoGrad())
        {
            return model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        }
    }

    /// <summary>Batches cut from successive seeded permutations; a last batch of one image is folded into
    /// the next permutation (batch norm needs two).</summary>
    private sealed class BatchStream(int count, int batch, Generator gen)
    {
        private int[] _order = [];
        private int _pos;

        public int[] Next()
        {
            if (_pos >= _order.Length || _order.Length - _pos < Math.Min(2, batch))
            {
                _order = gen.Permutation(count).ToIntArray();
                _pos = 0;
            }
            var len = Math.Min(batch, _order.Length - _pos);
            if (_order.Length - _pos - len == 1)
            {
                len++;
            }
            var r = _order.AsSpan(_pos, len).ToArray();
            _pos += len;
            return r;
        }
    }
}
