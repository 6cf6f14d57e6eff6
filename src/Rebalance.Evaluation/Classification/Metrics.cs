namespace Rebalance.Evaluation;

/// <summary>Precision, recall, F1 and support of one class.</summary>
public sealed record ClassMetrics(double Precision, double Recall, double F1, int Support);

/// <summary>
/// Classification metrics from a confusion matrix (rows: true class, columns: predicted class).
/// Conventions: a precision, recall or F1 whose denominator is zero counts as 0 (scikit-learn's
/// <c>zero_division=0</c>); macro averages and the balanced accuracy (ACSA, the mean per-class recall)
/// run over the classes present in the true labels; G-mean is the geometric mean of those recalls.
/// "Largest" and "smallest" class are decided by the training counts passed in (ties: the lower label),
/// since that is the imbalance the rebalancer was fixing.
/// </summary>
public sealed class ClassificationMetrics
{
    /// <summary>Computes the metrics.</summary>
    /// <param name="confusion">K x K counts, confusion[true, predicted].</param>
    /// <param name="trainCounts">Images per class in the (imbalanced) training set.</param>
    public ClassificationMetrics(int[,] confusion, IReadOnlyList<int> trainCounts)
    {
        var k = confusion.GetLength(0);
        if (confusion.GetLength(1) != k || trainCounts.Count != k)
        {
            throw new ArgumentException($"metrics: a {confusion.GetLength(0)}x{confusion.GetLength(1)} confusion matrix with {trainCounts.Count} training counts; expected K x K and K");
        }
        Confusion = confusion;
        var total = 0L;
        var correct = 0L;
        var perClass = new ClassMetrics[k];
        for (var c = 0; c < k; c++)
        {
            long tp = confusion[c, c], rowSum = 0, colSum = 0;
            for (var j = 0; j < k; j++)
            {
                rowSum += confusion[c, j];
                colSum += confusion[j, c];
            }
            total += rowSum;
            correct += tp;
            var precision = colSum == 0 ? 0 : tp / (double)colSum;
            var recall = rowSum == 0 ? 0 : tp / (double)rowSum;
            var f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            perClass[c] = new ClassMetrics(precision, recall, f1, (int)rowSum);
        }
        PerClass = perClass;
        var present = Enumerable.Range(0, k).Where(c => perClass[c].Support > 0).ToArray();
        Accuracy = total == 0 ? 0 : correct / (double)total;
        BalancedAccuracy = present.Length == 0 ? 0 : present.Average(c => perClass[c].Recall);
        MacroF1 = present.Length == 0 ? 0 : present.Average(c => perClass[c].F1);
        GMean = present.Length == 0 ? 0 : Math.Exp(present.Average(c => Math.Log(Math.Max(perClass[c].Recall, 0))));
        LargestClass = Enumerable.Range(0, k).OrderByDescending(c => trainCounts[c]).ThenBy(c => c).First();
        SmallestClass = Enumerable.Range(0, k).OrderBy(c => trainCounts[c]).ThenBy(c => c).First();
        PrecisionLargest = perClass[LargestClass].Precision;
        RecallSmallest = perClass[SmallestClass].Recall;
    }

    /// <summary>Builds the confusion matrix from labels and predictions.</summary>
    public static int[,] ConfusionMatrix(IReadOnlyList<int> truth, IReadOnlyList<int> predicted, int classes)
    {
        if (truth.Count != predicted.Count)
        {
            throw new ArgumentException($"metrics: {truth.Count} labels but {predicted.Count} predictions");
        }
        var m = new int[classes, classes];
        for (var i = 0; i < truth.Count; i++)
        {
            m[truth[i], predicted[i]]++;
        }
        return m;
    }

    /// <summary>confusion[true, predicted].</summary>
    public int[,] Confusion { get; }

    /// <summary>Per-class precision, recall, F1 and support.</summary>
    public IReadOnlyList<ClassMetrics> PerClass { get; }

    /// <summary>Fraction correct.</summary>
    public double Accuracy { get; }

    /// <summary>Mean per-class recall (ACSA).</summary>
    public double BalancedAccuracy { get; }

    /// <summary>Unweighted mean of per-class F1.</summary>
    public double MacroF1 { get; }

    /// <summary>Geometric mean of per-class recall (0 as soon as one class is never recognised).</summary>
    public double GMean { get; }

    /// <summary>The class with the most training images.</summary>
    public int LargestClass { get; }

    /// <summary>The class with the fewest training images.</summary>
    public int SmallestClass { get; }

    /// <summary>Precision on <see cref="LargestClass"/>.</summary>
    public double PrecisionLargest { get; }

    /// <summary>Recall on <see cref="SmallestClass"/>.</summary>
    public double RecallSmallest { get; }

    /// <summary>The headline metrics by their results.json keys.</summary>
    public IReadOnlyDictionary<string, double> Headline => new Dictionary<string, double>
    {
        ["accuracy"] = Accuracy,
        ["balanced_accuracy"] = BalancedAccuracy,
        ["macro_f1"] = MacroF1,
        ["gmean"] = GMean,
        ["precision_largest"] = PrecisionLargest,
        ["recall_smallest"] = RecallSmallest,
    };

    /// <summary>The keys of <see cref="Headline"/>, in report order.</summary>
    public static IReadOnlyList<string> HeadlineKeys { get; } = ["accuracy", "balanced_accuracy", "macro_f1", "gmean", "precision_largest", "recall_smallest"];

    /// <summary>Human names of the headline keys.</summary>
    public static string Title(string key) => key switch
    {
        "accuracy" => "Accuracy",
        "balanced_accuracy" => "Balanced accuracy (ACSA)",
        "macro_f1" => "Macro-F1",
        "gmean" => "G-mean",
        "precision_largest" => "Precision, largest class",
        "recall_smallest" => "Recall, smallest class",
        _ => key,
    };

    /// <summary>"97.40 ± 0.12" (percent) over several seeds, "97.40" when the spread is unknown (one seed).</summary>
    public static string Percent((double Mean, double Std) v) =>
        double.IsFinite(v.Std) ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{v.Mean * 100:F2} ± {v.Std * 100:F2}") : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{v.Mean * 100:F2}");

    /// <summary>Relative improvement over the baseline: (method - none) / none; null when the baseline is 0.</summary>
    public static double? Gain(double method, double baseline) => baseline == 0 ? null : (method - baseline) / baseline;

    /// <summary>Mean and sample standard deviation (n - 1). With a single value the spread is unknown and
    /// the deviation is NaN (tables print no spread then; JSON writes null).</summary>
    public static (double Mean, double Std) MeanStd(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return (double.NaN, double.NaN);
        }
        var mean = values.Average();
        var std = values.Count < 2 ? double.NaN : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return (mean, std);
    }
}
