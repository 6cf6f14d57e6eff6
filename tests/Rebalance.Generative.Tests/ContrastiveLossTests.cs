using Rebalance.Generative.Adversarial;
using Rebalance.Tensors;
using Rebalance.Tensors.Tests;

namespace Rebalance.Generative.Tests;

/// <summary>ECO, 2C and D2D-CE against the papers' formulas written out term by term, and their first and
/// second derivatives against finite differences.</summary>
public class ContrastiveLossTests
{
    // A batch of 5 embeddings in 3 dimensions, 3 classes (class 2 twice, class 0 twice, class 1 once).
    private static readonly double[,] E = { { 0.3, -1.2, 0.8 }, { 1.1, 0.4, -0.5 }, { -0.7, 0.9, 0.2 }, { 0.5, 0.5, 1.5 }, { -1.3, -0.2, 0.6 } };
    private static readonly double[,] P = { { 0.9, 0.1, -0.4 }, { -0.2, 1.0, 0.3 }, { 0.4, -0.8, 1.1 } };
    private static readonly int[] Y = [2, 0, 1, 2, 0];

    private static double Cos(double[,] a, int i, double[,] b, int j)
    {
        double dot = 0, na = 0, nb = 0;
        for (var k = 0; k < 3; k++)
        {
            dot += a[i, k] * b[j, k];
            na += a[i, k] * a[i, k];
            nb += b[j, k] * b[j, k];
        }
        return dot / Math.Sqrt(na * nb);
    }

    private static double EcoByHand(double tau)
    {
        var n = Y.Length;
        double total = 0;
        for (var i = 0; i < n; i++)
        {
            double num = 0, den = 0;
            for (var j = 0; j < n; j++)
            {
                var toProxy = Math.Exp(Cos(E, i, P, Y[j]) / tau);
                den += toProxy;
                if (Y[j] == Y[i])
                {
                    num += toProxy;
                }
                if (j != i)
                {
                    var toData = Math.Exp(Cos(E, i, E, j) / tau);
                    den += toData;
                    if (Y[j] == Y[i])
                    {
                        num += toData;
                    }
                }
            }
            total += -Math.Log(num / den);
        }
        return total / n;
    }

    private static double TwoCByHand(double tau)
    {
        var n = Y.Length;
        double total = 0;
        for (var i = 0; i < n; i++)
        {
            var own = Math.Exp(Cos(E, i, P, Y[i]) / tau);
            double num = own, den = own;
            for (var j = 0; j < n; j++)
            {
                if (j == i)
                {
                    continue;
                }
                var toData = Math.Exp(Cos(E, i, E, j) / tau);
                den += toData;
                num += Y[j] == Y[i] ? toData : 0;
            }
            total += -Math.Log(num / den);
        }
        return total / n;
    }

    private static double D2dCeByHand(double tau, double mp, double mn)
    {
        var n = Y.Length;
        double total = 0;
        for (var i = 0; i < n; i++)
        {
            var a = Math.Min(Cos(E, i, P, Y[i]) - mp, 0) / tau;
            var den = Math.Exp(a);
            for (var j = 0; j < n; j++)
            {
                if (Y[j] != Y[i])
                {
                    den += Math.Exp(Math.Max(Cos(E, i, E, j) - mn, 0) / tau);
                }
            }
            total += -Math.Log(Math.Exp(a) / den);
        }
        return total / n;
    }

    private static Tensor Flat(double[,] m) => Tensor.FromArray(m.Cast<double>().ToArray(), m.GetLength(0), m.GetLength(1));

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void ValuesAreThoseOfTheFormulasTermByTerm(double tau)
    {
        var (e, p, y) = (Flat(E), Flat(P), Tensor.FromArray(Y, Y.Length));
        Assert.Equal(EcoByHand(tau), ContrastiveLosses.Eco(e, p, y, tau).Item(), 10);
        Assert.Equal(TwoCByHand(tau), ContrastiveLosses.TwoC(e, p, y, tau).Item(), 10);
        Assert.Equal(D2dCeByHand(tau, 0.98, 0.02), ContrastiveLosses.D2dCe(e, p, y, tau).Item(), 10);
        Assert.Equal(D2dCeByHand(tau, 0.5, 0.3), ContrastiveLosses.D2dCe(e, p, y, tau, 0.5, 0.3).Item(), 10);
        // ECO counts every same-class proxy term, 2C only the anchor's own: they differ on this batch.
        Assert.NotEqual(EcoByHand(tau), TwoCByHand(tau), 3);
    }

    [Fact]
    public void ASmallTemperatureStaysFinite()
    {
        var (e, p, y) = (Flat(E), Flat(P), Tensor.FromArray(Y, Y.Length));
        foreach (var loss in new[] { ContrastiveLosses.Eco(e, p, y, 0.005), ContrastiveLosses.TwoC(e, p, y, 0.005), ContrastiveLosses.D2dCe(e, p, y, 0.005) })
        {
            Assert.True(double.IsFinite(loss.Item()), $"{loss.Item()}");
        }
        // In float32 too (exp(1/0.005) alone would overflow).
        var (e32, p32) = (Tensor.FromArray(E.Cast<double>().Select(v => (float)v).ToArray(), 5, 3), Tensor.FromArray(P.Cast<double>().Select(v => (float)v).ToArray(), 3, 3));
        Assert.Equal(EcoByHand(0.05), ContrastiveLosses.Eco(e32, p32, y, 0.05).Item(), 3);
        Assert.True(double.IsFinite(ContrastiveLosses.Eco(e32, p32, y, 0.005).Item()));
    }

    [Theory]
    [InlineData("eco")]
    [InlineData("2c")]
    [InlineData("d2d-ce")]
    public void FirstAndSecondDerivativesMatchFiniteDifferences(string name)
    {
        var y = Tensor.FromArray(Y, Y.Length);
        // Margins the batch's cosines cross on both sides, so both branches of the hinges are exercised.
        Func<Tensor[], Tensor> f = name switch
        {
            "eco" => t => ContrastiveLosses.Eco(t[0], t[1], y, 0.5),
            "2c" => t => ContrastiveLosses.TwoC(t[0], t[1], y, 0.5),
            _ => t => ContrastiveLosses.D2dCe(t[0], t[1], y, 0.5, 0.6, 0.1),
        };
        GradCheck.Check(f, [Flat(E), Flat(P)]);
    }

    [Fact]
    public void BadShapesAndTemperaturesAreRefused()
    {
        var y = Tensor.FromArray(Y, Y.Length);
        Assert.Contains("expected embeddings (N, d)", Assert.Throws<ArgumentException>(() => ContrastiveLosses.Eco(Flat(E), Tensor.Zeros([3, 2], DType.Float64), y, 0.1)).Message, StringComparison.Ordinal);
        Assert.Contains("temperature must be positive", Assert.Throws<ArgumentException>(() => ContrastiveLosses.TwoC(Flat(E), Flat(P), y, 0)).Message, StringComparison.Ordinal);
    }
}
