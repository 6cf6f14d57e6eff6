namespace Rebalance.Tensors;

public static partial class Functional
{
    /// <summary>
    /// Batch normalisation over (N, C) or (N, C, H, W). In training it normalises with the batch
    /// statistics (biased variance) and, when running buffers are given, updates them in place with
    /// <paramref name="momentum"/> (running variance from the unbiased estimate), as PyTorch does.
    /// In evaluation it uses the running statistics.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null, bool training = true, double momentum = 0.1, double eps = 1e-5)
    {
        const string op = "batch_norm";
        if (x.Rank < 2)
        {
            throw new ArgumentException($"{op}: expected (N, C) or (N, C, ...), got {ShapeUtil.Format(x.ShapeRef)}");
        }
        x.CheckFloating(op);
        var c = x.Size(1);
        foreach (var (name, t) in new[] { ("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias) })
        {
            if (t is not null && (t.Rank != 1 || t.Size(0) != c))
            {
                throw new ArgumentException($"{op}: {name} of shape {ShapeUtil.Format(t.ShapeRef)} does not match {c} channels of input {ShapeUtil.Format(x.ShapeRef)}");
            }
        }
        var bshape = new int[x.Rank];
        Array.Fill(bshape, 1);
        bshape[1] = c;
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        Tensor y;
        if (training)
        {
            var count = x.Numel / Math.Max(1, c);
            if (count <= 1)
            {
                throw new ArgumentException($"{op}: training needs more than one value per channel, got input {ShapeUtil.Format(x.ShapeRef)}");
            }
            var mean = x.Mean(dims, keepDim: true);
            var centred = x - mean;
            var variance = (centred * centred).Mean(dims, keepDim: true);
            y = centred / Tensor.Sqrt(variance + eps);
            if (runningMean is not null && runningVar is not null)
            {
                using (GradMode.NoGrad())
                {
                    runningMean.CopyFrom_((runningMean * (1 - momentum)) + (mean.Reshape(c) * momentum));
                    runningVar.CopyFrom_((runningVar * (1 - momentum)) + (variance.Reshape(c) * (momentum * count / (count - 1))));
                }
            }
        }
        else
        {
            if (runningMean is null || runningVar is null)
            {
                throw new ArgumentException($"{op}: evaluation mode needs running_mean and running_var");
            }
            y = (x - runningMean.Reshape(bshape)) / Tensor.Sqrt(runningVar.Reshape(bshape) + eps);
        }
        if (weight is not null)
        {
            y = y * weight.Reshape(bshape);
        }
        if (bias is not null)
        {
            y = y + bias.Reshape(bshape);
        }
        return y;
    }

    /// <summary>Layer normalisation over the trailing dims given by <paramref name="normalizedShape"/>, with optional elementwise affine.</summary>
    public static Tensor LayerNorm(Tensor x, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        const string op = "layer_norm";
        var k = normalizedShape.Length;
        if (k == 0 || k > x.Rank || !x.ShapeRef.AsSpan(x.Rank - k).SequenceEqual(normalizedShape))
        {
            throw new ArgumentException($"{op}: normalized shape {ShapeUtil.Format(normalizedShape)} does not match the trailing dims of {ShapeUtil.Format(x.ShapeRef)}");
        }
        var dims = Enumerable.Range(x.Rank - k, k).ToArray();
        var y = Normalize(x, dims, eps);
        foreach (var (name, t) in new[] { ("weight", weight), ("bias", bias) })
        {
            if (t is not null && !t.ShapeRef.SequenceEqual(normalizedShape))
            {
                throw new ArgumentException($"{op}: {name} of shape {ShapeUtil.Format(t.ShapeRef)} must have the normalized shape {ShapeUtil.Format(normalizedShape)}");
            }
        }
        if (weight is not null)
        {
            y = y * weight;
        }
        if (bias is not null)
        {
            y = y + bias;
        }
        return y;
    }

    /// <summary>Instance normalisation: each (sample, channel) plane of (N, C, H, W) normalised on its own, with optional per-channel affine.</summary>
    public static Tensor InstanceNorm(Tensor x, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        if (x.Rank < 3)
        {
            throw new ArgumentException($"instance_norm: expected (N, C, ...) with spatial dims, got {ShapeUtil.Format(x.ShapeRef)}");
        }
        var y = Normalize(x, [.. Enumerable.Range(2, x.Rank - 2)], eps);
        var bshape = new int[x.Rank];
        Array.Fill(bshape, 1);
        bshape[1] = x.Size(1);
        if (weight is not null)
        {
            y = y * weight.Reshape(bshape);
        }
        if (bias is not null)
        {
            y = y + bias.Reshape(bshape);
        }
        return y;
    }

    private static Tensor Normalize(Tensor x, int[] dims, double eps)
    {
        var centred = x - x.Mean(dims, keepDim: true);
        var variance = (centred * centred).Mean(dims, keepDim: true);
        return centred / Tensor.Sqrt(variance + eps);
    }

    /// <summary>Zeroes each element with probability p and scales the rest by 1 / (1 - p) in training; identity otherwise.</summary>
    public static Tensor Dropout(Tensor x, double p, bool training, Generator generator)
    {
        if (!(p >= 0 && p < 1))
        {
            throw new ArgumentException($"dropout: p must lie in [0, 1), got {p}");
        }
        if (!training || p == 0)
        {
            return x;
        }
        var mask = generator.Bernoulli(x.Shape, 1 - p, x.DType) * (1.0 / (1 - p));
        return x * mask;
    }
}
