using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>BAGAN's discriminator: the autoencoder's encoder convolutions with a (K+1)-way head (the K
/// classes and "generated").</summary>
public sealed class BaganDiscriminator : Module
{
    /// <summary>A discriminator for <paramref name="shape"/>'s images and <paramref name="classes"/> classes.</summary>
    public BaganDiscriminator(GanShape shape, int classes, Generator gen)
    {
        RegisterModule("conv1", new Conv2d(shape.Channels, 64, 4, gen, stride: 2, padding: 1));
        RegisterModule("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1));
        RegisterModule("bn2", new BatchNorm2d(128));
        RegisterModule("head", new Linear(128 * (shape.Height / 4) * (shape.Width / 4), classes + 1, gen));
    }

    /// <summary>Logits (N, K+1); the last column is "generated".</summary>
    public override Tensor Forward(Tensor x)
    {
        var h = F.LeakyRelu(Child("conv1").Forward(x), 0.2);
        h = F.LeakyRelu(Child("bn2").Forward(Child("conv2").Forward(h)), 0.2).Flatten(1);
        return Child("head").Forward(h);
    }
}
