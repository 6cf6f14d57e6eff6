using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Rebalance.Data;
using Rebalance.Data.Protocols;
using Rebalance.Generative.Training;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Evaluation.Quality;

/// <summary>How a judge is trained.</summary>
public sealed record JudgeSettings
{
    /// <summary>Epochs over the whole training split (the best validation epoch is kept).</summary>
    public int Epochs { get; init; } = 15;

    /// <summary>Augmentations of the training batches (none by default: pad-and-crop by 2 pixels with 10
    /// epochs gave the Fashion-MNIST judge 90.4%, 8 plain epochs 90.7%).</summary>
    public IReadOnlyList<string> Augment { get; init; } = [];

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Adam learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Train on at most this many images (stratified); 0 = all. Tests use a few thousand.</summary>
    public int MaxImages { get; init; }
}

/// <summary>
/// The network that judges generated images of one dataset: DESIGN.md's cnn28 classifier trained on the
/// dataset's whole training split before any imbalance protocol (for MNIST and Fashion-MNIST the balanced
/// 60,000 images, as the SCDL-GAN study's judge), never on its test split; a training split that is itself
/// imbalanced (largest class over 1.5 times the smallest) is randomly over-sampled first, so every batch is
/// class-balanced in expectation. ImageNet
/// Inception features do not fit 28x28 digits; the field's practice for domain data is a network trained
/// on the domain (FID on LeNet features for MNIST). Features are its penultimate layer (600 values after
/// ReLU, in evaluation mode); probabilities its softmax. It is trained once per dataset and seed and kept
/// in a file keyed by a digest of its training images, with its test accuracy. The judge only judges: it
/// selects no model and no method.
/// </summary>
public sealed class Judge
{
    /// <summary>Bumped when the judge's network or training changes, so cached judges are retrained.</summary>
    public const int Version = 3;

    private readonly Sequential _model;

    // What a run asks of the same real images again and again (each method and seed is judged against the
    // same test split, and each method of a seed against the same training split): kept per dataset object,
    // for as long as that object lives.
    private readonly ConditionalWeakTable<Dataset, ConcurrentDictionary<int, float[][]>> _classFeatures = [];
    private readonly ConditionalWeakTable<Dataset, ConcurrentDictionary<string, Lazy<FrechetReference>>> _references = [];

    private Judge(Sequential model, double testAccuracy, string file)
    {
        _model = model;
        TestAccuracy = testAccuracy;
        File = file;
        _model.Eval();
    }

    /// <summary>Accuracy on the dataset's real test split.</summary>
    public double TestAccuracy { get; }

    /// <summary>Where the judge is stored.</summary>
    public string File { get; }

    /// <summary>Length of a feature vector.</summary>
    public int FeatureSize => 600;

    /// <summary>
    /// The judge of <paramref name="train"/> (the whole training split, before any protocol), loaded from
    /// <paramref name="cacheDir"/> when one was trained from the same images, seed and settings, else trained
    /// and stored there.
    /// </summary>
    /// <remarks>With <paramref name="test"/> null (a classifier trained for a method, which must not see the
    /// test split) <see cref="TestAccuracy"/> is NaN.</remarks>
    public static Judge LoadOrTrain(Dataset train, Dataset? test, ulong seed, string cacheDir, JudgeSettings? settings = null, Action<string>? log = null)
    {
        settings ??= new JudgeSettings();
        if (test is not null && (train.Channels != test.Channels || train.Height != test.Height || train.Width != test.Width || train.NumClasses != test.NumClasses))
        {
            throw new ArgumentException($"judge: the test split ({test.Channels}x{test.Height}x{test.Width}, {test.NumClasses} classes) does not match the training split ({train.Channels}x{train.Height}x{train.Width}, {train.NumClasses} classes)");
        }
        var key = Digest(string.Join(";", $"judge v{Version}", GeneratorFile.Fingerprint(train), seed.ToString(CultureInfo.InvariantCulture),
            settings.Epochs, settings.BatchSize, settings.LearningRate.ToString("R", CultureInfo.InvariantCulture), settings.MaxImages, string.Join(",", settings.Augment)));
        Directory.CreateDirectory(cacheDir);
        var file = Path.Combine(cacheDir, $"judge-{key}.safetensors");
        var model = Classifiers.Cnn28(train.Channels, train.Height, train.Width, train.NumClasses, new Generator(seed));
        if (System.IO.File.Exists(file))
        {
            try
            {
                var c = Checkpoint.Load(file);
                if (c.Metadata.GetValueOrDefault("judge.key") == key && double.TryParse(c.Metadata.GetValueOrDefault("judge.test_accuracy"), NumberStyles.Float, CultureInfo.InvariantCulture, out var stored) && (test is null || double.IsFinite(stored)))
                {
                    c.LoadModule(model);
                    log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"judge: reusing {file}{(double.IsFinite(stored) ? $" (test accuracy {stored:P2})" : "")}"));
                    return new Judge(model, stored, file);
                }
            }
            catch (CheckpointException e)
            {
                log?.Invoke($"judge: {file} is not readable ({e.Message}); training again");
            }
        }
        var data = train;
        if (settings.MaxImages > 0 && settings.MaxImages < data.Count)
        {
            data = Splits.Stratified(data, settings.MaxImages / (double)data.Count, seed ^ 0x1d6e).Validation;
        }
        var (fit, validation) = Splits.Stratified(data, 0.1, seed ^ 0x1d6f);
        var counts = fit.ClassCounts();
        if (counts.Max() > 1.5 * counts.Where(n => n > 0).DefaultIfEmpty(1).Min())
        {
            fit = new RandomOverSampler().FitResample(fit, SamplingStrategy.Auto, seed).Train;
        }
        log?.Invoke($"judge: training cnn28 on {fit.Count} images of {train.Name} for {settings.Epochs} epoch(s)");
        var ts = new TrainSettings { Epochs = settings.Epochs, BatchSize = settings.BatchSize, LearningRate = settings.LearningRate, Augment = settings.Augment };
        Trainer.Fit(model, fit, validation, null, ts, seed, fit.Count);
        var accuracy = test is null ? double.NaN : Trainer.Evaluate(model, test, train.ClassCounts()).Accuracy;
        var save = new Checkpoint().AddModule(model);
        save.Metadata["judge.key"] = key;
        save.Metadata["judge.test_accuracy"] = accuracy.ToString("R", CultureInfo.InvariantCulture);
        save.Metadata["judge.dataset"] = train.Name;
        save.Save(file);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"judge: {(double.IsFinite(accuracy) ? $"test accuracy {accuracy:P2}; " : "")}stored in {file}"));
        return new Judge(model, accuracy, file);
    }

    private static string Digest(string text) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16];

    /// <summary>Penultimate-layer features of every image (rows in order).</summary>
    public float[][] Features(Dataset data) => Run(data, probabilities: false).Features;

    /// <summary>Class probabilities of every image (rows in order).</summary>
    public double[][] Probabilities(Dataset data) => Run(data, probabilities: true).Probabilities!;

    /// <summary>Class probabilities of the images of <paramref name="data"/> at <paramref name="indices"/>
    /// (rows in that order), without copying them out first.</summary>
    public double[][] Probabilities(Dataset data, int[] indices) => Run(data, probabilities: true, indices).Probabilities!;

    /// <summary>Features and class probabilities of every image from one pass of the network.</summary>
    public (float[][] Features, double[][] Probabilities) FeaturesAndProbabilities(Dataset data)
    {
        var (f, p) = Run(data, probabilities: true);
        return (f, p!);
    }

    /// <summary>Features of the images of class <paramref name="c"/> in <paramref name="data"/> (in index
    /// order), computed once per dataset object and class. Not for concurrent use: the network runs on the
    /// caller's thread.</summary>
    public float[][] ClassFeatures(Dataset data, int c) =>
        _classFeatures.GetValue(data, _ => new()).GetOrAdd(c, k => Features(data.Subset(data.IndicesOf(k))));

    /// <summary>The FID reference (Gaussian fit and its square root) of the images of
    /// <paramref name="classes"/> in <paramref name="real"/>, prepared once per dataset object and class set.
    /// Safe to call from several threads once <see cref="ClassFeatures"/> has run for each class.</summary>
    public FrechetReference Reference(Dataset real, IReadOnlyList<int> classes) =>
        _references.GetValue(real, _ => new()).GetOrAdd(string.Join(",", classes), _ => new Lazy<FrechetReference>(
            () => FrechetReference.Fit([.. classes.SelectMany(c => ClassFeatures(real, c))]))).Value;

    /// <summary>The class the judge gives each image.</summary>
    public int[] Predict(Dataset data) => Trainer.Predict(_model, data);

    /// <summary>Images per forward pass when features and probabilities are computed. An image's features do
    /// not depend on the batch it is in (tested), and a batch's activations live until it ends: 512 images
    /// held about 270 MB of cnn28's activations, which stayed pooled into the classifier's training.</summary>
    private const int EvaluationBatch = 64;

    private (float[][] Features, double[][]? Probabilities) Run(Dataset data, bool probabilities, int[]? indices = null)
    {
        var count = indices?.Length ?? data.Count;
        var layers = _model.Children().ToList();
        // cnn28: ... Linear(.., 600), ReLU, Dropout(0.5), Linear(600, K): features after the ReLU, then the
        // head (dropout is the identity in evaluation mode) and a softmax for probabilities.
        var upTo = layers.Count - 2;
        var rows = new float[count][];
        var probs = probabilities ? new double[count][] : null;
        using (GradMode.NoGrad())
        {
            for (var start = 0; start < count; start += EvaluationBatch)
            {
                var len = Math.Min(EvaluationBatch, count - start);
                using var scope = TensorScope.Begin();
                var x = data.ToTensor(PixelRange.MinusOneToOne, indices is null ? new ArraySegment<int>([.. Enumerable.Range(start, len)]) : new ArraySegment<int>(indices, start, len));
                for (var l = 0; l < upTo; l++)
                {
                    x = layers[l].Forward(x);
                }
                Copy(x, rows, start, len, v => v);
                if (probs is not null)
                {
                    for (var l = upTo; l < layers.Count; l++)
                    {
                        x = layers[l].Forward(x);
                    }
                    Copy(Tensors.Functional.Softmax(x, 1), probs, start, len, v => (double)v);
                }
            }
        }
        return (rows, probs);
    }

    private static void Copy<T>(Tensor x, T[][] rows, int start, int len, Func<float, T> convert)
    {
        var width = x.Size(1);
        var v = x.ToFloatArray();
        for (var i = 0; i < len; i++)
        {
            var row = new T[width];
            for (var j = 0; j < width; j++)
            {
                row[j] = convert(v[(i * width) + j]);
            }
            rows[start + i] = row;
        }
    }
}
