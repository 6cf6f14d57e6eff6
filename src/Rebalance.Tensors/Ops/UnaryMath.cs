using System.Numerics.Tensors;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>Elementwise functions of one tensor.</summary>
public sealed partial class Tensor
{
    internal static Tensor MapForward(string op, Tensor x, SpanUnary<float> f, SpanUnary<double> d)
    {
        x.CheckFloating(op);
        var y = Empty((int[])x._shape.Clone(), x.DType);
        if (x.DType == DType.Float32)
        {
            Elementwise.Map(x.Span<float>(), y.Span<float>(), f);
        }
        else
        {
            Elementwise.Map(x.Span<double>(), y.Span<double>(), d);
        }
        return y;
    }

    /// <summary>e^x.</summary>
    public static Tensor Exp(Tensor x)
    {
        var y = MapForward("exp", x, TensorPrimitives.Exp, TensorPrimitives.Exp);
        Record(y, "ExpBackward", [x], g => [Mul(g, y)]);
        return y;
    }

    /// <summary>Natural logarithm (NaN below 0, -inf at 0).</summary>
    public static Tensor Log(Tensor x)
    {
        var y = MapForward("log", x, TensorPrimitives.Log, TensorPrimitives.Log);
        Record(y, "LogBackward", [x], g => [Div(g, x)]);
        return y;
    }

    /// <summary>Square root.</summary>
    public static Tensor Sqrt(Tensor x)
    {
        var y = MapForward("sqrt", x, TensorPrimitives.Sqrt, TensorPrimitives.Sqrt);
        Record(y, "SqrtBackward", [x], g => [Div(g, y * 2.0)]);
        return y;
    }

    /// <summary>|x|; the gradient at 0 is 0.</summary>
    public static Tensor Abs(Tensor x)
    {
        var y = MapForward("abs", x, TensorPrimitives.Abs, TensorPrimitives.Abs);
        Record(y, "AbsBackward", [x], g => [Mul(g, Sign(x))]);
        return y;
    }

    /// <summary>-1, 0 or 1 by the sign of x (NaN stays NaN); no gradient.</summary>
    public static Tensor Sign(Tensor x)
    {
        x.CheckFloating("sign");
        var y = Empty((int[])x._shape.Clone(), x.DType);
        for (var i = 0; i < x.Numel; i++)
        {
            var v = x.GetFlat(i);
            y.SetFlat(i, double.IsNaN(v) ? double.NaN : Math.Sign(v));
        }
        return y;
    }

    /// <summary>Hyperbolic tangent.</summary>
    public static Tensor Tanh(Tensor x)
    {
        var y = MapForward("tanh", x, TensorPrimitives.Tanh, TensorPrimitives.Tanh);
        Record(y, "TanhBackward", [x], g => GradMode.IsEnabled
            ? [Mul(g, 1.0 - (y * y))]
            : [FusedBackward(g, y, ActivationKernels.TanhBackward, ActivationKernels.TanhBackward)]);
        return y;
    }

    /// <summary>Logistic sigmoid 1 / (1 + e^-x).</summary>
    public static Tensor Sigmoid(Tensor x)
    {
        var y = MapForward("sigmoid", x, TensorPrimitives.Sigmoid, TensorPrimitives.Sigmoid);
        Record(y, "SigmoidBackward", [x], g => GradMode.IsEnabled
            ? [Mul(g, y * (1.0 - y))]
            : [FusedBackward(g, y, ActivationKernels.SigmoidBackward, ActivationKernels.SigmoidBackward)]);
        return y;
    }

    /// <summary>max(x, 0). NaN propagates.</summary>
    public static Tensor Relu(Tensor x)
    {
        var y = MapForward("relu", x, static (s, d) => TensorPrimitives.Max(s, 0f, d), static (s, d) => TensorPrimitives.Max(s, 0.0, d));
        Record(y, "ReluBackward", [x], g => GradMode.IsEnabled
            ? [Mul(g, Constant(() => Gt(x, 0.0)))]
            : [FusedBackward(g, x, ActivationKernels.ReluBackward, ActivationKernels.ReluBackward)]);
        return y;
    }

    /// <summary>x where x &gt; 0, else slope * x.</summary>
    public static Tensor LeakyRelu(Tensor x, double negativeSlope = 0.01)
    {
        var sf = (float)negativeSlope;
        var y = MapForward("leaky_relu", x, (s, d) => ActivationKernels.LeakyRelu(s, d, sf), (s, d) => ActivationKernels.LeakyRelu(s, d, negativeSlope));
        Record(y, "LeakyReluBackward", [x], g => GradMode.IsEnabled
            ? [Mul(g, Constant(() => LeakySlope(x, negativeSlope)))]
            : [FusedBackward(g, x, (a, b, d) => ActivationKernels.LeakyReluBackward(a, b, d, sf), (a, b, d) => ActivationKernels.LeakyReluBackward(a, b, d, negativeSlope))]);
        return y;
    }

    /// <summary>
    /// LeakyReLU's derivative at x in one pass: the values of (Gt(x, 0) * (1 - slope)) + slope, which it replaced
    /// (three full-size passes in every recorded backward of a gradient penalty), bit for bit: the scalars are
    /// rounded to the tensor's type first and the sum for x &gt; 0 is taken in that type, as those ops do.
    /// </summary>
    internal static Tensor LeakySlope(Tensor x, double negativeSlope)
    {
        var f1 = (float)(1 - negativeSlope);
        var fs = (float)negativeSlope;
        var d1 = 1 - negativeSlope;
        return MapForward("leaky_relu_slope", x, (s, d) => ActivationKernels.LeakySlope(s, d, (1f * f1) + fs, fs), (s, d) => ActivationKernels.LeakySlope(s, d, (1.0 * d1) + negativeSlope, negativeSlope));
    }

    /// <summary>x where x &gt; 0, else alpha * (e^x - 1).</summary>
    public static Tensor Elu(Tensor x, double alpha = 1.0)
    {
        Tensor pos, y;
        using (GradMode.NoGrad())
        {
            pos = Gt(x, 0.0);
            y = Where(pos, x, (Exp(x) - 1.0) * alpha);
        }
        Record(y, "EluBackward", [x], g => [Where(pos, g, Mul(g, y + alpha))]);
        return y;
    }

    /// <summary>log(1 + e^(beta x)) / beta, linear above x * beta &gt; threshold (PyTorch's defaults 1 and 20).</summary>
    public static Tensor Softplus(Tensor x, double beta = 1.0, double threshold = 20.0)
    {
        x.CheckFloating("softplus");
        var y = Empty((int[])x._shape.Clone(), x.DType);
        for (var i = 0; i < x.Numel; i++)
        {
            var v = x.GetFlat(i) * beta;
            // log1p(exp(v)) computed without overflow: max(v, 0) + log1p(exp(-|v|)).
            y.SetFlat(i, v > threshold ? v / beta : (Math.Max(v, 0) + Math.Log(1 + Math.Exp(-Math.Abs(v)))) / beta);
        }
        Record(y, "SoftplusBackward", [x], g =>
        {
            var s = Sigmoid(x * beta);
            Tensor lin;
            using (GradMode.NoGrad())
            {
                lin = Gt(x * beta, threshold);
            }
            return [Where(lin, g, Mul(g, s))];
        });
        return y;
    }

    /// <summary>x * sigmoid(x) (also called swish).</summary>
    public static Tensor Silu(Tensor x) => Mul(x, Sigmoid(x));

    /// <summary>Evaluates a tensor that is a constant of the graph (a mask), recording nothing.</summary>
    internal static Tensor Constant(Func<Tensor> make)
    {
        using (GradMode.NoGrad())
        {
            return make();
        }
    }

    /// <summary>A first-order backward rule in one pass; used only when the backward is not being recorded.</summary>
    private static Tensor FusedBackward(Tensor g, Tensor saved, SpanBinary<float> f, SpanBinary<double> d)
    {
        var r = Empty((int[])g._shape.Clone(), g.DType);
        if (g.DType == DType.Float32)
        {
            f(g.Span<float>(), saved.Span<float>(), r.Span<float>());
        }
        else
        {
            d(g.Span<double>(), saved.Span<double>(), r.Span<double>());
        }
        return r;
    }
}
