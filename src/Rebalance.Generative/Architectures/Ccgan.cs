using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>Batch norm without affine whose per-channel scale 1 + W_γ·a and shift W_β·a come from the
/// attributes a (N, k): the attributes enter every normalisation layer of the generator.</summary>
public sealed class AttributeBatchNorm2d : Module
{
    /// <summary>Creates the layer (the linear maps start at N(0, 0.02), so the scale starts near 1).</summary>
    public AttributeBatchNorm2d(int channels, int attributes, Generator gen)
    {
        Channels = channels;
        RegisterModule("bn", new BatchNorm2d(channels, affine: false));
        RegisterModule("gamma", new Linear(attributes, channels, gen));
        RegisterModule("beta", new Linear(attributes, channels, gen));
    }

    /// <summary>Channels.</summary>
    public int Channels { get; }

    /// <summary>Refused: the layer needs the attributes.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("AttributeBatchNorm2d needs the attributes: call Forward(x, attributes)");

    /// <summary>Normalises x (N, C, H, W) and applies the scale and shift of each image's attributes (N, k).</summary>
    public Tensor Forward(Tensor x, Tensor attributes)
    {
        var gamma = (Child("gamma").Forward(attributes) + 1.0).Reshape(-1, Channels, 1, 1);
        var beta = Child("beta").Forward(attributes).Reshape(-1, Channels, 1, 1);
        return (Child("bn").Forward(x) * gamma) + beta;
    }
}

/// <summary>
/// <c>ccgan</c>'s generator: G(z, a) for noise z and standardised attributes a. Linear(z ⊕ a) → BN → ReLU to
/// (w·2ⁿ⁻¹, ⌈H/2ⁿ⌉, ⌈W/2ⁿ⌉), then n stages of nearest-neighbour upsampling x2 → Conv 3x3 → attribute batch
/// norm → ReLU, halving the channels to w/2, then Conv 3x3 → Tanh, cropped to the centre H x W (n as
/// <see cref="Dcgan"/>: 2 up to 55 pixels). Upsampling and convolution instead of transposed convolutions,
/// as the galaxy study does against checkerboard artefacts.
/// </summary>
public sealed class CcganGenerator : Module
{
    private readonly int _n;
    private readonly int _w0;
    private readonly int _bh;
    private readonly int _bw;

    /// <summary>Creates the generator.</summary>
    public CcganGenerator(int channels, int height, int width, int latentDim, int attributes, int baseWidth, Generator gen)
    {
        (Channels, Height, Width, LatentDim, NumAttributes) = (channels, height, width, latentDim, attributes);
        _n = Dcgan.Stages(height, width);
        _w0 = baseWidth << (_n - 1);
        _bh = (height + (1 << _n) - 1) >> _n;
        _bw = (width + (1 << _n) - 1) >> _n;
        RegisterModule("fc", new Linear(latentDim + attributes, _w0 * _bh * _bw, gen));
        RegisterModule("bn0", new BatchNorm1d(_w0 * _bh * _bw));
        for (var i = 1; i <= _n; i++)
        {
            RegisterModule($"conv{i}", new Conv2d(_w0 >> (i - 1), _w0 >> i, 3, gen, padding: 1));
            RegisterModule($"norm{i}", new AttributeBatchNorm2d(_w0 >> i, attributes, gen));
        }
        RegisterModule("out", new Conv2d(_w0 >> _n, channels, 3, gen, padding: 1));
        DcganInit.Apply(this, gen);
    }

    /// <summary>Image channels.</summary>
    public int Channels { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>Noise size.</summary>
    public int LatentDim { get; }

    /// <summary>Attributes conditioned on.</summary>
    public int NumAttributes { get; }

    /// <summary>Refused: the generator needs the attributes.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("ccgan's generator needs noise and attributes: Forward(z, attributes)");

    /// <summary>Images (N, C, H, W) in [-1, 1] for noise (N, z) and standardised attributes (N, k).</summary>
    public Tensor Forward(Tensor z, Tensor attributes)
    {
        var h = F.Relu(Child("bn0").Forward(Child("fc").Forward(Tensor.Concat([z, attributes], 1)))).Reshape(-1, _w0, _bh, _bw);
        for (var i = 1; i <= _n; i++)
        {
            h = Child($"conv{i}").Forward(F.UpsampleNearest(h, 2));
            h = F.Relu(((AttributeBatchNorm2d)Child($"norm{i}")).Forward(h, attributes));
        }
        return SquareImageArchitecture.CentreCrop(F.Tanh(Child("out").Forward(h)), Height, Width);
    }
}

/// <summary>
/// <c>ccgan</c>'s discriminator: n stages Conv(4, stride 2) → [BN from the second] → LeakyReLU(0.2) (64, 128,
/// ... channels), flattened to features f; a real/fake head Linear(f ⊕ m) → 1, m the minibatch discrimination
/// features (Salimans et al. 2016) of a 128-wide projection of f when enabled, and a predictor head
/// Linear(f) → k regressing the standardised attributes.
/// </summary>
public sealed class CcganDiscriminator : Module
{
    private const int MinibatchInput = 128;
    private readonly int _n;
    private readonly bool _minibatch;

    /// <summary>Creates the discriminator.</summary>
    public CcganDiscriminator(int channels, int height, int width, int attributes, int baseWidth, int minibatchKernels, int minibatchKernelDim, Generator gen)
    {
        _n = Dcgan.Stages(height, width);
        for (var i = 1; i <= _n; i++)
        {
            RegisterModule($"conv{i}", new Conv2d(i == 1 ? channels : baseWidth << (i - 2), baseWidth << (i - 1), 4, gen, stride: 2, padding: 1));
            if (i > 1)
            {
                RegisterModule($"bn{i}", new BatchNorm2d(baseWidth << (i - 1)));
            }
        }
        var features = (baseWidth << (_n - 1)) * (height >> _n) * (width >> _n);
        _minibatch = minibatchKernels > 0;
        if (_minibatch)
        {
            RegisterModule("mbd_in", new Linear(features, MinibatchInput, gen));
            RegisterModule("mbd", new MinibatchDiscrimination(MinibatchInput, minibatchKernels, minibatchKernelDim, gen));
        }
        RegisterModule("adv", new Linear(features + (_minibatch ? MinibatchInput + minibatchKernels : 0), 1, gen));
        RegisterModule("predict", new Linear(features, attributes, gen));
        DcganInit.Apply(this, gen);
        if (_minibatch)
        {
            // N(0, 1) (the layer's own start) makes every image far from every other through 128 inputs, so
            // the closeness features start at exp(−large) = 0 with no gradient; 0.05 starts them informative.
            using (GradMode.NoGrad())
            {
                Child("mbd").NamedParameters(recurse: false).Single(p => p.Name == "T").Value.CopyFrom_(gen.Normal([MinibatchInput, minibatchKernels * minibatchKernelDim], 0, 0.05));
            }
        }
    }

    /// <summary>Refused: use <see cref="Score"/>.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("ccgan's discriminator has two heads: call Score(x)");

    /// <summary>(real/fake logit (N), predicted standardised attributes (N, k)) of images (N, C, H, W).</summary>
    public (Tensor Logit, Tensor Attributes) Score(Tensor x)
    {
        var h = x;
        for (var i = 1; i <= _n; i++)
        {
            h = Child($"conv{i}").Forward(h);
            if (i > 1)
            {
                h = Child($"bn{i}").Forward(h);
            }
            h = F.LeakyRelu(h, 0.2);
        }
        var f = h.Flatten(1);
        var adv = _minibatch ? Tensor.Concat([f, Child("mbd").Forward(Child("mbd_in").Forward(f))], 1) : f;
        return (Child("adv").Forward(adv).Reshape(-1), Child("predict").Forward(f));
    }
}
