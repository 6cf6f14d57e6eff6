using Rebalance.Tensors;
using static Rebalance.Nn.Tests.TorchReference;

namespace Rebalance.Nn.Tests;

/// <summary>Each layer against PyTorch: forward output, input gradient and parameter gradients of sum(y·r),
/// and buffers after the pass.</summary>
public class LayerTests
{
    private static readonly Generator Gen = new(1);

    private static void Check(string name, Module m, Func<Tensor, Tensor>? forward = null, double tol = 1e-5)
    {
        m.LoadStateDict(Params(name));
        var x = Get(name + ".x").Detach().Clone().RequiresGrad_();
        var y = (forward ?? m.Forward)(x);
        AssertClose(Get(name + ".y"), y, tol, name + ".y");
        (y * Get(name + ".r")).Sum().Backward();
        AssertClose(Get(name + ".grad.x"), x.Grad!, tol, name + ".grad.x");
        foreach (var (pname, p) in m.NamedParameters())
        {
            AssertClose(Get($"{name}.grad.{pname}"), p.Grad!, tol, $"{name}.grad.{pname}");
        }
        foreach (var (bname, b) in m.NamedBuffers())
        {
            AssertClose(Get($"{name}.after.{bname}"), b, tol, $"{name}.after.{bname}");
        }
    }

    [Fact]
    public void LinearMatchesPyTorch() => Check("linear", new Linear(7, 5, Gen));

    [Fact]
    public void ConvolutionsMatchPyTorch()
    {
        Check("conv_k3s1p1", new Conv2d(3, 4, 3, Gen, padding: 1));
        Check("conv_k4s2p1", new Conv2d(2, 3, 4, Gen, stride: 2, padding: 1));
        Check("convT_k4s2p1", new ConvTranspose2d(3, 2, 4, Gen, stride: 2, padding: 1));
    }

    [Fact]
    public void BatchNormMatchesPyTorchInTrainingAndEvaluation()
    {
        Check("bn1d_train", new BatchNorm1d(5));
        Check("bn2d_train", new BatchNorm2d(3));
        var eval = new BatchNorm2d(3);
        eval.Eval();
        Check("bn2d_eval", eval);
    }

    [Fact]
    public void LayerNormUpsampleAndMinibatchLayersMatchPyTorch()
    {
        Check("layernorm", new LayerNorm([4, 3]));
        Check("upsample", new Upsample(2));
        Check("mbstd", new MinibatchStdDev(2));
        Check("mbdisc", new MinibatchDiscrimination(6, 4, 3, Gen));
    }

    [Fact]
    public void ConditionalBatchNormMatchesPyTorch()
    {
        var m = new ConditionalBatchNorm2d(3, 4, Gen);
        Check("condbn", m, x => m.Forward(x, Get("condbn.labels")));
        Assert.Throws<InvalidOperationException>(() => m.Forward(Tensor.Zeros([2, 3, 2, 2])));
    }

    [Fact]
    public void EmbeddingMatchesPyTorch()
    {
        var e = new Embedding(5, 3, Gen);
        e.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = Get("embedding.param.emb.weight") });
        var y = e.Forward(Get("embedding.idx"));
        AssertClose(Get("embedding.y"), y);
        (y * Get("embedding.r")).Sum().Backward();
        AssertClose(Get("embedding.grad.emb.weight"), e.Weight.Grad!);
    }

    [Fact]
    public void SpectralNormMatchesPyTorch()
    {
        var lin = SpectralNorm.Apply(new Linear(6, 4, Gen), Gen);
        Assert.Equal(["bias", "weight_orig", "weight_u", "weight_v"], lin.StateDict().Keys.Order(StringComparer.Ordinal));
        lin.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight_orig"] = Get("spectral.param.weight_orig"),
            ["bias"] = Get("spectral.param.bias"),
            ["weight_u"] = Get("spectral.u0"),
            ["weight_v"] = Get("spectral.v0"),
        });
        AssertClose(Get("spectral.y_train"), lin.Forward(Get("spectral.x")), 1e-5, "y_train");
        var state = lin.StateDict();
        AssertClose(Get("spectral.u1"), state["weight_u"], 1e-5, "u1");
        AssertClose(Get("spectral.v1"), state["weight_v"], 1e-5, "v1");
        lin.Eval();
        AssertClose(Get("spectral.y_eval"), lin.Forward(Get("spectral.x")), 1e-5, "y_eval");
        AssertClose(Get("spectral.u1"), state["weight_u"], 1e-6, "u unchanged in eval");

        var convT = SpectralNorm.Apply(new ConvTranspose2d(3, 2, 4, Gen, stride: 2, padding: 1), Gen);
        convT.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight_orig"] = Get("spectral_convT.param.weight_orig"),
            ["bias"] = Get("spectral_convT.param.bias"),
            ["weight_u"] = Get("spectral_convT.u0"),
            ["weight_v"] = Get("spectral_convT.v0"),
        });
        AssertClose(Get("spectral_convT.y_train"), convT.Forward(Get("spectral_convT.x")), 1e-5, "convT y");
        AssertClose(Get("spectral_convT.u1"), convT.StateDict()["weight_u"], 1e-5, "convT u1");
    }

    [Fact]
    public void SpectralNormTwoForwardsInOneStepMatchPyTorch()
    {
        // A discriminator step runs D on real and on fake images before one backward: each forward updates
        // u and v, and each must be differentiated with its own vectors (PyTorch clones them).
        var lin = SpectralNorm.Apply(new Linear(5, 4, Gen), Gen);
        lin.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight_orig"] = Get("spectral2.param.weight_orig"),
            ["bias"] = Get("spectral2.param.bias"),
            ["weight_u"] = Get("spectral2.u0"),
            ["weight_v"] = Get("spectral2.v0"),
        });
        var ya = lin.Forward(Get("spectral2.xa"));
        var yb = lin.Forward(Get("spectral2.xb"));
        ((ya * Get("spectral2.ra")).Sum() + (yb * Get("spectral2.rb")).Sum()).Backward();
        AssertClose(Get("spectral2.grad.weight_orig"), lin.GetParameter("weight_orig")!.Grad!, 1e-4, "grad weight_orig");
        AssertClose(Get("spectral2.grad.bias"), lin.GetParameter("bias")!.Grad!, 1e-5, "grad bias");
        AssertClose(Get("spectral2.u2"), lin.StateDict()["weight_u"], 1e-5, "u after two forwards");
    }

    [Fact]
    public void SpectralNormLimitsTheLargestSingularValueToOne()
    {
        var lin = SpectralNorm.Apply(new Linear(20, 10, new Generator(3)), new Generator(4), powerIterations: 30);
        using (GradMode.NoGrad())
        {
            lin.Forward(Tensor.Zeros([1, 20]));
        }
        // The normalised weight applied to the top right-singular vector v gives a vector of norm σ/σ = 1.
        var v = lin.StateDict()["weight_v"];
        var y = lin.Forward(v.Reshape(1, 20)) - lin.Bias!;
        Assert.Equal(1.0, Math.Sqrt((y * y).Sum().Item()), 3);
    }

    [Fact]
    public void DropoutIsSeededAndOffInEvaluation()
    {
        var x = Tensor.Ones([1000]);
        var a = new Dropout(0.3, new Generator(5)).Forward(x).ToFloatArray();
        var b = new Dropout(0.3, new Generator(5)).Forward(x).ToFloatArray();
        Assert.Equal(a, b);
        var kept = a.Count(v => v != 0);
        Assert.InRange(kept, 640, 760);
        Assert.All(a.Where(v => v != 0), v => Assert.Equal(1 / 0.7f, v, 5));
        var d = new Dropout(0.3, new Generator(5));
        d.Eval();
        Assert.Equal(x.ToFloatArray(), d.Forward(x).ToFloatArray());
    }

    [Fact]
    public void ShapeLayersAndActivations()
    {
        var x = new Generator(2).Normal([2, 12]);
        var y = new Sequential(new Unflatten(1, [3, 2, 2]), new Flatten()).Forward(x);
        Assert.Equal(x.ToFloatArray(), y.ToFloatArray());
        Assert.Equal([2, 3, 2, 2], new Unflatten(1, [3, 2, 2]).Forward(x).Shape);
        Assert.Equal(0.0, Activation.ReLU().Forward(Tensor.Full([1], -2)).Item());
        Assert.Equal(-0.4, Activation.LeakyReLU(0.2).Forward(Tensor.Full([1], -2)).Item(), 6);
        Assert.Equal(Math.Tanh(0.5), Activation.Tanh().Forward(Tensor.Full([1], 0.5)).Item(), 6);
        Assert.Equal(1 / (1 + Math.Exp(-0.5)), Activation.Sigmoid().Forward(Tensor.Full([1], 0.5)).Item(), 6);
    }
}
