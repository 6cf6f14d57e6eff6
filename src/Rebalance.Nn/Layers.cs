using System.Globalization;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Nn;

/// <summary>y = x Wᵀ + b. Parameters "weight" (out, in) and "bias" (out), initialised as PyTorch does.</summary>
public sealed class Linear : Module
{
    /// <summary>Creates the layer; <paramref name="generator"/> draws the initial weights.</summary>
    public Linear(int inFeatures, int outFeatures, Generator generator, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var w = RegisterParameter("weight", Tensor.Zeros([outFeatures, inFeatures]))!;
        var b = RegisterParameter("bias", bias ? Tensor.Zeros([outFeatures]) : null);
        Init.DefaultLinearOrConv(w, b, generator);
    }

    /// <summary>Input width.</summary>
    public int InFeatures { get; }

    /// <summary>Output width.</summary>
    public int OutFeatures { get; }

    /// <summary>The weight (out, in).</summary>
    public Tensor Weight => Param("weight");

    /// <summary>The bias, if any.</summary>
    public Tensor? Bias => OptionalParam("bias");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={Bias is not null}";
}

/// <summary>2-D convolution. "weight" (out, in, k, k), "bias" (out).</summary>
public sealed class Conv2d : Module
{
    /// <summary>Creates the layer with PyTorch's default initialisation.</summary>
    public Conv2d(int inChannels, int outChannels, int kernelSize, Generator generator, int stride = 1, int padding = 0, bool bias = true, int dilation = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelSize);
        (InChannels, OutChannels, KernelSize, Stride, Padding, Dilation) = (inChannels, outChannels, kernelSize, stride, padding, dilation);
        var w = RegisterParameter("weight", Tensor.Zeros([outChannels, inChannels, kernelSize, kernelSize]))!;
        var b = RegisterParameter("bias", bias ? Tensor.Zeros([outChannels]) : null);
        Init.DefaultLinearOrConv(w, b, generator);
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>Square kernel side.</summary>
    public int KernelSize { get; }

    /// <summary>Stride.</summary>
    public int Stride { get; }

    /// <summary>Zero padding on each side.</summary>
    public int Padding { get; }

    /// <summary>Dilation.</summary>
    public int Dilation { get; }

    /// <summary>The weight.</summary>
    public Tensor Weight => Param("weight");

    /// <summary>The bias, if any.</summary>
    public Tensor? Bias => OptionalParam("bias");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.Conv2d(x, Weight, Bias, Stride, Padding, Dilation);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}

/// <summary>2-D transposed convolution. "weight" (in, out, k, k), "bias" (out), as in PyTorch.</summary>
public sealed class ConvTranspose2d : Module
{
    /// <summary>Creates the layer with PyTorch's default initialisation.</summary>
    public ConvTranspose2d(int inChannels, int outChannels, int kernelSize, Generator generator, int stride = 1, int padding = 0, int outputPadding = 0, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelSize);
        (InChannels, OutChannels, KernelSize, Stride, Padding, OutputPadding) = (inChannels, outChannels, kernelSize, stride, padding, outputPadding);
        var w = RegisterParameter("weight", Tensor.Zeros([inChannels, outChannels, kernelSize, kernelSize]))!;
        var b = RegisterParameter("bias", bias ? Tensor.Zeros([outChannels]) : null);
        Init.DefaultLinearOrConv(w, b, generator);
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>Square kernel side.</summary>
    public int KernelSize { get; }

    /// <summary>Stride.</summary>
    public int Stride { get; }

    /// <summary>Padding removed from each side of the output.</summary>
    public int Padding { get; }

    /// <summary>Extra rows/columns added to one side of the output.</summary>
    public int OutputPadding { get; }

    /// <summary>The weight.</summary>
    public Tensor Weight => Param("weight");

    /// <summary>The bias, if any.</summary>
    public Tensor? Bias => OptionalParam("bias");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.ConvTranspose2d(x, Weight, Bias, Stride, Padding, OutputPadding);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}

/// <summary>Batch normalisation over channel dim 1: "weight", "bias" (if affine), buffers "running_mean",
/// "running_var", "num_batches_tracked" (if tracking), as PyTorch.</summary>
public abstract class BatchNormBase : Module
{
    private readonly int _rank;

    private protected BatchNormBase(int numFeatures, int rank, double eps, double momentum, bool affine, bool trackRunningStats)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numFeatures);
        (NumFeatures, _rank, Eps, Momentum) = (numFeatures, rank, eps, momentum);
        if (affine)
        {
            RegisterParameter("weight", Tensor.Ones([numFeatures]));
            RegisterParameter("bias", Tensor.Zeros([numFeatures]));
        }
        if (trackRunningStats)
        {
            RegisterBuffer("running_mean", Tensor.Zeros([numFeatures]));
            RegisterBuffer("running_var", Tensor.Ones([numFeatures]));
            RegisterBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int32));
        }
    }

    /// <summary>Channels.</summary>
    public int NumFeatures { get; }

    /// <summary>Added to the variance.</summary>
    public double Eps { get; }

    /// <summary>Running-statistics update rate.</summary>
    public double Momentum { get; }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != _rank && !(_rank == 2 && x.Rank == 3))
        {
            throw new ArgumentException($"{GetType().Name}: expected a {(_rank == 2 ? "(N, C) or (N, C, L)" : "(N, C, H, W)")} input, got [{string.Join(", ", x.Shape)}]");
        }
        var rm = Buffer("running_mean");
        var rv = Buffer("running_var");
        if (Training && Buffer("num_batches_tracked") is { } n)
        {
            n.Fill_(n.Item() + 1);
        }
        // Without running statistics, evaluation normalises with the batch's own, as PyTorch does.
        return F.BatchNorm(x, rm, rv, OptionalParam("weight"), OptionalParam("bias"), Training || rm is null, Momentum, Eps);
    }

    /// <inheritdoc />
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture, $"{NumFeatures}, eps={Eps}, momentum={Momentum}");
}

/// <summary>Batch norm for (N, C) or (N, C, L).</summary>
public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    : BatchNormBase(numFeatures, 2, eps, momentum, affine, trackRunningStats);

/// <summary>Batch norm for (N, C, H, W).</summary>
public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    : BatchNormBase(numFeatures, 4, eps, momentum, affine, trackRunningStats);

/// <summary>
/// Class-conditional batch norm (as in conditional GAN generators): normalise without affine, then
/// scale and shift by per-class vectors. Children "bn" (BatchNorm2d without affine) and "embed"
/// (Embedding(numClasses, 2C): first C columns the scales, initialised N(1, 0.02), last C the shifts, zero).
/// </summary>
public sealed class ConditionalBatchNorm2d : Module
{
    /// <summary>Creates the layer.</summary>
    public ConditionalBatchNorm2d(int numFeatures, int numClasses, Generator generator, double eps = 1e-5, double momentum = 0.1)
    {
        NumFeatures = numFeatures;
        NumClasses = numClasses;
        RegisterModule("bn", new BatchNorm2d(numFeatures, eps, momentum, affine: false));
        var embed = RegisterModule("embed", new Embedding(numClasses, 2 * numFeatures, generator));
        using (GradMode.NoGrad())
        {
            var init = Tensor.Concat([generator.Normal([numClasses, numFeatures], 1, 0.02), Tensor.Zeros([numClasses, numFeatures])], 1);
            embed.Weight.CopyFrom_(init);
        }
    }

    /// <summary>Channels.</summary>
    public int NumFeatures { get; }

    /// <summary>Classes.</summary>
    public int NumClasses { get; }

    /// <summary>Refused: the layer needs the class labels.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("ConditionalBatchNorm2d needs class labels: call Forward(x, labels)");

    /// <summary>Normalises x (N, C, H, W) and applies the scale and shift of each image's class (labels int32, (N)).</summary>
    public Tensor Forward(Tensor x, Tensor labels)
    {
        var h = Child("bn").Forward(x);
        var gb = ((Embedding)Child("embed")).Forward(labels); // (N, 2C)
        var gamma = gb.Slice(1, 0, NumFeatures).Reshape(-1, NumFeatures, 1, 1);
        var beta = gb.Slice(1, NumFeatures, 2 * NumFeatures).Reshape(-1, NumFeatures, 1, 1);
        return (h * gamma) + beta;
    }

    /// <inheritdoc />
    protected override string ExtraRepr() => $"{NumFeatures}, num_classes={NumClasses}";
}

/// <summary>Layer norm over the trailing dims; "weight" and "bias" of that shape when affine.</summary>
public sealed class LayerNorm : Module
{
    private readonly int[] _shape;

    /// <summary>Creates the layer.</summary>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true)
    {
        _shape = (int[])normalizedShape.Clone();
        Eps = eps;
        if (elementwiseAffine)
        {
            RegisterParameter("weight", Tensor.Ones(_shape));
            RegisterParameter("bias", Tensor.Zeros(_shape));
        }
    }

    /// <summary>Added to the variance.</summary>
    public double Eps { get; }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.LayerNorm(x, _shape, OptionalParam("weight"), OptionalParam("bias"), Eps);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"[{string.Join(", ", _shape)}]";
}

/// <summary>A lookup table: int32 indices of any shape → vectors; "weight" (num, dim), initialised N(0, 1).</summary>
public sealed class Embedding : Module
{
    /// <summary>Creates the table.</summary>
    public Embedding(int numEmbeddings, int embeddingDim, Generator generator)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numEmbeddings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embeddingDim);
        (NumEmbeddings, EmbeddingDim) = (numEmbeddings, embeddingDim);
        RegisterParameter("weight", generator.Normal([numEmbeddings, embeddingDim]));
    }

    /// <summary>Rows.</summary>
    public int NumEmbeddings { get; }

    /// <summary>Columns.</summary>
    public int EmbeddingDim { get; }

    /// <summary>The table.</summary>
    public Tensor Weight => Param("weight");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => NnFunctional.Embedding(x, Weight);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"{NumEmbeddings}, {EmbeddingDim}";
}

/// <summary>Zeroes elements with probability p in training and scales the rest by 1/(1-p).</summary>
public sealed class Dropout : Module
{
    private readonly Generator _generator;

    /// <summary>Creates the layer; masks come from <paramref name="generator"/>.</summary>
    public Dropout(double p, Generator generator)
    {
        if (p is < 0 or >= 1 || double.IsNaN(p))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout: p must be in [0, 1)");
        }
        P = p;
        _generator = generator;
    }

    /// <summary>Drop probability.</summary>
    public double P { get; }

    /// <summary>Where the masks come from: a training loop that resumes exactly saves and restores its state.</summary>
    public Generator Generator => _generator;

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.Dropout(x, P, Training, _generator);

    /// <inheritdoc />
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture, $"p={P}");
}

/// <summary>An elementwise function as a module (ReLU, Tanh, ...).</summary>
public sealed class Activation : Module
{
    private readonly Func<Tensor, Tensor> _f;
    private readonly string _repr;

    private Activation(string name, Func<Tensor, Tensor> f, string repr = "")
    {
        Name = name;
        _f = f;
        _repr = repr;
    }

    /// <summary>The function's name.</summary>
    public string Name { get; }

    /// <summary>max(x, 0).</summary>
    public static Activation ReLU() => new("ReLU", F.Relu);

    /// <summary>x for x &gt; 0, slope·x otherwise.</summary>
    public static Activation LeakyReLU(double negativeSlope = 0.01) => new("LeakyReLU", x => F.LeakyRelu(x, negativeSlope), string.Create(CultureInfo.InvariantCulture, $"negative_slope={negativeSlope}"));

    /// <summary>tanh.</summary>
    public static Activation Tanh() => new("Tanh", F.Tanh);

    /// <summary>Logistic sigmoid.</summary>
    public static Activation Sigmoid() => new("Sigmoid", F.Sigmoid);

    /// <summary>ELU.</summary>
    public static Activation ELU(double alpha = 1.0) => new("ELU", x => F.Elu(x, alpha));

    /// <summary>x·sigmoid(x).</summary>
    public static Activation SiLU() => new("SiLU", F.Silu);

    /// <summary>log(1 + exp(βx))/β.</summary>
    public static Activation Softplus(double beta = 1.0) => new("Softplus", x => F.Softplus(x, beta));

    /// <summary>The identity.</summary>
    public static Activation Identity() => new("Identity", x => x);

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => _f(x);

    /// <inheritdoc />
    public override string ToString() => $"{Name}({_repr})";
}

/// <summary>Nearest-neighbour upsampling by an integer factor.</summary>
public sealed class Upsample(int scaleFactor) : Module
{
    /// <summary>The factor.</summary>
    public int ScaleFactor { get; } = scaleFactor > 0 ? scaleFactor : throw new ArgumentOutOfRangeException(nameof(scaleFactor), scaleFactor, "Upsample: the scale factor must be positive");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.UpsampleNearest(x, ScaleFactor);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"scale_factor={ScaleFactor}, mode='nearest'";
}

/// <summary>Collapses dims startDim..endDim (default 1..-1).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => x.Flatten(startDim, endDim);
}

/// <summary>Splits dim into the given sizes, e.g. (N, 6272) → (N, 128, 7, 7).</summary>
public sealed class Unflatten(int dim, int[] sizes) : Module
{
    /// <inheritdoc />
    public override Tensor Forward(Tensor x)
    {
        var d = dim < 0 ? dim + x.Rank : dim;
        if (d < 0 || d >= x.Rank)
        {
            throw new ArgumentException($"Unflatten: dim {dim} out of range for shape [{string.Join(", ", x.Shape)}]");
        }
        var shape = x.Shape;
        return x.Reshape([.. shape[..d], .. sizes, .. shape[(d + 1)..]]);
    }
}

/// <summary>Max pooling.</summary>
public sealed class MaxPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.MaxPool2d(x, kernelSize, stride, padding);
}

/// <summary>Average pooling.</summary>
public sealed class AvgPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => F.AvgPool2d(x, kernelSize, stride, padding);
}

/// <summary>Runs its children in order; they are named "0", "1", ... as in PyTorch.</summary>
public sealed class Sequential : Module
{
    /// <summary>Creates the container.</summary>
    public Sequential(params Module[] layers)
    {
        foreach (var l in layers)
        {
            Add(l);
        }
    }

    /// <summary>Appends a layer.</summary>
    public Sequential Add(Module layer)
    {
        RegisterModule(Count.ToString(CultureInfo.InvariantCulture), layer);
        Count++;
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count { get; private set; }

    /// <summary>A layer by position.</summary>
    public Module this[int index] => Child(index.ToString(CultureInfo.InvariantCulture));

    /// <inheritdoc />
    public override Tensor Forward(Tensor x)
    {
        for (var i = 0; i < Count; i++)
        {
            x = this[i].Forward(x);
        }
        return x;
    }
}

/// <summary>Holds modules under "0", "1", ... without a forward of its own.</summary>
public sealed class ModuleList : Module
{
    private int _count;

    /// <summary>Creates the list.</summary>
    public ModuleList(params Module[] modules)
    {
        foreach (var m in modules)
        {
            Add(m);
        }
    }

    /// <summary>Appends a module.</summary>
    public void Add(Module module) => RegisterModule((_count++).ToString(CultureInfo.InvariantCulture), module);

    /// <summary>Number of modules.</summary>
    public int Count => _count;

    /// <summary>A module by position.</summary>
    public Module this[int index] => index >= 0 && index < _count ? Child(index.ToString(CultureInfo.InvariantCulture)) : throw new ArgumentOutOfRangeException(nameof(index), index, $"ModuleList has {_count} modules");

    /// <summary>Refused: a list has no forward pass.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("ModuleList has no Forward; call its modules");
}
