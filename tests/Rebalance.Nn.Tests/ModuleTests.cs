using Rebalance.Tensors;

namespace Rebalance.Nn.Tests;

/// <summary>Module bookkeeping: names, modes, freezing, copies, state loading, initialisers.</summary>
public class ModuleTests
{
    internal static Sequential SmallCnn(Generator gen) => new(
        new Conv2d(1, 4, 3, gen, padding: 1),
        new BatchNorm2d(4),
        Activation.ReLU(),
        new Dropout(0.2, gen),
        new MaxPool2d(2),
        new Flatten(),
        new Linear(4 * 4 * 4, 3, gen));

    [Fact]
    public void StateDictUsesPyTorchNames()
    {
        var m = SmallCnn(new Generator(0));
        Assert.Equal(
            ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "6.weight", "6.bias"],
            m.StateDict().Keys);
        Assert.Equal(36 + 4 + 4 + 4 + 192 + 3, m.NumParameters());
        Assert.Contains("(6): Linear(in_features=64, out_features=3, bias=True)", m.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TrainEvalAndFreezingReachEveryDescendant()
    {
        var m = SmallCnn(new Generator(0));
        m.Eval();
        Assert.All(m.NamedModules(), x => Assert.False(x.Module.Training));
        m.Train();
        Assert.All(m.NamedModules(), x => Assert.True(x.Module.Training));
        m.RequiresGrad_(false);
        Assert.All(m.Parameters(), p => Assert.False(p.RequiresGrad));
        var y = m.Forward(Tensor.Ones([2, 1, 8, 8]));
        Assert.False(y.RequiresGrad);
    }

    [Fact]
    public void DeepCopyIsIndependent()
    {
        var m = SmallCnn(new Generator(0));
        var c = (Sequential)m.DeepCopy();
        Assert.Equal(m.StateDict().Keys, c.StateDict().Keys);
        var x = new Generator(1).Normal([2, 1, 8, 8]);
        m.Eval();
        c.Eval();
        Assert.Equal(m.Forward(x).ToFloatArray(), c.Forward(x).ToFloatArray());
        using (GradMode.NoGrad())
        {
            ((Linear)c[6]).Weight.Fill_(0);
        }
        Assert.NotEqual(0.0, ((Linear)m[6]).Weight.Sum().Item());
        var sn = SpectralNorm.Apply(new Linear(4, 3, new Generator(2)), new Generator(3));
        var snCopy = sn.DeepCopy();
        Assert.Equal(sn.Forward(Tensor.Ones([1, 4])).ToFloatArray(), snCopy.Forward(Tensor.Ones([1, 4])).ToFloatArray());
    }

    [Fact]
    public void LoadStateDictChecksNamesAndShapes()
    {
        var m = SmallCnn(new Generator(0));
        var other = SmallCnn(new Generator(5));
        m.LoadStateDict(other.StateDict());
        Assert.Equal(other.StateDict()["6.weight"].ToFloatArray(), m.StateDict()["6.weight"].ToFloatArray());

        var partial = other.StateDict().Where(kv => kv.Key.StartsWith("0.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var e = Assert.Throws<CheckpointException>(() => m.LoadStateDict(partial));
        Assert.Contains("missing 1.weight", e.Message, StringComparison.Ordinal);
        var result = m.LoadStateDict(partial, strict: false);
        Assert.Contains("6.bias", result.MissingKeys);

        var extra = new Dictionary<string, Tensor>(other.StateDict()) { ["7.weight"] = Tensor.Zeros([1]) };
        Assert.Contains("unexpected 7.weight", Assert.Throws<CheckpointException>(() => m.LoadStateDict(extra)).Message, StringComparison.Ordinal);

        var wrong = new Dictionary<string, Tensor>(other.StateDict()) { ["6.weight"] = Tensor.Zeros([3, 65]) };
        var shape = Assert.Throws<CheckpointException>(() => m.LoadStateDict(wrong));
        Assert.Contains("'6.weight' has shape [3, 65] in the state but [3, 64] in the model", shape.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InitialisersFollowPyTorchFormulas()
    {
        var gen = new Generator(3);
        var w = Tensor.Zeros([64, 32, 3, 3]);
        var (fanIn, fanOut) = Init.Fans(w);
        Assert.Equal((288, 576), (fanIn, fanOut));
        Init.KaimingUniform_(w, gen, nonlinearity: "relu");
        var bound = Math.Sqrt(2.0) * Math.Sqrt(3.0 / 288);
        var v = w.ToFloatArray();
        Assert.All(v, x => Assert.InRange(x, -bound, bound));
        Assert.True(v.Max() > 0.95 * bound);
        Init.KaimingNormal_(w, gen, mode: FanMode.FanOut, nonlinearity: "relu");
        Assert.Equal(Math.Sqrt(2.0 / 576), Std(w), 3);
        Init.XavierUniform_(w, gen);
        Assert.All(w.ToFloatArray(), x => Assert.InRange(x, -Math.Sqrt(6.0 / 864), Math.Sqrt(6.0 / 864)));
        Init.XavierNormal_(w, gen, gain: 2);
        Assert.Equal(2 * Math.Sqrt(2.0 / 864), Std(w), 3);
        Init.Normal_(w, 0, 0.02, gen);
        Assert.Equal(0.02, Std(w), 3);
        var lin = new Linear(100, 10, gen);
        Assert.All(lin.Weight.ToFloatArray(), x => Assert.InRange(x, -0.1, 0.1));
        Assert.All(lin.Bias!.ToFloatArray(), x => Assert.InRange(x, -0.1, 0.1));
        var convT = new ConvTranspose2d(128, 64, 4, gen);
        var ctBound = 1 / Math.Sqrt(64 * 16); // PyTorch takes fan_in from dim 1 of (in, out, k, k)
        Assert.All(convT.Weight.ToFloatArray(), x => Assert.InRange(x, -ctBound, ctBound));
        Assert.Throws<ArgumentException>(() => Init.Gain("swish"));
    }

    private static double Std(Tensor t)
    {
        var v = t.ToDoubleArray();
        var mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length);
    }
}
