using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// The reference <c>dcgan28</c> pair of DESIGN.md, for 28x28 (from 7x7) and 32x32 (from 8x8) images with
/// any channel count. G: Linear(z, 128·s·s) → BN → ReLU → (128, s, s) → ConvT(128, 64, 4, 2, 1) → BN →
/// ReLU → ConvT(64, C, 4, 2, 1) → Tanh. D: Conv(C, 64, 4, 2, 1) → LReLU(0.2) → Conv(64, 128, 4, 2, 1) →
/// [BN] → LReLU(0.2) → Flatten → Linear(128·s·s, 1). Conditional: a class embedding is appended to z
/// and the second batch norm is class-conditional; the discriminator adds a projection term.
/// </summary>
public sealed class Dcgan : SquareImageArchitecture
{
    /// <inheritdoc />
    public override string Name => "dcgan";

    /// <inheritdoc />
    public override string Description => "DCGAN with two stride-2 stages (the reference dcgan28 at 28x28; 32x32 starts from 8x8)";

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new DcganGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) => new DcganDiscriminator(shape, options, gen);
}

/// <summary>The <see cref="Dcgan"/> generator.</summary>
public sealed class DcganGenerator : GanGenerator
{
    private const int EmbedDim = 32;
    private readonly int _s;

    internal DcganGenerator(GanShape shape, Generator gen) : base(shape)
    {
        _s = shape.Height / 4;
        if (shape.Conditional)
        {
            RegisterModule("label_embed", new Embedding(shape.NumClasses, EmbedDim, gen));
        }
        RegisterModule("fc", new Linear(shape.LatentDim + (shape.Conditional ? EmbedDim : 0), 128 * _s * _s, gen));
        RegisterModule("bn0", new BatchNorm1d(128 * _s * _s));
        RegisterModule("up1", new ConvTranspose2d(128, 64, 4, gen, stride: 2, padding: 1));
        RegisterModule<Module>("bn1", shape.Conditional ? new ConditionalBatchNorm2d(64, shape.NumClasses, gen) : new BatchNorm2d(64));
        RegisterModule("up2", new ConvTranspose2d(64, shape.Channels, 4, gen, stride: 2, padding: 1));
        InitDcgan(gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks => Shape.Conditional
        ? [["label_embed", "fc", "bn0"], ["up1", "bn1"], ["up2"]]
        : [["fc", "bn0"], ["up1", "bn1"], ["up2"]];

    /// <inheritdoc />
    public override Tensor Forward(Tensor z, Tensor? labels)
    {
        CheckLabels(z, labels);
        if (Shape.Conditional)
        {
            z = Tensor.Concat([z, Child("label_embed").Forward(labels!)], 1);
        }
        var h = F.Relu(Child("bn0").Forward(Child("fc").Forward(z))).Reshape(-1, 128, _s, _s);
        h = Child("up1").Forward(h);
        h = F.Relu(Shape.Conditional ? ((ConditionalBatchNorm2d)Child("bn1")).Forward(h, labels!) : Child("bn1").Forward(h));
        return F.Tanh(Child("up2").Forward(h));
    }
}

/// <summary>The <see cref="Dcgan"/> discriminator.</summary>
public sealed class DcganDiscriminator : GanDiscriminator
{
    internal DcganDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
    {
        AddLayer("conv1", new Conv2d(shape.Channels, 64, 4, gen, stride: 2, padding: 1), gen);
        AddLayer("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1), gen);
        if (options.BatchNorm)
        {
            RegisterModule("bn2", new BatchNorm2d(128));
        }
        AddHead(128 * (shape.Height / 4) * (shape.Width / 4), gen);
        InitDcgan(gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks => [["conv1"], Options.BatchNorm ? ["conv2", "bn2"] : ["conv2"], HeadNames];

    /// <inheritdoc />
    public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
    {
        var h = Child("conv2").Forward(Act(Child("conv1").Forward(x)));
        if (Options.BatchNorm)
        {
            h = Child("bn2").Forward(h);
        }
        return Head(Act(h).Flatten(1), labels);
    }
}
