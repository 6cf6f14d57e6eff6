using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// A small residual pair in the SNGAN style (Miyato et al. 2018), the kind ContraGAN, ReACGAN and ECOGAN
/// publish their contrastive heads with, for images of any channel count and any size from 16 to 128 pixels
/// a side (n up- and down-blocks as <see cref="Dcgan"/>'s stages: two at 28x28, from 7x7, and 32x32, from 8x8;
/// the centre kept where 2ⁿ does not divide a side), <see cref="Width"/> channels throughout. G: Linear(z, W·bh·bw) → n up-blocks (BN → ReLU →
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
    protected override (int Min, int Max)? SizeRange => (16, 128);

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
    private readonly int _n;
    private readonly int _bh;
    private readonly int _bw;

    internal ResnetSnGenerator(GanShape shape, Generator gen) : base(shape)
    {
        _n = Dcgan.Stages(shape.Height, shape.Width);
        _bh = (shape.Height + (1 << _n) - 1) >> _n;
        _bw = (shape.Width + (1 << _n) - 1) >> _n;
        RegisterModule("fc", new Linear(shape.LatentDim, W * _bh * _bw, gen));
        for (var b = 1; b <= _n; b++)
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
        [["fc"], .. Enumerable.Range(1, _n).Select(b => (string[])[$"b{b}_bn1", $"b{b}_conv1", $"b{b}_bn2", $"b{b}_conv2", $"b{b}_skip"]), ["bn_out", "conv_out"]];

    private Tensor Bn(string name, Tensor h, Tensor? labels) =>
        Shape.Conditional ? ((ConditionalBatchNorm2d)Child(name)).Forward(h, labels!) : Child(name).Forward(h);

    /// <inheritdoc />
    public override Tensor Forward(Tensor z, Tensor? labels)
    {
        CheckLabels(z, labels);
        var h = Child("fc").Forward(z).Reshape(-1, W, _bh, _bw);
        for (var b = 1; b <= _n; b++)
        {
            var r = F.UpsampleNearest(F.Relu(Bn($"b{b}_bn1", h, labels)), 2);
            r = Child($"b{b}_conv1").Forward(r);
            r = Child($"b{b}_conv2").Forward(F.Relu(Bn($"b{b}_bn2", r, labels)));
            h = r + Child($"b{b}_skip").Forward(F.UpsampleNearest(h, 2));
        }
        return SquareImageArchitecture.CentreCrop(F.Tanh(Child("conv_out").Forward(F.Relu(Bn("bn_out", h, labels)))), Shape.Height, Shape.Width);
    }
}

/// <summary>The <see cref="ResnetSn"/> discriminator.</summary>
public sealed class ResnetSnDiscriminator : GanDiscriminator
{
    private const int W = ResnetSn.Width;

    private readonly int _n;

    internal ResnetSnDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
    {
        _n = Dcgan.Stages(shape.Height, shape.Width);
        AddLayer("b1_conv1", new Conv2d(shape.Channels, W, 3, gen, padding: 1), gen);
        AddLayer("b1_conv2", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddLayer("b1_skip", new Conv2d(shape.Channels, W, 1, gen), gen);
        for (var b = 2; b <= _n; b++)
        {
            AddLayer($"b{b}_conv1", new Conv2d(W, W, 3, gen, padding: 1), gen);
            AddLayer($"b{b}_conv2", new Conv2d(W, W, 3, gen, padding: 1), gen);
            AddLayer($"b{b}_skip", new Conv2d(W, W, 1, gen), gen);
        }
        AddLayer($"b{_n + 1}_conv1", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddLayer($"b{_n + 1}_conv2", new Conv2d(W, W, 3, gen, padding: 1), gen);
        AddHead(W, gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks =>
        [.. Enumerable.Range(1, _n).Select(b => (string[])[$"b{b}_conv1", $"b{b}_conv2", $"b{b}_skip"]), [$"b{_n + 1}_conv1", $"b{_n + 1}_conv2"], HeadNames];

    /// <inheritdoc />
    public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
    {
        var h = F.AvgPool2d(Child("b1_conv2").Forward(F.Relu(Child("b1_conv1").Forward(x))), 2) + Child("b1_skip").Forward(F.AvgPool2d(x, 2));
        for (var b = 2; b <= _n; b++)
        {
            h = F.AvgPool2d(Child($"b{b}_conv2").Forward(F.Relu(Child($"b{b}_conv1").Forward(F.Relu(h)))), 2) + F.AvgPool2d(Child($"b{b}_skip").Forward(h), 2);
        }
        h = Child($"b{_n + 1}_conv2").Forward(F.Relu(Child($"b{_n + 1}_conv1").Forward(F.Relu(h)))) + h;
        return Head(F.Relu(h).Sum([2, 3]), labels);
    }
}
