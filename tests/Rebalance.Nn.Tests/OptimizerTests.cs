using Rebalance.Tensors;
using static Rebalance.Nn.Tests.TorchReference;

namespace Rebalance.Nn.Tests;

/// <summary>Optimiser trajectories and learning-rate schedules against PyTorch.</summary>
public class OptimizerTests
{
    public static TheoryData<string> Optimizers => ["sgd", "sgd_momentum", "sgd_nesterov", "adam", "adam_amsgrad", "adamw", "rmsprop", "rmsprop_centered"];

    private static Optimizer Make(string name, Tensor p) => name switch
    {
        "sgd" => new Sgd([p], 0.1),
        "sgd_momentum" => new Sgd([p], 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01),
        "sgd_nesterov" => new Sgd([p], 0.05, momentum: 0.9, weightDecay: 0.001, nesterov: true),
        "adam" => new Adam([p], 0.01, beta1: 0.5, beta2: 0.999, weightDecay: 0.01),
        "adam_amsgrad" => new Adam([p], 0.01, amsgrad: true),
        "adamw" => new AdamW([p], 0.01, beta1: 0.9, beta2: 0.99, weightDecay: 0.1),
        "rmsprop" => new RmsProp([p], 0.01),
        "rmsprop_centered" => new RmsProp([p], 0.01, alpha: 0.9, weightDecay: 0.01, momentum: 0.5, centered: true),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void ThreeStepsMatchPyTorch(string name)
    {
        var p = Get("optim.p0").Detach().Clone().RequiresGrad_();
        var opt = Make(name, p);
        for (var i = 1; i <= 3; i++)
        {
            p.Grad = Get($"optim.g{i}").Detach().Clone();
            opt.Step();
            AssertClose(Get($"optim.{name}.p{i}"), p, 2e-6, $"{name} step {i}");
        }
    }

    [Fact]
    public void ParameterGroupsHaveTheirOwnRates()
    {
        var a = Tensor.Ones([2]).RequiresGrad_();
        var b = Tensor.Ones([2]).RequiresGrad_();
        var opt = new Sgd([new ParamGroup([a]), new ParamGroup([b], learningRate: 0.5)], 0.1);
        a.Grad = Tensor.Ones([2]);
        b.Grad = Tensor.Ones([2]);
        opt.Step();
        Assert.Equal(0.9, a.GetFlat(0), 6);
        Assert.Equal(0.5, b.GetFlat(0), 6);
        Assert.Throws<ArgumentException>(() => new Sgd([new ParamGroup([a]), new ParamGroup([a])], 0.1));
    }

    [Fact]
    public void ClippingByNormAndByValue()
    {
        var a = Tensor.Ones([4]).RequiresGrad_();
        var b = Tensor.Ones([3]).RequiresGrad_();
        a.Grad = Tensor.Full([4], 3); // norm 6
        b.Grad = Tensor.Full([3], 0); // total 6
        var norm = GradClip.ClipGradNorm([a, b], 1.5);
        Assert.Equal(6.0, norm, 6);
        Assert.Equal(0.75, a.Grad.GetFlat(0), 5);
        a.Grad = Tensor.FromArray(new float[] { -5, 0.2f, 5, 1 });
        GradClip.ClipGradValue([a], 1);
        Assert.Equal([-1f, 0.2f, 1, 1], a.Grad.ToFloatArray());
        a.Grad = Tensor.Full([4], double.NaN);
        Assert.Throws<InvalidOperationException>(() => GradClip.ClipGradNorm([a], 1));
    }

    [Fact]
    public void SchedulesMatchPyTorch()
    {
        void Run(string name, Func<Optimizer, LrScheduler> make, double[]? metrics = null)
        {
            var opt = new Sgd([Tensor.Zeros([1]).RequiresGrad_()], 0.1);
            var sched = make(opt);
            var expected = Get($"sched.{name}").ToDoubleArray();
            for (var e = 0; e < 12; e++)
            {
                if (metrics is null)
                {
                    sched.Step();
                }
                else
                {
                    ((ReduceLROnPlateau)sched).Step(metrics[e]);
                }
                Assert.True(Math.Abs(expected[e] - opt.ParamGroups[0].LearningRate) < 1e-7, $"{name} epoch {e + 1}: expected {expected[e]}, got {opt.ParamGroups[0].LearningRate}");
            }
        }
        Run("step", o => new StepLR(o, 3, 0.5));
        Run("exp", o => new ExponentialLR(o, 0.8));
        Run("cosine", o => new CosineAnnealingLR(o, 10, 0.001));
        Run("plateau", o => new ReduceLROnPlateau(o, factor: 0.5, patience: 2, cooldown: 1), Get("sched.plateau_metrics").ToDoubleArray());
    }

    [Fact]
    public void EmaTracksTheWeights()
    {
        var model = new Linear(3, 2, new Generator(1));
        var ema = new Ema(model, decay: 0.5);
        var before = ((Linear)ema.Shadow).Weight.ToFloatArray();
        using (GradMode.NoGrad())
        {
            model.Weight.Fill_(1);
        }
        ema.Update();
        var after = ((Linear)ema.Shadow).Weight.ToFloatArray();
        for (var i = 0; i < after.Length; i++)
        {
            Assert.Equal((before[i] * 0.5f) + 0.5f, after[i], 6);
        }
        Assert.False(ema.Shadow.Training);
        Assert.All(ema.Shadow.Parameters(), p => Assert.False(p.RequiresGrad));
    }
}
