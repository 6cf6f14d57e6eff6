using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// A small residual pair in the SNGAN style (Miyato et al. 2018), the kind ContraGAN, ReACGAN and ECOGAN
/// publish their contrastive heads with, for 28x28 (from 7x7) and 32x32 (from 8x8) images of any channel
/// count, <see cref="Width"/> channels throughout. G: Linear(z, W·s·s) → two up-blocks (BN → ReLU →
/// nearest ×2 → Conv3 → BN → ReLU → Conv3, plus nearest ×2 → Conv1 as the shortcut; batch norms
/// class-conditional when the pair is) → BN → ReLU → Conv3 → Tanh. D, spectrally normalised throughout and
/// without batch norm: an input block (Conv3 → ReLU → Conv3 → AvgPool2, shortcut AvgPool2 → Conv1), a
/// down-block (ReLU → Conv3 → ReLU → Conv3 → AvgPool2, shortcut Conv1 → AvgPool2), a plain block (ReLU →
/// Conv3 → ReLU → Conv3, identity shortcut), ReLU and a sum over positions, then the shared head
/// (projection or contrastive). Layers keep PyTorch's default initialisation.
/// </summary>
public sealed class ResnetSn : SquareImageArchitecture
{
    /// <summary>Channels of every block.</summary>
    public const int Width = 64;

    /// <inheritdoc />
    public override string Name => "resnet-sn";

    /// <inheritdoc />
    public override string Description => "a small SNGAN-style residual pair with a spectrally normalised discriminator (for the contrastive heads)";

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new ResnetSnGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) =>
        new ResnetSnDiscriminator(shape, options with { SpectralNorm = true, BatchNorm = false }, gen);
}

/// <summary>The <see cref="ResnetSn"/> generator.</summary>
public sealed class ResnetSnGenerator : GanGenerator
{
    private const int W = ResnetSn.Width;
    private readonly int _s;

    internal ResnetSnGenerator(GanShape shape, Generator gen) : base(shape)
    {
        _s = shape.Height / 4;
        RegisterModule("fc", new Linear(shape.LatentDim, W * _s * _s, gen));
        for (var b = 1; b <= 2; b++)
        {
            RegisterModule<Module>($"b{b}_bn1", Norm(shape, gen));
            RegisterModule($"b{b}_conv1", new Conv2d(W, W, 3, gen, padding: 1));
            RegisterModule<Module>($"b{b}_bn2", Norm(shape, gen));
            RegisterModule($"b{b}_conv2", new Conv2d(W, W, 3, gen, padding: 1));
            RegisterModule($"b{b}_skip", new Conv2d(W, W, 1, gen));
        }
        RegisterModule<Module>("bn_out", Norm(shape, gen));
        RegisterModule("conv_out", new Conv2d(W, shape.Channels, 3, gen, padding: 1));
    }

    private static Module Norm(GanShape shape, Generator gen) => shape.Conditional ? new ConditionalBatchNorm2d(W, shape.NumClasses, gen) : new BatchNorm2d(W);

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks =>
        [["fc"], ["b1_bn1", "b1_conv1", "b1_bn2", "b1_conv2", "b1_skip"], ["b2_bn1", "b2_conv1", "b2_bn2", "b2_conv2", "b2_skip"], ["bn_out", "conv_out"]];

    private Tensor Bn(string name, Tensor h, Tensor? labels) =>
        Shape.Conditional ? ((ConditionalBatchNorm2d)Child(name)).Forward(h, labels!) : Child(name).Forward(h);

    /// <inheritdoc />
    public override Tensor Forward(Tensor z, Tensor? labels)
    {
        CheckLabels(z, labels);
        var h = Child("fc").Forward(z).Reshape(-1, W, _s, _s);
        for (var b = 1; b <= 2; b++)
        {
            var r = F.UpsampleNearest(F.Relu(Bn($"b{b}_bn1", h, labels)), 2);
            r = Child($"b{b}_conv1").Forward(r);
            r = Child($"b{b}_conv2").Forward(F.Relu(Bn($"b{b}_bn2", r, labels)));
            h = r + Child($"b{b}_skip").Forward(F.UpsampleNearest(h, 2));
        }
        return F.Tanh(Child("conv_out").Forward(F.Relu(Bn("bn_out", h, labels))));
    }
}

/// <summary>The <see cref="ResnetSn"/> discriminator.</summary>
public sealed class ResnetSnDiscriminator : GanDiscriminator
{
    private const int W = ResnetSn.Width;

    internal ResnetSnDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
    {
        AddLayer("b1_conv1", new Conv2d(shape.Channels, W, 3, gen, padding: 1), gen);
        AddLayer("b1_conv2", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddLayer("b1_skip", new Conv2d(shape.Channels, W, 1, gen), gen);
        AddLayer("b2_conv1", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddLayer("b2_conv2", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddLayer("b2_skip", new Conv2d(W, W, 1, gen), gen);
        AddLayer("b3_conv1", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddLayer("b3_conv2", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddHead(W, gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks =>
        [["b1_conv1", "b1_conv2", "b1_skip"], ["b2_conv1", "b2_conv2", "b2_skip"], ["b3_conv1", "b3_conv2"], HeadNames];

    /// <inheritdoc />
    public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
    {
        var h = F.AvgPool2d(Child("b1_conv2").Forward(F.Relu(Child("b1_conv1").Forward(x))), 2) + Child("b1_skip").Forward(F.AvgPool2d(x, 2));
        h = F.AvgPool2d(Child("b2_conv2").Forward(F.Relu(Child("b2_conv1").Forward(F.Relu(h)))), 2) + F.AvgPool2d(Child("b2_skip").Forward(h), 2);
        h = Child("b3_conv2").Forward(F.Relu(Child("b3_conv1").Forward(F.Relu(h)))) + h;
        return Head(F.Relu(h).Sum([2, 3]), labels);
    }
}
