namespace Rebalance.Evaluation.Quality;

/// <summary>
/// Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs"):
/// exp(E_x KL(p(y|x) ‖ p(y))) over a judge classifier's class probabilities, computed on each of
/// <c>splits</c> consecutive equal parts of the samples (the last part takes the remainder) and reported
/// as mean and population standard deviation over the parts, as the original code does. It is high when
/// each image is confidently one class and the classes are evenly used; for 10 classes it is at most 10.
/// </summary>
public static class InceptionScore
{
    /// <summary>Mean and standard deviation over the splits of the score of <paramref name="probabilities"/> (rows: samples, columns: classes, rows summing to 1).</summary>
    public static (double Mean, double Std) Compute(double[][] probabilities, int splits = 10)
    {
        var n = probabilities.Length;
        if (splits < 1 || n < splits)
        {
            throw new ArgumentException($"the Inception Score over {splits} splits needs at least {splits} samples, got {n}");
        }
        var k = probabilities[0].Length;
        var scores = new double[splits];
        for (var s = 0; s < splits; s++)
        {
            var start = s * n / splits;
            var end = (s + 1) * n / splits;
            var marginal = new double[k];
            for (var i = start; i < end; i++)
            {
                for (var c = 0; c < k; c++)
                {
                    marginal[c] += probabilities[i][c] / (end - start);
                }
            }
            var kl = 0.0;
            for (var i = start; i < end; i++)
            {
                for (var c = 0; c < k; c++)
                {
                    var p = probabilities[i][c];
                    kl += p > 0 ? p * (Math.Log(p) - Math.Log(marginal[c])) : 0;
                }
            }
            scores[s] = Math.Exp(kl / (end - start));
        }
        var mean = scores.Average();
        return (mean, Math.Sqrt(scores.Sum(v => (v - mean) * (v - mean)) / splits));
    }
}
