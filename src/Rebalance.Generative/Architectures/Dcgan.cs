using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// The reference <c>dcgan28</c> pair of DESIGN.md, for images of any channel count and any size from 16 to
/// 128 pixels a side, square or not. The number of stride-2 stages n is 2 up to 55 pixels (the smaller side)
/// and one more each time the size doubles (n = max(2, ⌊log2(side/7)⌋)), so the generator starts from
/// ⌈H/2ⁿ⌉x⌈W/2ⁿ⌉, 7x7 at 28x28 and 8x8 at 32x32. G: Linear(z, w·bh·bw) → BN → ReLU → (w, bh, bw) → n − 1 times
/// ConvT(·, ·/2, 4, 2, 1) → BN → ReLU, ending at 64 channels → ConvT(64, C, 4, 2, 1) → Tanh, with
/// w = 64·2ⁿ⁻¹ (128 for n = 2); when 2ⁿ does not divide a side, the centre H x W of the output is kept. D:
/// Conv(C, 64, 4, 2, 1) → LReLU(0.2) → n − 1 times Conv(·, 2·, 4, 2, 1) → [BN] → LReLU(0.2) → Flatten →
/// Linear. At n = 2 this is exactly the reference pair. Conditional: a class embedding is appended to z and
/// the generator's inner batch norms are class-conditional; the discriminator adds a projection term.
/// </summary>
public sealed class Dcgan : SquareImageArchitecture
{
    /// <inheritdoc />
    public override string Name => "dcgan";

    /// <inheritdoc />
    public override string Description => "DCGAN with stride-2 stages (two up to 55 pixels, more for larger images; the reference dcgan28 at 28x28)";

    /// <inheritdoc />
    protected override (int Min, int Max)? SizeRange => (16, 128);

    /// <summary>Stride-2 stages for an image of <paramref name="height"/> x <paramref name="width"/>.</summary>
    public static int Stages(int height, int width) => Math.Max(2, (int)Math.Floor(Math.Log2(Math.Min(height, width) / 7.0)));

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new DcganGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) => new DcganDiscriminator(shape, options, gen);
}

/// <summary>The <see cref="Dcgan"/> generator.</summary>
public sealed class DcganGenerator : GanGenerator
{
    private const int EmbedDim = 32;
    private readonly int _n;
    private readonly int _w;
    private readonly int _bh;
    private readonly int _bw;

    internal DcganGenerator(GanShape shape, Generator gen) : base(shape)
    {
        _n = Dcgan.Stages(shape.Height, shape.Width);
        _w = 64 << (_n - 1);
        _bh = (shape.Height + (1 << _n) - 1) >> _n;
        _bw = (shape.Width + (1 << _n) - 1) >> _n;
        if (shape.Conditional)
        {
            RegisterModule("label_embed", new Embedding(shape.NumClasses, EmbedDim, gen));
        }
        RegisterModule("fc", new Linear(shape.LatentDim + (shape.Conditional ? EmbedDim : 0), _w * _bh * _bw, gen));
        RegisterModule("bn0", new BatchNorm1d(_w * _bh * _bw));
        for (var i = 1; i < _n; i++)
        {
            var width = _w >> i;
            RegisterModule($"up{i}", new ConvTranspose2d(width * 2, width, 4, gen, stride: 2, padding: 1));
            RegisterModule<Module>($"bn{i}", shape.Conditional ? new ConditionalBatchNorm2d(width, shape.NumClasses, gen) : new BatchNorm2d(width));
        }
        RegisterModule($"up{_n}", new ConvTranspose2d(64, shape.Channels, 4, gen, stride: 2, padding: 1));
        InitDcgan(gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks =>
        [Shape.Conditional ? ["label_embed", "fc", "bn0"] : ["fc", "bn0"], .. Enumerable.Range(1, _n - 1).Select(i => (string[])[$"up{i}", $"bn{i}"]), [$"up{_n}"]];

    /// <inheritdoc />
    public override Tensor Forward(Tensor z, Tensor? labels)
    {
        CheckLabels(z, labels);
        if (Shape.Conditional)
        {
            z = Tensor.Concat([z, Child("label_embed").Forward(labels!)], 1);
        }
        var h = F.Relu(Child("bn0").Forward(Child("fc").Forward(z))).Reshape(-1, _w, _bh, _bw);
        for (var i = 1; i < _n; i++)
        {
            h = Child($"up{i}").Forward(h);
            h = F.Relu(Shape.Conditional ? ((ConditionalBatchNorm2d)Child($"bn{i}")).Forward(h, labels!) : Child($"bn{i}").Forward(h));
        }
        return SquareImageArchitecture.CentreCrop(F.Tanh(Child($"up{_n}").Forward(h)), Shape.Height, Shape.Width);
    }
}

/// <summary>The <see cref="Dcgan"/> discriminator.</summary>
public sealed class DcganDiscriminator : GanDiscriminator
{
    private readonly int _n;

    internal DcganDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
    {
        _n = Dcgan.Stages(shape.Height, shape.Width);
        AddLayer("conv1", new Conv2d(shape.Channels, 64, 4, gen, stride: 2, padding: 1), gen);
        for (var i = 2; i <= _n; i++)
        {
            AddLayer($"conv{i}", new Conv2d(32 << (i - 1), 64 << (i - 1), 4, gen, stride: 2, padding: 1), gen);
            if (options.BatchNorm)
            {
                RegisterModule($"bn{i}", new BatchNorm2d(64 << (i - 1)));
            }
        }
        AddHead((64 << (_n - 1)) * (shape.Height >> _n) * (shape.Width >> _n), gen);
        InitDcgan(gen);
    }

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks =>
        [["conv1"], .. Enumerable.Range(2, _n - 1).Select(i => Options.BatchNorm ? (string[])[$"conv{i}", $"bn{i}"] : [$"conv{i}"]), HeadNames];

    /// <inheritdoc />
    public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
    {
        var h = Act(Child("conv1").Forward(x));
        for (var i = 2; i <= _n; i++)
        {
            h = Child($"conv{i}").Forward(h);
            if (Options.BatchNorm)
            {
                h = Child($"bn{i}").Forward(h);
            }
            h = Act(h);
        }
        return Head(h.Flatten(1), labels);
    }
}
