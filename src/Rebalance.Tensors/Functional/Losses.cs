namespace Rebalance.Tensors;

/// <summary>How a loss combines its per-element values.</summary>
public enum Reduction
{
    /// <summary>Per-element losses.</summary>
    None,

    /// <summary>Mean (weighted mean where class weights apply).</summary>
    Mean,

    /// <summary>Sum.</summary>
    Sum,
}

public static partial class Functional
{
    /// <summary>
    /// Binary cross-entropy on logits, computed stably:
    /// (1 - t) x + (1 + (pw - 1) t) softplus(-x), with pw the optional positive-class weight (broadcast
    /// over the last dim, as PyTorch's pos_weight).
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor target, Tensor? posWeight = null, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("binary_cross_entropy_with_logits", logits, target);
        var sp = Tensor.Softplus(-logits);
        var loss = posWeight is null
            ? ((1.0 - target) * logits) + sp
            : ((1.0 - target) * logits) + ((1.0 + ((posWeight - 1.0) * target)) * sp);
        return Reduce(loss, reduction);
    }

    /// <summary>
    /// Cross-entropy of logits (N, C) against int32 class indices (N), with optional class weights (C) and
    /// label smoothing eps: (1 - eps) * NLL + eps * mean over classes of -w_c log p_c. With weights the mean
    /// divides by the summed weights of the targets, as PyTorch does.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, Tensor? weight = null, double labelSmoothing = 0.0, Reduction reduction = Reduction.Mean)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
        {
            throw new ArgumentException($"cross_entropy: label smoothing must lie in [0, 1], got {labelSmoothing}");
        }
        var logp = LogSoftmax(logits, 1);
        var nll = NllLoss(logp, target, weight, reduction);
        if (labelSmoothing == 0)
        {
            return nll;
        }
        var c = logits.Size(1);
        var wl = weight is null ? logp : logp * weight.Reshape(1, c);
        var smooth = -wl.Sum(1) * (1.0 / c);
        var smoothReduced = reduction switch
        {
            Reduction.None => smooth,
            Reduction.Sum => smooth.Sum(),
            _ => weight is null ? smooth.Mean() : smooth.Sum() / TargetWeights(weight, target).Sum(),
        };
        return (nll * (1 - labelSmoothing)) + (smoothReduced * labelSmoothing);
    }

    /// <summary>Negative log-likelihood of log-probabilities (N, C) at int32 targets (N), optionally class-weighted.</summary>
    public static Tensor NllLoss(Tensor logProbs, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean)
    {
        const string op = "nll_loss";
        if (logProbs.Rank != 2)
        {
            throw new ArgumentException($"{op}: expected input (N, C), got {ShapeUtil.Format(logProbs.ShapeRef)}");
        }
        if (target.DType != DType.Int32 || target.Rank != 1 || target.Size(0) != logProbs.Size(0))
        {
            throw new ArgumentException($"{op}: target must be int32 of shape [{logProbs.Size(0)}], got {target.DType.Name()} {ShapeUtil.Format(target.ShapeRef)}");
        }
        var c = logProbs.Size(1);
        if (weight is not null && (weight.Rank != 1 || weight.Size(0) != c))
        {
            throw new ArgumentException($"{op}: class weights of shape {ShapeUtil.Format(weight.ShapeRef)} do not match {c} classes");
        }
        foreach (var t in target.ToIntArray())
        {
            if ((uint)t >= (uint)c)
            {
                throw new ArgumentException($"{op}: target class {t} is outside [0, {c})");
            }
        }
        var picked = -logProbs.Gather(1, target.Reshape(-1, 1)).Reshape(-1);
        if (weight is null)
        {
            return Reduce(picked, reduction);
        }
        var w = TargetWeights(weight, target);
        var weighted = picked * w;
        return reduction switch
        {
            Reduction.None => weighted,
            Reduction.Sum => weighted.Sum(),
            _ => weighted.Sum() / w.Sum(),
        };
    }

    private static Tensor TargetWeights(Tensor weight, Tensor target) => weight.Detach().IndexSelect(0, target);

    /// <summary>Mean squared error.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("mse_loss", input, target);
        var d = input - target;
        return Reduce(d * d, reduction);
    }

    /// <summary>Mean absolute error.</summary>
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape("l1_loss", input, target);
        return Reduce(Tensor.Abs(input - target), reduction);
    }

    private static Tensor Reduce(Tensor loss, Reduction reduction) => reduction switch
    {
        Reduction.None => loss,
        Reduction.Sum => loss.Sum(),
        _ => loss.Mean(),
    };

    private static void CheckSameShape(string op, Tensor a, Tensor b)
    {
        if (!ShapeUtil.SameShape(a.ShapeRef, b.ShapeRef))
        {
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(a.ShapeRef)} and target {ShapeUtil.Format(b.ShapeRef)} differ in shape");
        }
    }

    /// <summary>Cosine similarity along a dim: (a . b) / (max(|a|, eps) * max(|b|, eps)).</summary>
    public static Tensor CosineSimilarity(Tensor a, Tensor b, int dim = 1, double eps = 1e-8)
    {
        var na = Tensor.Clamp(Tensor.Sqrt((a * a).Sum(dim, keepDim: true)), min: eps);
        var nb = Tensor.Clamp(Tensor.Sqrt((b * b).Sum(dim, keepDim: true)), min: eps);
        return ((a / na) * (b / nb)).Sum(dim);
    }

    /// <summary>Squared Euclidean distances between the rows of a (N, D) and b (M, D): (N, M), clamped at 0.</summary>
    public static Tensor PairwiseSquaredDistances(Tensor a, Tensor b)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Size(1) != b.Size(1))
        {
            throw new ArgumentException($"pairwise_squared_distances: expected (N, D) and (M, D), got {ShapeUtil.Format(a.ShapeRef)} and {ShapeUtil.Format(b.ShapeRef)}");
        }
        var aa = (a * a).Sum(1, keepDim: true);
        var bb = (b * b).Sum(1).Reshape(1, -1);
        var ab = Tensor.MatMulT(a, b, false, true);
        return Tensor.Clamp(aa + bb - (ab * 2.0), min: 0.0);
    }
}
