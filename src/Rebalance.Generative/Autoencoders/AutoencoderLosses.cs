using Rebalance.Tensors;

namespace Rebalance.Generative.Autoencoders;

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
}
