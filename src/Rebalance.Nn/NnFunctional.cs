using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>Functional forms of the layers that the engine's <see cref="Functional"/> does not already have.</summary>
public static class NnFunctional
{
    /// <summary>Rows of <paramref name="weight"/> (num, dim) picked by int32 <paramref name="indices"/> of any shape; result indices.shape + (dim).</summary>
    public static Tensor Embedding(Tensor indices, Tensor weight)
    {
        if (indices.DType != DType.Int32)
        {
            throw new ArgumentException($"embedding: indices must be int32, got {indices.DType.Name()}");
        }
        if (weight.Rank != 2)
        {
            throw new ArgumentException($"embedding: weight must be (num_embeddings, dim), got [{string.Join(", ", weight.Shape)}]");
        }
        var rows = weight.IndexSelect(0, indices.Reshape(-1));
        return rows.Reshape([.. indices.Shape, weight.Size(1)]);
    }

    /// <summary>Class-conditional batch norm: batch-normalise without affine, then x·γ[label] + β[label]
    /// with γ, β rows of <paramref name="gamma"/> and <paramref name="beta"/> (classes, C).</summary>
    public static Tensor ConditionalBatchNorm(Tensor x, Tensor labels, Tensor gamma, Tensor beta, Tensor? runningMean, Tensor? runningVar, bool training, double momentum = 0.1, double eps = 1e-5)
    {
        var h = Functional.BatchNorm(x, runningMean, runningVar, null, null, training, momentum, eps);
        var c = x.Size(1);
        return (h * Embedding(labels, gamma).Reshape(-1, c, 1, 1)) + Embedding(labels, beta).Reshape(-1, c, 1, 1);
    }

    /// <summary>
    /// Divides <paramref name="weight"/> by its largest singular value, estimated by power iteration as
    /// in SNGAN (Miyato et al. 2018) and PyTorch's <c>spectral_norm</c>. The weight is viewed as a matrix
    /// with dim <paramref name="dim"/> as rows. With <paramref name="update"/>, runs
    /// <paramref name="powerIterations"/> steps and stores the new vectors in <paramref name="u"/> (rows)
    /// and <paramref name="v"/> (columns); gradients flow through σ with u and v held constant at this
    /// call's values (copied, so a later call's update does not reach this call's backward).
    /// </summary>
    public static Tensor SpectralNormalize(Tensor weight, Tensor u, Tensor v, int powerIterations, bool update, int dim = 0, double eps = 1e-12)
    {
        var mat = WeightMatrix(weight, dim);
        if (u.Numel != mat.Size(0) || v.Numel != mat.Size(1))
        {
            throw new ArgumentException($"spectral_norm: vectors of {u.Numel} and {v.Numel} elements do not match the {mat.Size(0)}x{mat.Size(1)} weight matrix");
        }
        if (update && powerIterations > 0)
        {
            using (GradMode.NoGrad())
            {
                var m = mat.Detach();
                var uu = u;
                var vv = v;
                for (var i = 0; i < powerIterations; i++)
                {
                    vv = Normalize(Tensor.MatMul(m.T(), uu.Reshape(-1, 1)).Reshape(-1), eps);
                    uu = Normalize(Tensor.MatMul(m, vv.Reshape(-1, 1)).Reshape(-1), eps);
                }
                u.CopyFrom_(uu);
                v.CopyFrom_(vv);
            }
        }
        // Copies, not views: the graph keeps them for σ's backward, and the next forward of the same step
        // (real, fake, penalty, R1) updates u and v in place. PyTorch clones them in training mode too.
        var uc = update ? u.Detach().Clone() : u.Detach();
        var vc = update ? v.Detach().Clone() : v.Detach();
        var sigma = (uc * Tensor.MatMul(mat, vc.Reshape(-1, 1)).Reshape(-1)).Sum();
        return weight / sigma;
    }

    internal static Tensor WeightMatrix(Tensor weight, int dim)
    {
        if (dim != 0)
        {
            var perm = new List<int> { dim };
            perm.AddRange(Enumerable.Range(0, weight.Rank).Where(d => d != dim));
            weight = weight.Permute([.. perm]);
        }
        return weight.Reshape(weight.Size(0), -1);
    }

    internal static Tensor Normalize(Tensor x, double eps)
    {
        var norm = Math.Max(Math.Sqrt(FusedUpdates.SumOfSquares(x)), eps);
        return x / norm;
    }

    /// <summary>Pixel-wise feature normalisation (Karras et al. 2018, ProGAN): each pixel's feature vector
    /// divided by its root mean square over the channels, x / sqrt(mean_c x² + ε). (N, C, ...) → same shape.</summary>
    public static Tensor PixelNorm(Tensor x, double eps = 1e-8) => Functional.PixelNorm(x, eps);

    /// <summary>
    /// Minibatch standard deviation (Karras et al. 2018): the standard deviation of each feature over
    /// groups of <paramref name="groupSize"/> images, averaged to one value per group and appended to
    /// every image of the group as an extra channel. (N, C, H, W) → (N, C+1, H, W).
    /// </summary>
    public static Tensor MinibatchStdDev(Tensor x, int groupSize = 4, double eps = 1e-8)
    {
        if (x.Rank != 4)
        {
            throw new ArgumentException($"minibatch_stddev: expected (N, C, H, W), got [{string.Join(", ", x.Shape)}]");
        }
        var (n, c, h, w) = (x.Size(0), x.Size(1), x.Size(2), x.Size(3));
        var g = Math.Min(groupSize, n);
        if (g < 1 || n % g != 0)
        {
            throw new ArgumentException($"minibatch_stddev: batch of {n} is not divisible by the group size {g}");
        }
        var m = n / g;
        var y = x.Reshape(g, m, c, h, w);
        var centred = y - y.Mean(0, keepDim: true);
        var std = Tensor.Sqrt((centred * centred).Mean(0) + eps); // (M, C, H, W)
        var perGroup = std.Mean([1, 2, 3]); // (M)
        var feature = perGroup.Reshape(1, m, 1, 1, 1).Expand(g, m, 1, h, w).Reshape(n, 1, h, w);
        return Tensor.Concat([x, feature], 1);
    }

    /// <summary>
    /// Minibatch discrimination (Salimans et al. 2016): x (N, A) is projected by <paramref name="t"/>
    /// (A, B·C) to B kernels of C dims; for each kernel, o_b(x_i) = Σ_{j≠i} exp(−‖M_{i,b} − M_{j,b}‖₁).
    /// Returns (N, A+B): x with the B closeness features appended.
    /// </summary>
    public static Tensor MinibatchDiscrimination(Tensor x, Tensor t, int kernels, int kernelDim)
    {
        if (x.Rank != 2 || t.Rank != 2 || t.Size(0) != x.Size(1) || t.Size(1) != kernels * kernelDim)
        {
            throw new ArgumentException($"minibatch_discrimination: x [{string.Join(", ", x.Shape)}] and T [{string.Join(", ", t.Shape)}] do not fit (N, A) and (A, {kernels}x{kernelDim})");
        }
        var n = x.Size(0);
        var mm = Tensor.MatMul(x, t).Reshape(n, kernels, kernelDim);
        var diff = mm.Unsqueeze(0) - mm.Unsqueeze(1); // (N, N, B, C)
        var closeness = Tensor.Exp(-Tensor.Abs(diff).Sum(3)); // (N, N, B)
        var o = closeness.Sum(0) - 1.0; // exp(0) = 1 for j = i
        return Tensor.Concat([x, o], 1);
    }
}
