using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>A network that grows during training: its current level (0 = 4x4, then one doubling of the
/// resolution per level) with a fractional part while the new level fades in. Kept in the buffer
/// "growth.value", so a saved network is used at the level it had reached.</summary>
public interface IProgressive
{
    /// <summary>Levels above 4x4 the full network has.</summary>
    int Levels { get; }

    /// <summary>The current level (a fraction while fading in).</summary>
    double Progress { get; }

    /// <summary>Sets the level (clamped to 0 ... <see cref="Levels"/>).</summary>
    void SetProgress(double level);
}

/// <summary>
/// ProGAN's schedule (Karras et al. 2018): the networks start at 4x4 for one phase, then each new level fades
/// in over one phase (its weight α rising linearly from 0 to 1 with the images shown) and is trained on its
/// own for another phase; after the last level the networks stay fully grown. A phase is
/// <c>progan_phase</c> images (the paper's 800,000, far smaller here). The level is a function of the images
/// shown, so a run resumed mid-phase continues exactly.
/// </summary>
public static class ProganSchedule
{
    /// <summary>The level after <paramref name="images"/> images, for phases of <paramref name="phaseImages"/>
    /// images and a network of <paramref name="levels"/> levels above 4x4.</summary>
    public static double Level(long images, long phaseImages, int levels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(phaseImages);
        var phase = images / phaseImages;
        if (phase == 0)
        {
            return 0;
        }
        var level = (phase + 1) / 2;
        if (level > levels)
        {
            return levels;
        }
        // Odd phases fade level k in; even ones train it on its own.
        return phase % 2 == 1 ? level - 1 + ((images - (phase * phaseImages)) / (double)phaseImages) : level;
    }
}

/// <summary>
/// <c>progan</c>: the progressive-growing pair of Karras et al. 2018 ("Progressive growing of GANs for
/// improved quality, stability, and variation"), for any channel count and any size from 16 to 128 pixels a
/// side: the networks grow from 4x4 to R, the smallest power of 2 that holds the image, the generator's
/// output cropped to its centre and the discriminator's input padded to R with zeros (real and generated
/// alike). Every layer has the equalised learning rate (weights N(0, 1) scaled by He's constant at use),
/// the generator pixel-wise feature normalisation after every convolution (and on its input) and a linear
/// output, the discriminator a minibatch standard deviation channel before its last block and no
/// normalisation. New levels fade in (see <see cref="ProganSchedule"/>): G blends the upsampled output of
/// the level below, D the downsampled input of the level below. Channels: min(128, 4096 / resolution) per
/// level (the paper's 512 at low resolution, scaled to fit a CPU). Conditional pairs append a class
/// embedding to the latent code and use the projection head. The paper's recipe (WGAN-GP with the drift
/// term ε·E[D(x)²], ε = 0.001, one critic step, Adam 1e-3 with β (0, 0.99)) is the default when
/// <c>arch: progan</c> is chosen.
/// </summary>
public sealed class Progan : SquareImageArchitecture
{
    /// <inheritdoc />
    public override string Name => "progan";

    /// <inheritdoc />
    public override string Description => "ProGAN: progressive growing from 4x4 with fade-in, equalised learning rate, pixel norm, minibatch standard deviation";

    /// <inheritdoc />
    protected override (int Min, int Max)? SizeRange => (16, 128);

    /// <summary>The side the networks grow to: the smallest power of 2 at least the larger side.</summary>
    public static int Resolution(int height, int width)
    {
        var r = 4;
        while (r < Math.Max(height, width))
        {
            r *= 2;
        }
        return r;
    }

    /// <summary>Levels above 4x4.</summary>
    public static int Levels(int height, int width) => (int)Math.Round(Math.Log2(Resolution(height, width))) - 2;

    /// <summary>The channel cap when a shape gives none.</summary>
    public const int DefaultMaxChannels = 128;

    /// <summary>Channels at level <paramref name="k"/> (resolution 4·2^k): min(cap, 4096 / resolution), the cap
    /// <see cref="GanShape.MaxChannels"/> or <see cref="DefaultMaxChannels"/>.</summary>
    public static int Channels(int k, int maxChannels = 0) => Math.Min(maxChannels > 0 ? maxChannels : DefaultMaxChannels, 4096 >> (k + 2));

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new ProganGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen)
    {
        if (options.SpectralNorm)
        {
            throw new ArgumentException("GAN architecture 'progan' scales its weights by the equalised learning rate; spectral_norm would fight it (leave it off)");
        }
        return new ProganDiscriminator(shape, options, gen);
    }

    /// <summary>(level on top, its fade-in weight α) for a progress value.</summary>
    internal static (int Top, double Alpha) Split(double progress)
    {
        var top = (int)Math.Ceiling(progress - 1e-9);
        var alpha = top == 0 ? 1 : progress - (top - 1);
        return (top, Math.Clamp(alpha, 0, 1));
    }

}

/// <summary>The level a progressive network has grown to, as a module holding one buffer ("value"), so it is
/// saved, loaded, copied by the moving average and transferred with the network's weights.</summary>
internal sealed class GrowthState : Module
{
    private readonly int _levels;

    public GrowthState(int levels)
    {
        _levels = levels;
        RegisterBuffer("value", Tensor.Zeros([1]));
    }

    public int Levels => _levels;

    public double Value => Buffer("value")!.ToFloatArray()[0];

    public void Set(double level)
    {
        using (GradMode.NoGrad())
        {
            Buffer("value")!.CopyFrom_(Tensor.Full([1], Math.Clamp(level, 0, _levels)));
        }
    }

    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("GrowthState holds a level; it has no forward pass");
}

/// <summary>The <see cref="Progan"/> generator.</summary>
public sealed class ProganGenerator : GanGenerator, IProgressive
{
    private const int EmbedDim = 32;
    private readonly int _levels;
    private readonly int _resolution;

    internal ProganGenerator(GanShape shape, Generator gen) : base(shape)
    {
        _levels = Progan.Levels(shape.Height, shape.Width);
        _resolution = Progan.Resolution(shape.Height, shape.Width);
        RegisterModule("growth", new GrowthState(_levels));
        if (shape.Conditional)
        {
            RegisterModule("label_embed", new Embedding(shape.NumClasses, EmbedDim, gen));
        }
        var c0 = Progan.Channels(0, shape.MaxChannels);
        RegisterModule("fc", EqualizedLr.Apply(new Linear(shape.LatentDim + (shape.Conditional ? EmbedDim : 0), c0 * 16, gen), gen));
        RegisterModule("conv0", EqualizedLr.Apply(new Conv2d(c0, c0, 3, gen, padding: 1), gen));
        RegisterModule("rgb0", EqualizedLr.Apply(new Conv2d(c0, shape.Channels, 1, gen), gen, gain: 1));
        for (var k = 1; k <= _levels; k++)
        {
            RegisterModule($"up{k}a", EqualizedLr.Apply(new Conv2d(Progan.Channels(k - 1, shape.MaxChannels), Progan.Channels(k, shape.MaxChannels), 3, gen, padding: 1), gen));
            RegisterModule($"up{k}b", EqualizedLr.Apply(new Conv2d(Progan.Channels(k, shape.MaxChannels), Progan.Channels(k, shape.MaxChannels), 3, gen, padding: 1), gen));
            RegisterModule($"rgb{k}", EqualizedLr.Apply(new Conv2d(Progan.Channels(k, shape.MaxChannels), shape.Channels, 1, gen), gen, gain: 1));
        }
    }

    /// <inheritdoc />
    public int Levels => _levels;

    /// <inheritdoc />
    public double Progress => ((GrowthState)Child("growth")).Value;

    /// <inheritdoc />
    public void SetProgress(double level) => ((GrowthState)Child("growth")).Set(level);

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks =>
        [Shape.Conditional ? ["label_embed", "fc", "conv0", "rgb0"] : ["fc", "conv0", "rgb0"], .. Enumerable.Range(1, _levels).Select(k => (string[])[$"up{k}a", $"up{k}b", $"rgb{k}"])];

    private static Tensor Act(Tensor x) => NnFunctional.PixelNorm(F.LeakyRelu(x, 0.2));

    /// <inheritdoc />
    public override Tensor Forward(Tensor z, Tensor? labels)
    {
        CheckLabels(z, labels);
        if (Shape.Conditional)
        {
            z = Tensor.Concat([z, Child("label_embed").Forward(labels!)], 1);
        }
        var n = z.Size(0);
        var c0 = Progan.Channels(0, Shape.MaxChannels);
        var h = Act(Child("fc").Forward(NnFunctional.PixelNorm(z)).Reshape(n, c0, 4, 4));
        h = Act(Child("conv0").Forward(h));
        var (top, alpha) = Progan.Split(Progress);
        var previous = h;
        for (var k = 1; k <= top; k++)
        {
            previous = h;
            h = Act(Child($"up{k}a").Forward(F.UpsampleNearest(h, 2)));
            h = Act(Child($"up{k}b").Forward(h));
        }
        var image = Child($"rgb{top}").Forward(h);
        if (top > 0 && alpha < 1)
        {
            // Fade-in: blend with the level below, upsampled.
            image = (image * alpha) + (F.UpsampleNearest(Child($"rgb{top - 1}").Forward(previous), 2) * (1 - alpha));
        }
        var side = 4 << top;
        if (side < _resolution)
        {
            image = F.UpsampleNearest(image, _resolution / side);
        }
        return SquareImageArchitecture.CentreCrop(image, Shape.Height, Shape.Width);
    }
}

/// <summary>The <see cref="Progan"/> discriminator.</summary>
public sealed class ProganDiscriminator : GanDiscriminator, IProgressive
{
    private readonly int _levels;
    private readonly int _resolution;

    internal ProganDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
    {
        _levels = Progan.Levels(shape.Height, shape.Width);
        _resolution = Progan.Resolution(shape.Height, shape.Width);
        RegisterModule("growth", new GrowthState(_levels));
        for (var k = 0; k <= _levels; k++)
        {
            RegisterModule($"rgb{k}", EqualizedLr.Apply(new Conv2d(shape.Channels, Progan.Channels(k, shape.MaxChannels), 1, gen), gen));
        }
        for (var k = _levels; k >= 1; k--)
        {
            RegisterModule($"down{k}a", EqualizedLr.Apply(new Conv2d(Progan.Channels(k, shape.MaxChannels), Progan.Channels(k, shape.MaxChannels), 3, gen, padding: 1), gen));
            RegisterModule($"down{k}b", EqualizedLr.Apply(new Conv2d(Progan.Channels(k, shape.MaxChannels), Progan.Channels(k - 1, shape.MaxChannels), 3, gen, padding: 1), gen));
        }
        var c0 = Progan.Channels(0, shape.MaxChannels);
        RegisterModule("conv0", EqualizedLr.Apply(new Conv2d(c0 + 1, c0, 3, gen, padding: 1), gen));
        RegisterModule("conv4", EqualizedLr.Apply(new Conv2d(c0, c0, 4, gen), gen));
        AddHead(c0, gen);
        EqualizedLr.Apply(Child("fc"), gen, gain: 1);
    }

    /// <inheritdoc />
    public int Levels => _levels;

    /// <inheritdoc />
    public double Progress => ((GrowthState)Child("growth")).Value;

    /// <inheritdoc />
    public void SetProgress(double level) => ((GrowthState)Child("growth")).Set(level);

    /// <inheritdoc />
    public override IReadOnlyList<string[]> Blocks =>
        [.. Enumerable.Range(0, _levels + 1).Reverse().Select(k => k == 0 ? (string[])["rgb0"] : [$"rgb{k}", $"down{k}a", $"down{k}b"]), ["conv0", "conv4"], HeadNames];

    /// <summary>Images padded to R x R with zeros, centred.</summary>
    private Tensor PadToResolution(Tensor x)
    {
        var (n, c, h, w) = (x.Size(0), x.Size(1), x.Size(2), x.Size(3));
        if (h < _resolution)
        {
            var top = (_resolution - h) / 2;
            x = Tensor.Concat([Tensor.Zeros([n, c, top, w], x.DType), x, Tensor.Zeros([n, c, _resolution - h - top, w], x.DType)], 2);
        }
        if (w < _resolution)
        {
            var left = (_resolution - w) / 2;
            x = Tensor.Concat([Tensor.Zeros([n, c, _resolution, left], x.DType), x, Tensor.Zeros([n, c, _resolution, _resolution - w - left], x.DType)], 3);
        }
        return x;
    }

    /// <inheritdoc />
    public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
    {
        x = PadToResolution(x);
        var (top, alpha) = Progan.Split(Progress);
        var side = 4 << top;
        if (side < _resolution)
        {
            x = F.AvgPool2d(x, _resolution / side);
        }
        var h = Act(Child($"rgb{top}").Forward(x));
        for (var k = top; k >= 1; k--)
        {
            h = Act(Child($"down{k}a").Forward(h));
            h = F.AvgPool2d(Act(Child($"down{k}b").Forward(h)), 2);
            if (k == top && alpha < 1)
            {
                // Fade-in: blend with the level below fed the downsampled input.
                h = (h * alpha) + (Act(Child($"rgb{k - 1}").Forward(F.AvgPool2d(x, 2))) * (1 - alpha));
            }
        }
        // Groups of 4 as the paper, or the largest that divides an odd batch.
        var n = h.Size(0);
        h = NnFunctional.MinibatchStdDev(h, n % 4 == 0 ? 4 : n % 2 == 0 ? 2 : 1);
        h = Act(Child("conv0").Forward(h));
        h = Act(Child("conv4").Forward(h));
        return Head(h.Flatten(1), labels);
    }
}
