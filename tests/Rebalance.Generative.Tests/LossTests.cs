using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Tests;

public class LossTests
{
    private static readonly double[] Real = [1.0, -2.0];
    private static readonly double[] Fake = [0.5, -1.0];

    private static double Softplus(double x) => Math.Log(1 + Math.Exp(x));

    [Fact]
    public void AcganClassTermsCoverRealAndGeneratedImagesAsInThePaper()
    {
        // Cross-entropy by hand: real rows log(1 + e^-2) and log(1 + e^-1); fake rows log 2 and log(e^3 + 1).
        var real = Tensor.FromArray(new double[] { 2, 0, 0, 1 }, 2, 2);
        var fake = Tensor.FromArray(new double[] { 0, 0, 3, 0 }, 2, 2);
        var labels = Tensor.FromArray(new[] { 0, 1 }, 2);
        var ceReal = (Math.Log(1 + Math.Exp(-2)) + Math.Log(1 + Math.Exp(-1))) / 2;
        var ceFake = (Math.Log(2) + Math.Log(Math.Exp(3) + 1)) / 2;
        Assert.Equal(ceReal + ceFake, AcganLoss.Discriminator(real, labels, fake, labels).Item(), 10);
        Assert.Equal(ceReal, AcganLoss.Discriminator(real, labels, null, null).Item(), 10);
        Assert.Equal(ceFake, AcganLoss.Generator(fake, labels).Item(), 10);
    }

    [Fact]
    public void WganGpTakesThePapersDefaultsUnlessTheFileOverridesThem()
    {
        // Gulrajani et al. 2017, Algorithm 1: n_critic 5, Adam(1e-4, 0, 0.9) for both networks.
        var paper = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["loss"] = "wgan-gp" }), new GanSettings());
        Assert.Equal((5, 1e-4, 1e-4, 0.0, 0.9), (paper.DSteps, paper.LrG, paper.LrD, paper.Beta1, paper.Beta2));
        var overridden = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["loss"] = "wgan-gp", ["d_steps"] = "2", ["lr_g"] = "2e-4" }), new GanSettings());
        Assert.Equal((2, 2e-4, 1e-4, 0.0, 0.9), (overridden.DSteps, overridden.LrG, overridden.LrD, overridden.Beta1, overridden.Beta2));
        var hinge = GanSettings.Read(new MethodSettings("gan-per-class", new Dictionary<string, string> { ["loss"] = "hinge" }), new GanSettings());
        Assert.Equal((1, 2e-4, 1e-4, 0.5, 0.999), (hinge.DSteps, hinge.LrG, hinge.LrD, hinge.Beta1, hinge.Beta2));
        // A prefixed group (SMate's pre-training) inherits the fine-tuning group's resolved values.
        var pre = GanSettings.Read(new MethodSettings("smate", new Dictionary<string, string> { ["loss"] = "wgan-gp", ["pretrain_steps"] = "7" }), overridden, "pretrain_");
        Assert.Equal((2, 2e-4, 7), (pre.DSteps, pre.LrG, pre.Steps));
        // ACGAN trains its classifier on generated images too unless told not to.
        Assert.True(new GanSettings().AuxOnFake);
        Assert.False(GanSettings.Read(new MethodSettings("cgan", new Dictionary<string, string> { ["acgan_fake"] = "false" }), new GanSettings()).AuxOnFake);
    }

    [Fact]
    public void TheGeneratorKeyChangesWithTheCheckpointIntervalAndTheTrainingVersion()
    {
        // Restarts resume from checkpoints, so the interval decides the weights a diverging run ends with.
        var a = new GanSettings();
        Assert.NotEqual(a.Canonical(), (a with { CheckpointEvery = 100 }).Canonical());
        Assert.Equal(a.Canonical(), (a with { SampleEvery = 100 }).Canonical());
        Assert.StartsWith($"v{GanSettings.TrainingVersion};", a.Canonical(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gan")]
    [InlineData("wgan-gp")]
    [InlineData("lsgan")]
    [InlineData("dragan")]
    [InlineData("hinge")]
    public void EachLossPairMatchesHandComputedValues(string name)
    {
        var (d, g) = name switch
        {
            "gan" or "dragan" => (((Softplus(-1) + Softplus(2)) / 2) + ((Softplus(0.5) + Softplus(-1)) / 2), (Softplus(-0.5) + Softplus(1)) / 2),
            // mean(f) − mean(r) = −0.25 + 0.5; −mean(f) = 0.25
            "wgan-gp" => (0.25, 0.25),
            // ½·mean((r−1)²) + ½·mean(f²) = ½·4.5 + ½·0.625; ½·mean((f−1)²) = ½·2.125
            "lsgan" => (2.5625, 1.0625),
            // mean(max(0, 1−r)) + mean(max(0, 1+f)) = 1.5 + 0.75; −mean(f) = 0.25
            _ => (2.25, 0.25),
        };
        var loss = AdversarialLoss.Get(name);
        var r = Tensor.FromArray(Real, 2);
        var f = Tensor.FromArray(Fake, 2);
        Assert.Equal(d, loss.Discriminator(r, f).Item(), 12);
        Assert.Equal(g, loss.Generator(f).Item(), 12);
        Assert.Equal(name is "wgan-gp" or "dragan", loss.NeedsPerSampleCritic);
    }

    [Fact]
    public void UnknownLossNamesTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => AdversarialLoss.Get("wgan"));
        Assert.Contains("unknown GAN loss 'wgan'", e.Message, StringComparison.Ordinal);
        Assert.Contains("wgan-gp", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A tiny critic in double precision: c(x) = tanh(x·W1 + b1)·w2 on flattened 2x2 images.</summary>
    private sealed class TinyCritic
    {
        public Tensor W1 { get; } = Tensor.FromArray(new[] { 0.3, -0.5, 0.8, 0.1, 0.7, -0.2, -0.4, 0.6, 0.25, 0.9, -0.3, 0.05 }, 4, 3).RequiresGrad_();

        public Tensor B1 { get; } = Tensor.FromArray(new[] { 0.1, -0.1, 0.2 }, 3).RequiresGrad_();

        public Tensor W2 { get; } = Tensor.FromArray(new[] { 1.1, -0.7, 0.5 }, 3, 1).RequiresGrad_();

        public Tensor Forward(Tensor x) => Tensor.MatMul(Functional.Tanh(Tensor.MatMul(x.Reshape(x.Size(0), -1), W1) + B1), W2).Reshape(-1);

        public double Value(double[] x, int i)
        {
            var w1 = W1.ToDoubleArray();
            var b1 = B1.ToDoubleArray();
            var w2 = W2.ToDoubleArray();
            var s = 0.0;
            for (var j = 0; j < 3; j++)
            {
                var a = b1[j];
                for (var k = 0; k < 4; k++)
                {
                    a += x[(i * 4) + k] * w1[(k * 3) + j];
                }
                s += Math.Tanh(a) * w2[j];
            }
            return s;
        }
    }

    private static double PenaltyByFiniteDifferences(TinyCritic c, double[] x, int n)
    {
        var total = 0.0;
        for (var i = 0; i < n; i++)
        {
            var norm = Math.Sqrt(SquaredInputGradient(c, x, i));
            total += (norm - 1) * (norm - 1);
        }
        return total / n;
    }

    /// <summary>‖∇ₓ c(x_i)‖² by central differences.</summary>
    private static double SquaredInputGradient(TinyCritic c, double[] x, int i)
    {
        const double h = 1e-6;
        var sq = 0.0;
        for (var k = 0; k < 4; k++)
        {
            var xp = (double[])x.Clone();
            var xm = (double[])x.Clone();
            xp[(i * 4) + k] += h;
            xm[(i * 4) + k] -= h;
            var d = (c.Value(xp, i) - c.Value(xm, i)) / (2 * h);
            sq += d * d;
        }
        return sq;
    }

    [Fact]
    public void GradientPenaltyValueAndGradientMatchFiniteDifferences()
    {
        var c = new TinyCritic();
        double[] x = [0.5, -0.3, 0.8, 0.1, -0.6, 0.2, 0.4, -0.9, 0.05, 0.7, -0.25, 0.3];
        var points = Tensor.FromArray(x, 3, 1, 2, 2);
        var penalty = Penalties.GradientNorm(c.Forward, points);
        Assert.Equal(PenaltyByFiniteDifferences(c, x, 3), penalty.Item(), 6);

        // d(penalty)/dW1 through the gradient of the gradient, against differences of the penalty itself.
        penalty.Backward();
        var analytic = c.W1.Grad!.ToDoubleArray();
        var w = c.W1.ToDoubleArray();
        const double h = 1e-5;
        for (var i = 0; i < w.Length; i++)
        {
            double At(double v)
            {
                using (GradMode.NoGrad())
                {
                    var copy = (double[])w.Clone();
                    copy[i] = v;
                    c.W1.CopyFrom_(Tensor.FromArray(copy, 4, 3));
                }
                return PenaltyByFiniteDifferences(c, x, 3);
            }
            var numeric = (At(w[i] + h) - At(w[i] - h)) / (2 * h);
            At(w[i]);
            Assert.True(Math.Abs(numeric - analytic[i]) < 1e-4 * Math.Max(1, Math.Abs(numeric)), $"dW1[{i}]: autograd {analytic[i]}, finite differences {numeric}");
        }
    }

    [Fact]
    public void R1IsHalfGammaTimesTheSquaredGradientNorm()
    {
        var c = new TinyCritic();
        double[] x = [0.5, -0.3, 0.8, 0.1, -0.6, 0.2, 0.4, -0.9];
        var r1 = Penalties.R1(c.Forward, Tensor.FromArray(x, 2, 1, 2, 2), gamma: 4).Item();
        // (γ/2)·mean_i ‖∇ₓ c(x_i)‖² with γ = 4 over 2 images.
        var expected = 2 * (SquaredInputGradient(c, x, 0) + SquaredInputGradient(c, x, 1)) / 2;
        Assert.Equal(expected, r1, 6);
    }

    [Fact]
    public void InterpolatesLieBetweenRealAndFakePerImage()
    {
        var gen = new Generator(3);
        var real = Tensor.Ones([4, 1, 2, 2]);
        var fake = Tensor.Zeros([4, 1, 2, 2]);
        var p = Penalties.Interpolates(real, fake, gen).ToFloatArray();
        for (var i = 0; i < 4; i++)
        {
            var v = p[i * 4];
            Assert.InRange(v, 0f, 1f);
            Assert.All(p.Skip(i * 4).Take(4), u => Assert.Equal(v, u));
        }
    }
}
