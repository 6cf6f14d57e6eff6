
namespace Rebalance.Evaluation.Tests;

/// <summary>Metrics against values worked out by hand from small confusion matrices.</summary>
public class MetricsTests
{
    [Fact]
    public void ThreeClassMatrixGivesHandComputedFigures()
    {
        // true\pred   0  1  2
        //   0         8  2  0    recall 0.8
        //   1         1  3  1    recall 0.6
        //   2         0  1  4    recall 0.8
        // column sums 9, 6, 5 -> precision 8/9, 3/6, 4/5
        int[,] m = { { 8, 2, 0 }, { 1, 3, 1 }, { 0, 1, 4 } };
        var r = new ClassificationMetrics(m, [100, 50, 10]);
        Assert.Equal(15.0 / 20, r.Accuracy, 12);
        Assert.Equal((0.8 + 0.6 + 0.8) / 3, r.BalancedAccuracy, 12);
        Assert.Equal(Math.Pow(0.8 * 0.6 * 0.8, 1.0 / 3), r.GMean, 12);
        double F1(double p, double q) => 2 * p * q / (p + q);
        Assert.Equal((F1(8.0 / 9, 0.8) + F1(0.5, 0.6) + F1(0.8, 0.8)) / 3, r.MacroF1, 12);
        Assert.Equal(0, r.LargestClass);
        Assert.Equal(2, r.SmallestClass);
        Assert.Equal(8.0 / 9, r.PrecisionLargest, 12);
        Assert.Equal(0.8, r.RecallSmallest, 12);
        Assert.Equal([10, 5, 5], r.PerClass.Select(p => p.Support));
        Assert.Equal(0.5, r.PerClass[1].Precision, 12);
    }

    [Fact]
    public void AClassNeverPredictedHasZeroPrecisionAndZeroGMean()
    {
        int[,] m = { { 5, 0 }, { 3, 0 } };
        var r = new ClassificationMetrics(m, [10, 2]);
        Assert.Equal(0, r.PerClass[1].Precision);
        Assert.Equal(0, r.PerClass[1].F1);
        Assert.Equal(0, r.GMean);
        Assert.Equal(0.5, r.BalancedAccuracy, 12);
        Assert.Equal(5.0 / 8, r.PrecisionLargest, 12);
        Assert.Equal(0, r.RecallSmallest);
    }

    [Fact]
    public void ConfusionMatrixGainAndMeanStd()
    {
        var m = ClassificationMetrics.ConfusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3);
        Assert.Equal(new[,] { { 1, 1, 0 }, { 0, 1, 0 }, { 1, 0, 2 } }, m);
        Assert.Equal(0.25, ClassificationMetrics.Gain(0.75, 0.6)!.Value, 12);
        Assert.Null(ClassificationMetrics.Gain(0.5, 0));
        var (mean, std) = ClassificationMetrics.MeanStd([0.7, 0.8, 0.9]);
        Assert.Equal(0.8, mean, 12);
        Assert.Equal(0.1, std, 12);
        Assert.True(double.IsNaN(ClassificationMetrics.MeanStd([0.5]).Std), "one seed: the spread is unknown, not 0");
        Assert.Equal("50.00", ClassificationMetrics.Percent(ClassificationMetrics.MeanStd([0.5])));
        Assert.Equal("80.00 ± 10.00", ClassificationMetrics.Percent((mean, std)));
    }
}
