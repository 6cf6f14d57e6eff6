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
            foreach (var (name, t) in new[] { ("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias) })
            {
                if (t is not null && t.DType != x.DType)
                {
                    throw new ArgumentException($"{op}: {name} is {t.DType} but the input is {x.DType}");
                }
            }
            return x.DType == DType.Float32
                ? BatchNormTrain<float>(x, runningMean, runningVar, weight, bias, momentum, eps)
                : BatchNormTrain<double>(x, runningMean, runningVar, weight, bias, momentum, eps);
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

    /// <summary>
    /// Training-mode batch norm by the fused kernels of <see cref="Kernels.BatchNormKernels"/>: one node
    /// instead of the 6-8 elementwise and reduction ops of the composite form. Its backward is the fused
    /// kernel, except when the backward itself is being recorded (createGraph, for a gradient penalty):
    /// then it is written with differentiable ops, so second derivatives work.
    /// </summary>
    private static Tensor BatchNormTrain<T>(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, double momentum, double eps)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var n = x.Size(0);
        var c = x.Size(1);
        var s = x.Numel / Math.Max(1, n * c);
        // Statistics live in tensors so that inside a TensorScope their storage is pooled like the rest.
        var mean = Tensor.Empty([c], DType.Float64).Array<double>();
        var variance = Tensor.Empty([c], DType.Float64).Array<double>();
        var invstd = Tensor.Empty([c], DType.Float64).Array<double>();
        var y = Tensor.Empty(x.Shape, x.DType);
        Kernels.BatchNormKernels.Forward(x.Array<T>(), n, c, s, weight?.Array<T>(), bias?.Array<T>(), eps, y.Array<T>(), mean, variance, invstd);
        if (runningMean is not null && runningVar is not null)
        {
            var count = (double)n * s;
            var rm = runningMean.Span<T>();
            var rv = runningVar.Span<T>();
            for (var ch = 0; ch < c; ch++)
            {
                rm[ch] = T.CreateTruncating((double.CreateTruncating(rm[ch]) * (1 - momentum)) + (mean[ch] * momentum));
                rv[ch] = T.CreateTruncating((double.CreateTruncating(rv[ch]) * (1 - momentum)) + (variance[ch] * momentum * count / (count - 1)));
            }
        }
        var inputs = new List<Tensor> { x };
        if (weight is not null)
        {
            inputs.Add(weight);
        }
        if (bias is not null)
        {
            inputs.Add(bias);
        }
        Tensor.Record(y, "BatchNorm", [.. inputs], gy =>
        {
            Tensor? gx, dgamma, dbeta;
            if (GradMode.IsEnabled)
            {
                (gx, dgamma, dbeta) = BatchNormTrainGradComposite(x, weight, gy, eps);
            }
            else
            {
                gx = x.RequiresGrad ? Tensor.Empty(x.Shape, x.DType) : null;
                dgamma = weight is { RequiresGrad: true } ? Tensor.Empty([c], x.DType) : null;
                dbeta = bias is { RequiresGrad: true } ? Tensor.Empty([c], x.DType) : null;
                Kernels.BatchNormKernels.Backward(x.Array<T>(), gy.Array<T>(), n, c, s, weight?.Array<T>(), mean, invstd, gx?.Array<T>(), dgamma?.Array<T>(), dbeta?.Array<T>());
            }
            var grads = new List<Tensor?> { gx };
            if (weight is not null)
            {
                grads.Add(dgamma);
            }
            if (bias is not null)
            {
                grads.Add(dbeta);
            }
            return [.. grads];
        });
        return y;
    }

    /// <summary>The training-mode batch-norm gradients written with differentiable ops (for double backward).</summary>
    private static (Tensor Gx, Tensor Dgamma, Tensor Dbeta) BatchNormTrainGradComposite(Tensor x, Tensor? weight, Tensor gy, double eps)
    {
        var bshape = new int[x.Rank];
        Array.Fill(bshape, 1);
        bshape[1] = x.Size(1);
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        var centred = x - x.Mean(dims, keepDim: true);
        var sd = Tensor.Sqrt((centred * centred).Mean(dims, keepDim: true) + eps);
        var xhat = centred / sd;
        var g = weight is null ? gy : gy * weight.Reshape(bshape);
        var gx = (g - g.Mean(dims, keepDim: true) - (xhat * (g * xhat).Mean(dims, keepDim: true))) / sd;
        return (gx, (gy * xhat).Sum(dims), gy.Sum(dims));
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
        if (!x.DType.IsFloating())
        {
            throw new ArgumentException($"dropout: expected a floating-point tensor, got {x.DType.Name()}");
        }
        // The mask and the product in one pass over the engine's threads, with the values and gradient of
        // x * generator.BernoulliScaled(x.Shape, 1 - p, 1 / (1 - p)), bit for bit.
        var mask = Tensor.Empty((int[])x.ShapeRef.Clone(), x.DType);
        var y = Tensor.Empty((int[])x.ShapeRef.Clone(), x.DType);
        if (x.DType == DType.Float32)
        {
            generator.DropoutFill(x.Array<float>(), mask.Array<float>(), y.Array<float>(), (int)x.Numel, 1 - p, (float)(1.0 / (1 - p)));
        }
        else
        {
            generator.DropoutFill(x.Array<double>(), mask.Array<double>(), y.Array<double>(), (int)x.Numel, 1 - p, 1.0 / (1 - p));
        }
        Tensor.Record(y, "DropoutBackward", [x], g => [Tensor.Mul(g, mask)]);
        return y;
    }
}
