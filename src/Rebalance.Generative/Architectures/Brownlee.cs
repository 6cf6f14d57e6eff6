using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// The "Brownlee" pair SMate ships (from Jason Brownlee's Keras tutorial GAN for CIFAR-10 photographs), for
/// 32x32 images of any channel count, unconditional. G: Dense(z, 256·4·4) → LReLU(0.2) → (256, 4, 4) → three
/// times ConvT(·, 128, 4, stride 2) → LReLU(0.2) → Conv(128, C, 3) → Tanh. D: Conv(C, 64, 3) → LReLU(0.2)
/// → Conv(64, 128, 3, stride 2) → LReLU → Conv(128, 128, 3, stride 2) → LReLU → Conv(128, 256, 3, stride 2)
/// → LReLU → Flatten → Dropout(0.4) → Dense(4096, 1) (the sigmoid is the loss's). Keras's initialisation
/// (Glorot-uniform, zero biases). Keras pads a stride-2 "same" convolution of an even size on the bottom
/// and right only; these layers pad one pixel on every side, which gives the same sizes.
/// </summary>
public sealed class Brownlee : SquareImageArchitecture
{
    /// <inheritdoc />
    public override string Name => "brownlee";

    /// <inheritdoc />
    public override string Description => "SMate's unconditional \"Brownlee\" pair (Brownlee's Keras CIFAR-10 GAN), 32x32";

    /// <inheritdoc />
    protected override int[] Sizes => [32];

    /// <inheritdoc />
    public override bool SupportsConditional => false;

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new BrownleeGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) =>
        new BrownleeDiscriminator(shape, options with { BatchNorm = false }, gen);
}

/// <summary>The <see cref="Brownlee"/> generator.</summary>
public sealed class BrownleeGenerator : GanGenerator
{
    internal BrownleeGenerator(GanShape shape, Generator gen) : base(shape)
    {
        RegisterModule("fc", new Linear(shape.LatentDim, 256 * 4 * 4, gen));
        RegisterModule("up1", new ConvTranspose2d(256, 128, 4, gen, stride: 2, padding: 1));
        RegisterModule("up2", new ConvTranspose2d(128, 128, 4, gen, stride: 2, padding: 1));
        RegisterModule("up3", new ConvTranspose2d(128, 128, 4, gen, stride: 2, padding: 1));
        RegisterModule("out", new Conv2d(128, shape.Channels, 3, gen, padding: 1));
        KerasInit.Apply(this, gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks => [["fc"], ["up1"], ["up2"], ["up3"], ["out"]];

    /// <inheritdoc />
    public override Tensor Forward(Tensor z, Tensor? labels)
    {
        CheckLabels(z, labels);
        var h = F.LeakyRelu(Child("fc").Forward(z), 0.2).Reshape(-1, 256, 4, 4);
        foreach (var up in (string[])["up1", "up2", "up3"])
        {
            h = F.LeakyRelu(Child(up).Forward(h), 0.2);
        }
        return F.Tanh(Child("out").Forward(h));
    }
}

/// <summary>The <see cref="Brownlee"/> discriminator.</summary>
public sealed class BrownleeDiscriminator : GanDiscriminator
{
    internal BrownleeDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
    {
        AddLayer("conv1", new Conv2d(shape.Channels, 64, 3, gen, padding: 1), gen);
        AddLayer("conv2", new Conv2d(64, 128, 3, gen, stride: 2, padding: 1), gen);
        AddLayer("conv3", new Conv2d(128, 128, 3, gen, stride: 2, padding: 1), gen);
        AddLayer("conv4", new Conv2d(128, 256, 3, gen, stride: 2, padding: 1), gen);
        RegisterModule("drop", new Dropout(0.4, new Generator(gen.NextUInt64())));
        AddHead(256 * 4 * 4, gen);
        KerasInit.Apply(this, gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks => [["conv1"], ["conv2"], ["conv3"], ["conv4"], ["drop", .. HeadNames]];

    /// <inheritdoc />
    public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
    {
        var h = x;
        foreach (var conv in (string[])["conv1", "conv2", "conv3", "conv4"])
        {
            h = Act(Child(conv).Forward(h));
        }
        return Head(Child("drop").Forward(h.Flatten(1)), labels);
    }
}
