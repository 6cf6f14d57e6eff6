using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Adversarial;

/// <summary>BAGAN's loss terms (Mariani et al. 2018).</summary>
public static class BaganLosses
{
    /// <summary>The discriminator's: cross-entropy of real images against their class and of generated
    /// images against the extra class K ("generated"), each averaged over its batch, summed.</summary>
    public static Tensor Discriminator(Tensor realLogits, Tensor realLabels, Tensor fakeLogits)
    {
        var k = fakeLogits.Size(1) - 1;
        var fakeTarget = Tensor.Full([fakeLogits.Size(0)], k, DType.Int32);
        return F.CrossEntropy(realLogits, realLabels) + F.CrossEntropy(fakeLogits, fakeTarget);
    }

    /// <summary>The generator's: cross-entropy of its images against the class their codes were drawn for.</summary>
    public static Tensor Generator(Tensor fakeLogits, Tensor intendedLabels) => F.CrossEntropy(fakeLogits, intendedLabels);
}
