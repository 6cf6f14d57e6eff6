using MathNet.Numerics.LinearAlgebra;
using Rebalance.Evaluation.Quality;

namespace Rebalance.Evaluation.Tests;

/// <summary>FID's float64 kernels against MathNet's dense algebra, at awkward sizes.</summary>
public class Float64KernelTests
{
    private static double[] Random(int count, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => rng.NextDouble() - 0.5)];
    }

    private static void Near(double[] expected, double[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var scale = Math.Max(1, expected.Max(Math.Abs));
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * scale, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(50, 17)]
    [InlineData(33, 40)]
    public void GramAndProductMatchMathNet(int n, int d)
    {
        var x = Random(n * d, n + d);
        var xm = Matrix<double>.Build.Dense(n, d, x);
        Near(xm.TransposeThisAndMultiply(xm).ToColumnMajorArray(), Float64Kernels.Gram(x, n, d), 1e-13, "XᵀX");
        var a = Random(d * d, 1);
        var b = Random(d * d, 2);
        var expected = (Matrix<double>.Build.Dense(d, d, a) * Matrix<double>.Build.Dense(d, d, b)).ToColumnMajorArray();
        Near(expected, Float64Kernels.Multiply(a, b, d), 1e-13, "AB");
    }

    public static TheoryData<string, int> Matrices => new()
    {
        { "random", 1 },
        { "random", 2 },
        { "random", 3 },
        { "random", 19 },
        { "random", 130 },
        { "rank-deficient PSD", 40 },
        { "diagonal", 9 },
        { "repeated", 25 },
        { "tridiagonal", 31 },
        { "FID inner matrix", 240 },
    };

    [Theory]
    [MemberData(nameof(Matrices))]
    public void SymmetricEigenvaluesMatchAFullDecomposition(string kind, int d)
    {
        Matrix<double> m;
        var raw = Matrix<double>.Build.Dense(d, d, Random(d * d, d));
        switch (kind)
        {
            case "random":
                m = raw + raw.Transpose();
                break;
            case "rank-deficient PSD":
                // Rank 10 of 40: thirty eigenvalues are 0 up to rounding.
                var f = Matrix<double>.Build.Dense(10, d, Random(10 * d, 5));
                m = f.TransposeThisAndMultiply(f);
                break;
            case "diagonal":
                m = Matrix<double>.Build.DenseOfDiagonalArray([.. Enumerable.Range(0, d).Select(i => (double)((i * 7) % 5) - 2)]);
                break;
            case "repeated":
                // Q diag(1, 1, ..., 3, 3, ...) Qᵀ for an orthogonal Q.
                var q = (raw + raw.Transpose()).Evd(Symmetricity.Symmetric).EigenVectors;
                m = q * Matrix<double>.Build.DenseOfDiagonalArray([.. Enumerable.Range(0, d).Select(i => i < d / 2 ? 1.0 : 3.0)]) * q.Transpose();
                m = (m + m.Transpose()) / 2;
                break;
            case "FID inner matrix":
                // Σ₁^½ Σ₂ Σ₁^½ of two covariances of ReLU features fitted to fewer samples than features,
                // a third of the features never active: mostly eigenvalues at rounding level beside large ones.
                Matrix<double> Cov(int seed)
                {
                    var rng = new Random(seed);
                    var x = Matrix<double>.Build.Dense(90, d, (i, j) => j % 3 == 0 ? 0 : Math.Max(0, rng.NextDouble() - 0.6) * (1 + (j % 7)));
                    var centred = x - Matrix<double>.Build.Dense(90, d, (_, j) => x.Column(j).Average());
                    return centred.TransposeThisAndMultiply(centred) / 89;
                }
                var root = FrechetDistance.SymmetricSqrt(Cov(1));
                m = root * Cov(2) * root;
                m = (m + m.Transpose()) / 2;
                break;
            default:
                m = Matrix<double>.Build.Dense(d, d, (i, j) => i == j ? 2 + i : Math.Abs(i - j) == 1 ? -1 : 0);
                break;
        }
        var expected = m.Evd(Symmetricity.Symmetric).EigenValues.Select(v => v.Real).Order().ToArray();
        Near(expected, Float64Kernels.SymmetricEigenvalues(m.ToColumnMajorArray(), d), 1e-11, $"{kind} {d}x{d} eigenvalues");
    }

    [Fact]
    public void APreparedReferenceGivesTheSameFidAsTwoFits()
    {
        var rng = new Random(4);
        float[][] Set(double shift) => [.. Enumerable.Range(0, 60).Select(_ => Enumerable.Range(0, 12).Select(j => (float)(rng.NextDouble() + (shift * j))).ToArray())];
        var real = Set(0);
        var reference = FrechetReference.Fit(real);
        foreach (var shift in new[] { 0.0, 0.05, 0.3 })
        {
            var fake = Set(shift);
            var prepared = FrechetDistance.Compute(reference, FeatureStatistics.Fit(fake));
            Assert.Equal(FrechetDistance.Compute(real, fake), prepared, 12);
            Assert.True(prepared > 0, $"FID {prepared} of two different samples");
        }
    }
}
