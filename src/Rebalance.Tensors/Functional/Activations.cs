namespace Rebalance.Tensors;

public static partial class Functional
{
    /// <summary>max(x, 0).</summary>
    public static Tensor Relu(Tensor x) => Tensor.Relu(x);

    /// <summary>x where positive, else slope * x (PyTorch's default slope 0.01).</summary>
    public static Tensor LeakyRelu(Tensor x, double negativeSlope = 0.01) => Tensor.LeakyRelu(x, negativeSlope);

    /// <summary>x where positive, else alpha * (e^x - 1).</summary>
    public static Tensor Elu(Tensor x, double alpha = 1.0) => Tensor.Elu(x, alpha);

    /// <summary>Hyperbolic tangent.</summary>
    public static Tensor Tanh(Tensor x) => Tensor.Tanh(x);

    /// <summary>Logistic sigmoid.</summary>
    public static Tensor Sigmoid(Tensor x) => Tensor.Sigmoid(x);

    /// <summary>log(1 + e^(beta x)) / beta.</summary>
    public static Tensor Softplus(Tensor x, double beta = 1.0, double threshold = 20.0) => Tensor.Softplus(x, beta, threshold);

    /// <summary>x * sigmoid(x).</summary>
    public static Tensor Silu(Tensor x) => Tensor.Silu(x);

    /// <summary>log(softmax(x)) along a dim, computed as x - logsumexp(x).</summary>
    public static Tensor LogSoftmax(Tensor x, int dim) => x - x.LogSumExp(dim, keepDim: true);

    /// <summary>exp(x) / sum(exp(x)) along a dim.</summary>
    public static Tensor Softmax(Tensor x, int dim) => Tensor.Exp(LogSoftmax(x, dim));

    /// <summary>x @ weight^T + bias. x (..., in), weight (out, in), bias (out).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (weight.Rank != 2 || x.Rank < 1 || x.Size(-1) != weight.Size(1))
        {
            throw new ArgumentException($"linear: input {ShapeUtil.Format(x.ShapeRef)} and weight {ShapeUtil.Format(weight.ShapeRef)} do not fit (expected weight (out, {(x.Rank > 0 ? x.Size(-1) : 0)}))");
        }
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != weight.Size(0)))
        {
            throw new ArgumentException($"linear: bias of shape {ShapeUtil.Format(bias.ShapeRef)} does not match weight {ShapeUtil.Format(weight.ShapeRef)}");
        }
        var lead = x.ShapeRef[..^1];
        var x2 = x.Rank == 2 ? x : x.Reshape(-1, x.Size(-1));
        var y = Tensor.MatMulT(x2, weight, false, true);
        if (bias is not null)
        {
            y = y + bias;
        }
        return x.Rank == 2 ? y : y.Reshape([.. lead, weight.Size(0)]);
    }
}
