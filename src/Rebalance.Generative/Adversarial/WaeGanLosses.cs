using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Adversarial;

/// <summary>The adversarial stage of WAE-GAN and SCDL-GAN: a non-saturating GAN whose discriminator also
/// predicts the class (its last logit is real-against-generated, the first K the class).</summary>
public static class WaeGanLosses
{
    private static (Tensor Adversarial, Tensor Classes) Split(Tensor logits)
    {
        var k = logits.Size(1) - 1;
        return (logits.Slice(1, k, k + 1).Reshape(-1), logits.Slice(1, 0, k));
    }

    /// <summary>D: BCE(real → 1) + BCE(generated → 0) + CE(class of the real images).</summary>
    public static Tensor Discriminator(Tensor realLogits, Tensor realLabels, Tensor fakeLogits)
    {
        var (ar, cr) = Split(realLogits);
        var (af, _) = Split(fakeLogits);
        return F.BinaryCrossEntropyWithLogits(ar, Tensor.OnesLike(ar)) + F.BinaryCrossEntropyWithLogits(af, Tensor.ZerosLike(af)) + F.CrossEntropy(cr, realLabels);
    }

    /// <summary>G: BCE(generated → 1) + CE(the class of the image whose code it decoded).</summary>
    public static Tensor Generator(Tensor fakeLogits, Tensor sourceLabels)
    {
        var (af, cf) = Split(fakeLogits);
        return F.BinaryCrossEntropyWithLogits(af, Tensor.OnesLike(af)) + F.CrossEntropy(cf, sourceLabels);
    }
}
