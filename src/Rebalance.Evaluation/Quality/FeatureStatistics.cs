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
        var mean = new double[d];
        for (var i = 0; i < n; i++)
        {
            var row = features[i];
            if (row.Length != d)
            {
                throw new ArgumentException($"feature vector {i} has {row.Length} values, the first has {d}");
            }
            for (var j = 0; j < d; j++)
            {
                mean[j] += row[j];
            }
        }
        for (var j = 0; j < d; j++)
        {
            mean[j] /= n;
        }
        // Centred samples, column-major (a feature's n values contiguous), then XᵀX / (n − 1).
        var centred = new double[n * d];
        for (var i = 0; i < n; i++)
        {
            var row = features[i];
            for (var j = 0; j < d; j++)
            {
                centred[(j * n) + i] = row[j] - mean[j];
            }
        }
        var gram = Float64Kernels.Gram(centred, n, d);
        for (var k = 0; k < gram.Length; k++)
        {
            gram[k] /= n - 1;
        }
        var cov = Matrix<double>.Build.Dense(d, d, gram);
        return new FeatureStatistics(Vector<double>.Build.Dense(mean), cov, n);
    }
}

/// <summary>
/// The real side of a Fréchet distance, prepared once and compared with many generated sets: the fit,
/// its covariance's trace and its symmetric square root Σ^½ (one full eigen-decomposition).
/// </summary>
public sealed class FrechetReference
{
    private readonly double[] _sqrt;

    /// <summary>Prepares <paramref name="statistics"/> as the first argument of <see cref="FrechetDistance.Compute(FrechetReference, FeatureStatistics)"/>.</summary>
    public FrechetReference(FeatureStatistics statistics)
    {
        Statistics = statistics;
        Trace = statistics.Covariance.Trace();
        _sqrt = FrechetDistance.SymmetricSqrt(statistics.Covariance).ToColumnMajorArray();
    }

    /// <summary>The fit.</summary>
    public FeatureStatistics Statistics { get; }

    /// <summary>tr Σ.</summary>
    public double Trace { get; }

    /// <summary>Σ^½, column-major.</summary>
    internal double[] SqrtArray => _sqrt;

    /// <summary>Fits and prepares <paramref name="features"/> (rows are samples).</summary>
    public static FrechetReference Fit(float[][] features) => new(FeatureStatistics.Fit(features));
}

/// <summary>
/// The Fréchet distance between two Gaussians, ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½: FID when the
/// Gaussians are fitted to a judge network's features (Heusel et al. 2017, "GANs Trained by a Two
/// Time-Scale Update Rule Converge to a Local Nash Equilibrium"). tr (Σ₁ Σ₂)^½ is computed as
/// Σᵢ √λᵢ over the eigenvalues λ of the symmetric Σ₁^½ Σ₂ Σ₁^½ (which has the eigenvalues of Σ₁Σ₂), with
/// negative rounding eigenvalues clipped to 0, so it stays real where scipy's sqrtm can return tiny
/// imaginary parts. Σ₁^½ comes from a full symmetric eigen-decomposition, kept in a
/// <see cref="FrechetReference"/> when one real set is compared with many generated ones; the second
/// decomposition needs eigenvalues only.
/// </summary>
public static class FrechetDistance
{
    /// <summary>The distance between the two fits (float64 throughout).</summary>
    public static double Compute(FeatureStatistics a, FeatureStatistics b) => Compute(new FrechetReference(a), b);

    /// <summary>The distance between a prepared real fit and a generated one (float64 throughout).</summary>
    public static double Compute(FrechetReference a, FeatureStatistics b)
    {
        if (a.Statistics.Dimension != b.Dimension)
        {
            throw new ArgumentException($"feature dimensions differ: {a.Statistics.Dimension} and {b.Dimension}");
        }
        var d = b.Dimension;
        var diff = a.Statistics.Mean - b.Mean;
        var inner = Float64Kernels.Multiply(Float64Kernels.Multiply(a.SqrtArray, b.Covariance.ToColumnMajorArray(), d), a.SqrtArray, d);
        for (var j = 0; j < d; j++)
        {
            for (var i = 0; i < j; i++)
            {
                var mean = (inner[(j * d) + i] + inner[(i * d) + j]) / 2;
                inner[(j * d) + i] = mean;
                inner[(i * d) + j] = mean;
            }
        }
        var traceSqrt = Float64Kernels.SymmetricEigenvalues(inner, d).Sum(l => Math.Sqrt(Math.Max(0, l)));
        return (diff * diff) + a.Trace + b.Covariance.Trace() - (2 * traceSqrt);
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
