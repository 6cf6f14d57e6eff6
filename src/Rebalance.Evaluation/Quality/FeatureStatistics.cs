using MathNet.Numerics.LinearAlgebra;

namespace Rebalance.Evaluation.Quality;

/// <summary>
/// A Gaussian fit to a set of feature vectors, in float64: the mean and the sample covariance (divided by
/// n − 1, as numpy's <c>np.cov</c> and pytorch-fid do). Rows of the input are samples.
/// </summary>
public sealed class FeatureStatistics
{
    private FeatureStatistics(Vector<double> mean, Matrix<double> covariance, int count)
    {
        Mean = mean;
        Covariance = covariance;
        Count = count;
    }

    /// <summary>μ, the mean feature vector.</summary>
    public Vector<double> Mean { get; }

    /// <summary>Σ, the sample covariance (d × d).</summary>
    public Matrix<double> Covariance { get; }

    /// <summary>How many samples the fit rests on.</summary>
    public int Count { get; }

    /// <summary>Feature dimension d.</summary>
    public int Dimension => Mean.Count;

    /// <summary>Fits mean and covariance to <paramref name="features"/> (n samples × d features, n ≥ 2).</summary>
    public static FeatureStatistics Fit(float[][] features)
    {
        if (features.Length < 2)
        {
            throw new ArgumentException($"a Gaussian fit needs at least 2 feature vectors, got {features.Length}");
        }
        var d = features[0].Length;
        var n = features.Length;
        var x = Matrix<double>.Build.Dense(n, d, (i, j) => features[i].Length == d ? features[i][j] : throw new ArgumentException($"feature vector {i} has {features[i].Length} values, the first has {d}"));
        var mean = x.ColumnSums() / n;
        var centred = x - Matrix<double>.Build.Dense(n, d, (_, j) => mean[j]);
        var cov = centred.TransposeThisAndMultiply(centred) / (n - 1);
        return new FeatureStatistics(mean, cov, n);
    }
}

/// <summary>
/// The Fréchet distance between two Gaussians, ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½: FID when the
/// Gaussians are fitted to a judge network's features (Heusel et al. 2017, "GANs Trained by a Two
/// Time-Scale Update Rule Converge to a Local Nash Equilibrium"). tr (Σ₁ Σ₂)^½ is computed as
/// tr (Σ₁^½ Σ₂ Σ₁^½)^½, both square roots by symmetric eigen-decomposition with negative rounding
/// eigenvalues clipped to 0, so it stays real where scipy's sqrtm can return tiny imaginary parts.
/// </summary>
public static class FrechetDistance
{
    /// <summary>The distance between the two fits (float64 throughout).</summary>
    public static double Compute(FeatureStatistics a, FeatureStatistics b)
    {
        if (a.Dimension != b.Dimension)
        {
            throw new ArgumentException($"feature dimensions differ: {a.Dimension} and {b.Dimension}");
        }
        var diff = a.Mean - b.Mean;
        var sqrtA = SymmetricSqrt(a.Covariance);
        var inner = sqrtA * b.Covariance * sqrtA;
        inner = (inner + inner.Transpose()) / 2;
        var evd = inner.Evd(Symmetricity.Symmetric);
        var traceSqrt = evd.EigenValues.Sum(l => Math.Sqrt(Math.Max(0, l.Real)));
        return (diff * diff) + a.Covariance.Trace() + b.Covariance.Trace() - (2 * traceSqrt);
    }

    /// <summary>FID between two feature sets (rows are samples).</summary>
    public static double Compute(float[][] a, float[][] b) => Compute(FeatureStatistics.Fit(a), FeatureStatistics.Fit(b));

    /// <summary>S^½ of a symmetric positive semi-definite matrix.</summary>
    internal static Matrix<double> SymmetricSqrt(Matrix<double> s)
    {
        var evd = ((s + s.Transpose()) / 2).Evd(Symmetricity.Symmetric);
        var v = evd.EigenVectors;
        var root = Vector<double>.Build.Dense(evd.EigenValues.Count, i => Math.Sqrt(Math.Max(0, evd.EigenValues[i].Real)));
        return v * Matrix<double>.Build.DiagonalOfDiagonalVector(root) * v.Transpose();
    }
}
