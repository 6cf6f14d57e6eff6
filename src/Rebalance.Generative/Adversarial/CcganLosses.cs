using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Adversarial;

/// <summary>
/// The galaxy study's losses for a GAN conditioned on continuous attributes, with ℓ²(ŷ, y) the predictor's
/// mean squared error over images and attributes (standardised): D (with its predictor head) minimises its
/// adversarial loss + λ·max(0, ℓ²(ŷ_real) − ℓ²(ŷ_fake)), so it predicts real images' attributes and is not
/// asked to predict those generated images were requested with better than real ones; G minimises its
/// adversarial loss + λ·ℓ²(ŷ_fake), so its images must show the attributes they were drawn for.
/// </summary>
public static class CcganLosses
{
    /// <summary>ℓ²: mean of (ŷ − y)² over every image and attribute.</summary>
    public static Tensor PredictorError(Tensor predicted, Tensor target)
    {
        if (!predicted.Shape.SequenceEqual(target.Shape))
        {
            throw new ArgumentException($"ccgan: predicted [{string.Join(", ", predicted.Shape)}] and requested [{string.Join(", ", target.Shape)}] attributes differ in shape");
        }
        var d = predicted - target;
        return (d * d).Mean();
    }

    /// <summary>D's loss: <paramref name="adversarial"/> + λ·max(0, ℓ²_real − ℓ²_fake).</summary>
    public static Tensor Discriminator(Tensor adversarial, Tensor errorReal, Tensor errorFake, double weight) =>
        adversarial + (F.Relu(errorReal - errorFake) * weight);

    /// <summary>G's loss: <paramref name="adversarial"/> + λ·ℓ²_fake.</summary>
    public static Tensor Generator(Tensor adversarial, Tensor errorFake, double weight) => adversarial + (errorFake * weight);
}
