using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>Which side's fan an initialiser scales by.</summary>
public enum FanMode
{
    /// <summary>Inputs per output unit (keeps forward activations' variance).</summary>
    FanIn,

    /// <summary>Outputs per input unit (keeps gradients' variance).</summary>
    FanOut,
}

/// <summary>
/// Weight initialisers with PyTorch's formulas (<c>torch.nn.init</c>). Each overwrites the tensor in
/// place with values drawn from the given generator and returns it.
/// </summary>
public static class Init
{
    /// <summary>(fan_in, fan_out) as PyTorch computes them: dims 1 and 0 times the receptive field.</summary>
    public static (int FanIn, int FanOut) Fans(Tensor t)
    {
        if (t.Rank < 2)
        {
            throw new ArgumentException($"init: fan in and fan out need at least 2 dims, got shape [{string.Join(", ", t.Shape)}]");
        }
        var receptive = 1;
        for (var d = 2; d < t.Rank; d++)
        {
            receptive *= t.Size(d);
        }
        return (t.Size(1) * receptive, t.Size(0) * receptive);
    }

    /// <summary>Recommended gain for a nonlinearity ("linear", "conv", "sigmoid", "tanh", "relu", "leaky_relu", "selu").</summary>
    public static double Gain(string nonlinearity, double param = 0.01) => nonlinearity switch
    {
        "linear" or "conv1d" or "conv2d" or "conv_transpose2d" or "sigmoid" => 1.0,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2.0),
        "leaky_relu" => Math.Sqrt(2.0 / (1 + (param * param))),
        "selu" => 3.0 / 4,
        _ => throw new ArgumentException($"init: unknown nonlinearity '{nonlinearity}' (linear, sigmoid, tanh, relu, leaky_relu, selu)"),
    };

    /// <summary>U(low, high).</summary>
    public static Tensor Uniform_(Tensor t, double low, double high, Generator gen) => Fill(t, gen.Uniform(t.Shape, low, high, t.DType));

    /// <summary>N(mean, std²); DCGAN initialises with Normal_(w, 0, 0.02).</summary>
    public static Tensor Normal_(Tensor t, double mean, double std, Generator gen) => Fill(t, gen.Normal(t.Shape, mean, std, t.DType));

    /// <summary>All elements set to <paramref name="value"/>.</summary>
    public static Tensor Constant_(Tensor t, double value)
    {
        using (GradMode.NoGrad())
        {
            return t.Fill_(value);
        }
    }

    /// <summary>Zeros.</summary>
    public static Tensor Zeros_(Tensor t) => Constant_(t, 0);

    /// <summary>Ones.</summary>
    public static Tensor Ones_(Tensor t) => Constant_(t, 1);

    /// <summary>He et al. uniform: bound = gain * sqrt(3 / fan), gain from <paramref name="nonlinearity"/> and slope <paramref name="a"/>.</summary>
    public static Tensor KaimingUniform_(Tensor t, Generator gen, double a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu")
    {
        var std = Gain(nonlinearity, a) / Math.Sqrt(Fan(t, mode));
        var bound = Math.Sqrt(3.0) * std;
        return Uniform_(t, -bound, bound, gen);
    }

    /// <summary>He et al. normal: std = gain / sqrt(fan).</summary>
    public static Tensor KaimingNormal_(Tensor t, Generator gen, double a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu") =>
        Normal_(t, 0, Gain(nonlinearity, a) / Math.Sqrt(Fan(t, mode)), gen);

    /// <summary>Glorot uniform: bound = gain * sqrt(6 / (fan_in + fan_out)).</summary>
    public static Tensor XavierUniform_(Tensor t, Generator gen, double gain = 1)
    {
        var (fi, fo) = Fans(t);
        var bound = gain * Math.Sqrt(6.0 / (fi + fo));
        return Uniform_(t, -bound, bound, gen);
    }

    /// <summary>Glorot normal: std = gain * sqrt(2 / (fan_in + fan_out)).</summary>
    public static Tensor XavierNormal_(Tensor t, Generator gen, double gain = 1)
    {
        var (fi, fo) = Fans(t);
        return Normal_(t, 0, gain * Math.Sqrt(2.0 / (fi + fo)), gen);
    }

    /// <summary>PyTorch's default for Linear and convolution layers: weight Kaiming-uniform with a = sqrt(5)
    /// (bound 1/sqrt(fan_in)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).</summary>
    public static void DefaultLinearOrConv(Tensor weight, Tensor? bias, Generator gen)
    {
        KaimingUniform_(weight, gen, a: Math.Sqrt(5));
        if (bias is not null)
        {
            var (fanIn, _) = Fans(weight);
            var bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
            Uniform_(bias, -bound, bound, gen);
        }
    }

    private static int Fan(Tensor t, FanMode mode)
    {
        var (fi, fo) = Fans(t);
        var fan = mode == FanMode.FanIn ? fi : fo;
        if (fan == 0)
        {
            throw new ArgumentException($"init: tensor of shape [{string.Join(", ", t.Shape)}] has no elements to take a fan from");
        }
        return fan;
    }

    private static Tensor Fill(Tensor t, Tensor values)
    {
        using (GradMode.NoGrad())
        {
            t.CopyFrom_(values);
        }
        return t;
    }
}
