using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// The "Atienza" pair SMate ships (from Rowel Atienza's "GAN by example using Keras" DCGAN for MNIST), for
/// 28x28 images of any channel count, unconditional. G: Dense(z, 256·7·7) → BN → ReLU → (256, 7, 7) →
/// Dropout(0.4) → Upsample×2 → ConvT(256, 128, 5) → BN → ReLU → Upsample×2 → ConvT(128, 64, 5) → BN → ReLU →
/// ConvT(64, 32, 5) → BN → ReLU → ConvT(32, C, 5) → Sigmoid, all "same" (stride 1). D: Conv(C, 64, 5, stride
/// 2) → LReLU(0.2) → Dropout(0.4) → Conv(64, 128, 5, stride 2) → LReLU → Dropout → Conv(128, 256, 5, stride
/// 2) → LReLU → Dropout → Conv(256, 512, 5) → LReLU → Dropout → Flatten → Dense(8192, 1) (the sigmoid is the
/// loss's). Keras batch norm (momentum 0.9, i.e. 0.1 here; ε 1e-3) and initialisation (Glorot-uniform, zero
/// biases). Atienza's images are in [0, 1]; here the sigmoid's output is mapped to [-1, 1] (2σ − 1), the
/// same model on the data range the rest of Rebalance uses.
/// </summary>
public sealed class Atienza : SquareImageArchitecture
{
    /// <inheritdoc />
    public override string Name => "atienza";

    /// <inheritdoc />
    public override string Description => "SMate's unconditional \"Atienza\" pair (Atienza's Keras MNIST DCGAN), 28x28";

    /// <inheritdoc />
    protected override int[] Sizes => [28];

    /// <inheritdoc />
    public override bool SupportsConditional => false;

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new AtienzaGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) =>
        new AtienzaDiscriminator(shape, options with { BatchNorm = false }, gen);
}

/// <summary>The <see cref="Atienza"/> generator.</summary>
public sealed class AtienzaGenerator : GanGenerator
{
    internal AtienzaGenerator(GanShape shape, Generator gen) : base(shape)
    {
        RegisterModule("fc", new Linear(shape.LatentDim, 256 * 7 * 7, gen));
        RegisterModule("bn0", new BatchNorm1d(256 * 7 * 7, eps: 1e-3));
        RegisterModule("drop", new Dropout(0.4, new Generator(gen.NextUInt64())));
        RegisterModule("ct1", new ConvTranspose2d(256, 128, 5, gen, padding: 2));
        RegisterModule("bn1", new BatchNorm2d(128, eps: 1e-3));
        RegisterModule("ct2", new ConvTranspose2d(128, 64, 5, gen, padding: 2));
        RegisterModule("bn2", new BatchNorm2d(64, eps: 1e-3));
        RegisterModule("ct3", new ConvTranspose2d(64, 32, 5, gen, padding: 2));
        RegisterModule("bn3", new BatchNorm2d(32, eps: 1e-3));
        RegisterModule("ct4", new ConvTranspose2d(32, shape.Channels, 5, gen, padding: 2));
        KerasInit.Apply(this, gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks => [["fc", "bn0", "drop"], ["ct1", "bn1"], ["ct2", "bn2"], ["ct3", "bn3"], ["ct4"]];

    /// <inheritdoc />
    public override Tensor Forward(Tensor z, Tensor? labels)
    {
        CheckLabels(z, labels);
        var h = F.Relu(Child("bn0").Forward(Child("fc").Forward(z))).Reshape(-1, 256, 7, 7);
        h = F.UpsampleNearest(Child("drop").Forward(h), 2);
        h = F.UpsampleNearest(F.Relu(Child("bn1").Forward(Child("ct1").Forward(h))), 2);
        h = F.Relu(Child("bn2").Forward(Child("ct2").Forward(h)));
        h = F.Relu(Child("bn3").Forward(Child("ct3").Forward(h)));
        return (F.Sigmoid(Child("ct4").Forward(h)) * 2.0) - 1.0;
    }
}

/// <summary>The <see cref="Atienza"/> discriminator.</summary>
public sealed class AtienzaDiscriminator : GanDiscriminator
{
    private static readonly string[] Convs = ["conv1", "conv2", "conv3", "conv4"];

    internal AtienzaDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
    {
        int[] widths = [shape.Channels, 64, 128, 256, 512];
        for (var i = 0; i < 4; i++)
        {
            AddLayer(Convs[i], new Conv2d(widths[i], widths[i + 1], 5, gen, stride: i < 3 ? 2 : 1, padding: 2), gen);
            RegisterModule($"drop{i + 1}", new Dropout(0.4, new Generator(gen.NextUInt64())));
        }
        AddHead(512 * 4 * 4, gen);
        KerasInit.Apply(this, gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks => [["conv1", "drop1"], ["conv2", "drop2"], ["conv3", "drop3"], ["conv4", "drop4"], HeadNames];

    /// <inheritdoc />
    public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
    {
        var h = x;
        for (var i = 0; i < 4; i++)
        {
            h = Child($"drop{i + 1}").Forward(Act(Child(Convs[i]).Forward(h)));
        }
        return Head(h.Flatten(1), labels);
    }
}
