using System.Text.Json.Nodes;
using Rebalance.Evaluation.Quality;

namespace Rebalance.Evaluation.Tests;

/// <summary>The measures of generated images against numpy/scipy on fixed inputs
/// (tools/make_quality_references.py), and properties each must have.</summary>
public class QualityMeasureTests
{
    private static readonly Lazy<JsonObject> Reference = new(() => ReferenceFile.Load("quality_reference.json"));

    private static float[][] Matrix(string key) => [.. Reference.Value[key]!.AsArray().Select(r => r!.AsArray().Select(v => (float)(double)v!).ToArray())];

    private static double Value(string key) => (double)Reference.Value[key]!;

    private static void Close(double expected, double actual, double rel = 1e-6, string what = "") =>
        Assert.True(Math.Abs(expected - actual) <= rel * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");

    [Fact]
    public void FidMatchesScipy()
    {
        Close(Value("fid"), FrechetDistance.Compute(Matrix("real"), Matrix("fake")), what: "FID");
        Close(0, FrechetDistance.Compute(Matrix("real"), Matrix("real")), 1e-9, "FID of a set with itself");
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(7, 5)]
    [InlineData(13, 9)]
    public void TheBlockedMmdMatchesItsDefinitionAtOddSizes(int m, int d)
    {
        var rng = new Random(m * d);
        double[][] Rows() => [.. Enumerable.Range(0, m).Select(_ => Enumerable.Range(0, d).Select(_ => rng.NextDouble()).ToArray())];
        var (x, y) = (Rows(), Rows());
        double K(double[] a, double[] b) => Math.Pow((a.Zip(b).Sum(v => v.First * v.Second) / d) + 1, 3);
        double xx = 0, yy = 0, xy = 0;
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < m; j++)
            {
                xx += i == j ? 0 : K(x[i], x[j]);
                yy += i == j ? 0 : K(y[i], y[j]);
                xy += K(x[i], y[j]);
            }
        }
        var expected = (xx / (m * (m - 1.0))) + (yy / (m * (m - 1.0))) - (2 * xy / ((double)m * m));
        Close(expected, KernelInceptionDistance.UnbiasedMmd2(x, y), 1e-12, $"MMD² of {m} rows of {d}");
    }

    [Fact]
    public void KidOnWholeEqualSetsMatchesNumpy()
    {
        var real = Matrix("real")[..250];
        var (mean, std) = KernelInceptionDistance.Compute(real, Matrix("fake"), subsets: 1, subsetSize: 250);
        Close(Value("kid_first250"), mean, what: "KID");
        Assert.True(double.IsNaN(std), "one subset: no spread");
        // Random subsets estimate the same quantity: their mean lies near the whole-set value.
        var (sub, subStd) = KernelInceptionDistance.Compute(real, Matrix("fake"), subsets: 50, subsetSize: 100, seed: 3);
        Assert.InRange(sub, Value("kid_first250") - (3 * subStd), Value("kid_first250") + (3 * subStd));
        Assert.Equal(sub, KernelInceptionDistance.Compute(real, Matrix("fake"), subsets: 50, subsetSize: 100, seed: 3).Mean);
    }

    [Fact]
    public void PrecisionRecallDensityCoverageMatchNumpy()
    {
        var s = NearestNeighbourMeasures.Compute(Matrix("real"), Matrix("fake"));
        Close(Value("precision"), s.Precision, what: "precision");
        Close(Value("recall"), s.Recall, what: "recall");
        Close(Value("density"), s.Density, what: "density");
        Close(Value("coverage"), s.Coverage, what: "coverage");
        // A set judged against itself is inside its own balls: everything is 1 (density too, on average).
        var self = NearestNeighbourMeasures.Compute(Matrix("real"), Matrix("real"));
        Assert.Equal((1.0, 1.0, 1.0), (self.Precision, self.Recall, self.Coverage));
    }

    [Fact]
    public void InceptionScoreMatchesNumpyAndItsBounds()
    {
        var probs = Reference.Value["probabilities"]!.AsArray().Select(r => r!.AsArray().Select(v => (double)v!).ToArray()).ToArray();
        var (mean, std) = InceptionScore.Compute(probs);
        Close(Value("is_mean"), mean, what: "IS mean");
        Close(Value("is_std"), std, what: "IS std");
        // Confident and evenly spread over 10 classes: 10. One class for every image: 1.
        var perfect = Enumerable.Range(0, 100).Select(i => Enumerable.Range(0, 10).Select(c => c == i % 10 ? 1.0 : 0.0).ToArray()).ToArray();
        Close(10, InceptionScore.Compute(perfect).Mean, 1e-12, "IS of confident, even predictions");
        var collapsed = Enumerable.Range(0, 100).Select(_ => Enumerable.Range(0, 10).Select(c => c == 3 ? 1.0 : 0.0).ToArray()).ToArray();
        Close(1, InceptionScore.Compute(collapsed).Mean, 1e-12, "IS of a collapsed generator");
    }

    [Fact]
    public void SelectionFindsTheKthSmallest()
    {
        var gen = new Tensors.Generator(4);
        for (var trial = 0; trial < 50; trial++)
        {
            var n = 1 + gen.NextInt(40);
            var values = Enumerable.Range(0, n).Select(_ => (double)gen.NextInt(10)).ToArray();
            var k = gen.NextInt(n);
            var sorted = values.Order().ToArray();
            Assert.Equal(sorted[k], NearestNeighbourMeasures.Select((double[])values.Clone(), k));
        }
    }

    [Fact]
    public void BadInputsAreClearErrors()
    {
        Assert.Contains("at least 2 feature vectors", Assert.Throws<ArgumentException>(() => FrechetDistance.Compute([[1f]], [[1f], [2f]])).Message, StringComparison.Ordinal);
        Assert.Contains("dimensions differ", Assert.Throws<ArgumentException>(() => FrechetDistance.Compute([[1f, 2f], [2f, 1f]], [[1f], [2f]])).Message, StringComparison.Ordinal);
        Assert.Contains("need more than 3 samples", Assert.Throws<ArgumentException>(() => NearestNeighbourMeasures.Compute([[1f], [2f], [3f]], [[1f], [2f], [3f], [4f]])).Message, StringComparison.Ordinal);
    }
}
