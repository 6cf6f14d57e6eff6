using Rebalance.Tensors;

namespace Rebalance.Generative.Latent;

/// <summary>Loss terms of the autoencoder family, each a scalar averaged over the batch.</summary>
public static class AutoencoderLosses
{
    /// <summary>Reconstruction terms: binary cross-entropy or squared error, on pixels mapped to [0, 1].</summary>
    public static IReadOnlyList<string> ReconstructionKinds { get; } = ["bce", "mse"];

    /// <summary>
    /// KL(N(μ, diag σ²) ‖ N(0, I)) of the VAE (Kingma and Welling 2014, appendix B):
    /// −½ Σⱼ (1 + log σⱼ² − μⱼ² − σⱼ²), summed over the latent dimensions and averaged over the batch.
    /// </summary>
    public static Tensor GaussianKl(Tensor mu, Tensor logVar)
    {
        var perDim = 1.0 + logVar - (mu * mu) - Tensor.Exp(logVar);
        return perDim.Sum(1).Mean() * -0.5;
    }

    /// <summary>
    /// Reconstruction error of images in [−1, 1] (the decoder's tanh range), summed over pixels and averaged
    /// over the batch: <c>bce</c> is the Bernoulli negative log-likelihood of the VAE paper's MNIST
    /// experiments on values mapped to [0, 1] (the reconstruction clamped to [1e−6, 1 − 1e−6]), <c>mse</c> the
    /// squared error on the same [0, 1] values.
    /// </summary>
    public static Tensor Reconstruction(Tensor reconstruction, Tensor target, string kind)
    {
        var r = (reconstruction + 1.0) * 0.5;
        var x = (target.Detach() + 1.0) * 0.5;
        var n = reconstruction.Size(0);
        switch (kind)
        {
            case "bce":
                var rc = Tensor.Clamp(r, 1e-6, 1 - 1e-6);
                var nll = -((x * Tensor.Log(rc)) + ((1.0 - x) * Tensor.Log(1.0 - rc)));
                return nll.Reshape(n, -1).Sum(1).Mean();
            case "mse":
                var d = r - x;
                return (d * d).Reshape(n, -1).Sum(1).Mean();
            default:
                throw new ArgumentException($"reconstruction '{kind}': expected one of {string.Join(", ", ReconstructionKinds)}");
        }
    }

    /// <summary>
    /// DeepSMOTE's penalty (Dablain, Krawczyk and Chawla 2022, section III-C): within a batch of one class,
    /// the codes are put in another order and decoded, and each decoding is compared with the image in the
    /// original order, so that the decoder learns to make an image of the class from a neighbouring code,
    /// which is what latent SMOTE asks of it. Given the decodings of the codes in batch order and the images
    /// permuted, this is the reconstruction error between them (equal, summed over the batch, to decoding
    /// the permuted codes against the images in order). The authors' released code permutes images and
    /// codes alike, which makes the term a second reconstruction loss; this follows the paper.
    /// </summary>
    public static Tensor PermutationPenalty(Tensor decodedInOrder, Tensor imagesPermuted, string kind) =>
        Reconstruction(decodedInOrder, imagesPermuted, kind);

    /// <summary>The scales of the inverse multiquadratic kernel's constant, after the WAE authors' code:
    /// C = 2·d·σ²·s for each s, summed.</summary>
    public static IReadOnlyList<double> ImqScales { get; } = [0.1, 0.2, 0.5, 1, 2, 5, 10];

    /// <summary>
    /// The unbiased MMD² between codes <paramref name="z"/> and prior draws <paramref name="prior"/> (both
    /// (n, d), n ≥ 2) under the inverse multiquadratic kernel k(a, b) = C / (C + ‖a − b‖²) of WAE-MMD
    /// (Tolstikhin, Bousquet, Gelly and Schölkopf 2018, section 4 and appendix), summed over
    /// C = 2·d·σ²·s for the scales s of <see cref="ImqScales"/>, with prior variance σ² = 1:
    /// Σ_{i≠j} k(z_i, z_j) / n(n−1) + Σ_{i≠j} k(p_i, p_j) / n(n−1) − 2 Σ_{i,j} k(z_i, p_j) / n².
    /// </summary>
    public static Tensor ImqMmd(Tensor z, Tensor prior)
    {
        var n = z.Size(0);
        var d = z.Size(1);
        if (n < 2 || prior.Size(0) != n || prior.Size(1) != d)
        {
            throw new ArgumentException($"MMD: expected two (n, d) batches with n of at least 2, got ({n}, {d}) and ({prior.Size(0)}, {prior.Size(1)})");
        }
        var zz = SquaredDistances(z, z);
        var pp = SquaredDistances(prior, prior);
        var zp = SquaredDistances(z, prior);
        var offDiagonal = 1.0 - Tensor.Eye(n, dtype: z.DType);
        Tensor? total = null;
        foreach (var s in ImqScales)
        {
            var c = 2.0 * d * s;
            var same = ((c / (zz + c)) * offDiagonal).Sum() + ((c / (pp + c)) * offDiagonal).Sum();
            var term = (same / (n * (n - 1.0))) - ((c / (zp + c)).Sum() * (2.0 / ((double)n * n)));
            total = total is null ? term : total + term;
        }
        return total!;
    }

    /// <summary>‖a_i − b_j‖² for every pair, (n, m).</summary>
    private static Tensor SquaredDistances(Tensor a, Tensor b)
    {
        var na = (a * a).Sum(1, keepDim: true);
        var nb = (b * b).Sum(1, keepDim: true).T();
        return Tensor.Clamp(na + nb - (Tensor.MatMul(a, b.T()) * 2.0), 0);
    }
}
