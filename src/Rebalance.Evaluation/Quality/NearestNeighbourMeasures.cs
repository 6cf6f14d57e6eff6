using System.Numerics.Tensors;

namespace Rebalance.Evaluation.Quality;

/// <summary>Fidelity and diversity from k-nearest-neighbour balls in feature space.</summary>
public sealed record NeighbourScores(double Precision, double Recall, double Density, double Coverage);

/// <summary>
/// Measures built on k-nearest-neighbour balls around feature vectors (Euclidean distance, float64):
/// <list type="bullet">
/// <item>Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric
/// for Assessing Generative Models"), k = 3: precision is the share of generated samples inside the ball
/// of some real sample (radius: its distance to its k-th nearest real neighbour); recall is the share of
/// real samples inside the ball of some generated sample.</item>
/// <item>Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
/// Models"), k = 5: density = (1 / kM) Σ_j Σ_i 1[Y_j ∈ B(X_i, NND_k(X_i))], which counts how many real
/// balls hold each generated sample; coverage = the share of real samples whose ball holds at least one
/// generated sample.</item>
/// </list>
/// A ball includes its boundary (≤), as the papers write it. Distances are computed exactly, in blocks of
/// rows, with no n × m matrix kept.
/// </summary>
public static class NearestNeighbourMeasures
{
    /// <summary>All four measures, with the papers' k for each.</summary>
    public static NeighbourScores Compute(float[][] real, float[][] fake, int kPrecisionRecall = 3, int kDensityCoverage = 5)
    {
        var x = ToDouble(real, "real");
        var y = ToDouble(fake, "generated");
        if (x[0].Length != y[0].Length)
        {
            throw new ArgumentException($"feature dimensions differ: {x[0].Length} (real) and {y[0].Length} (generated)");
        }
        var realRadiiPr = KthNeighbourDistances(x, kPrecisionRecall);
        var fakeRadiiPr = KthNeighbourDistances(y, kPrecisionRecall);
        var realRadiiDc = kDensityCoverage == kPrecisionRecall ? realRadiiPr : KthNeighbourDistances(x, kDensityCoverage);

        // For each generated sample: inside some real ball (precision), and in how many (density).
        var insideAny = new bool[y.Length];
        var ballCount = new int[y.Length];
        Parallel.For(0, y.Length, j =>
        {
            var count = 0;
            var any = false;
            for (var i = 0; i < x.Length; i++)
            {
                var d = TensorPrimitives.Distance<double>(x[i], y[j]);
                any |= d <= realRadiiPr[i];
                count += d <= realRadiiDc[i] ? 1 : 0;
            }
            insideAny[j] = any;
            ballCount[j] = count;
        });
        // For each real sample: inside some generated ball (recall), and its own ball holding a generated one (coverage).
        var recalled = new bool[x.Length];
        var covered = new bool[x.Length];
        Parallel.For(0, x.Length, i =>
        {
            var r = false;
            var nearest = double.PositiveInfinity;
            for (var j = 0; j < y.Length; j++)
            {
                var d = TensorPrimitives.Distance<double>(x[i], y[j]);
                r |= d <= fakeRadiiPr[j];
                nearest = Math.Min(nearest, d);
            }
            recalled[i] = r;
            covered[i] = nearest <= realRadiiDc[i];
        });
        return new NeighbourScores(
            insideAny.Count(b => b) / (double)y.Length,
            recalled.Count(b => b) / (double)x.Length,
            ballCount.Sum(c => (long)c) / ((double)kDensityCoverage * y.Length),
            covered.Count(b => b) / (double)x.Length);
    }

    /// <summary>For each row, its distance to its k-th nearest other row.</summary>
    public static double[] KthNeighbourDistances(double[][] rows, int k)
    {
        if (k < 1 || k >= rows.Length)
        {
            throw new ArgumentException($"k = {k} nearest neighbours need more than {k} samples, got {rows.Length}");
        }
        var result = new double[rows.Length];
        Parallel.For(0, rows.Length, () => new double[rows.Length - 1], (i, _, buffer) =>
        {
            var n = 0;
            for (var j = 0; j < rows.Length; j++)
            {
                if (j != i)
                {
                    buffer[n++] = TensorPrimitives.Distance<double>(rows[i], rows[j]);
                }
            }
            result[i] = Select(buffer, k - 1);
            return buffer;
        }, _ => { });
        return result;
    }

    /// <summary>The element that would stand at <paramref name="index"/> if <paramref name="values"/> were sorted (Hoare's selection; reorders the array).</summary>
    internal static double Select(double[] values, int index)
    {
        int lo = 0, hi = values.Length - 1;
        while (lo < hi)
        {
            var pivot = values[lo + ((hi - lo) / 2)];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] < pivot)
                {
                    i++;
                }
                while (values[j] > pivot)
                {
                    j--;
                }
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            if (index <= j)
            {
                hi = j;
            }
            else if (index >= i)
            {
                lo = i;
            }
            else
            {
                return values[index];
            }
        }
        return values[index];
    }

    internal static double[][] ToDouble(float[][] features, string what)
    {
        if (features.Length == 0)
        {
            throw new ArgumentException($"no {what} feature vectors");
        }
        var d = features[0].Length;
        return [.. features.Select((f, i) => f.Length == d ? Array.ConvertAll(f, v => (double)v) : throw new ArgumentException($"{what} feature vector {i} has {f.Length} values, the first has {d}"))];
    }
}
