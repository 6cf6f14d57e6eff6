using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>
/// Spectral normalisation of a layer's weight (Miyato et al. 2018), applied the way PyTorch's
/// <c>torch.nn.utils.spectral_norm</c> does it: the layer's "weight" becomes the parameter
/// "weight_orig" plus buffers "weight_u" and "weight_v", and every forward pass uses
/// weight_orig / σ, with one power-iteration step per training forward pass.
/// </summary>
public static class SpectralNorm
{
    /// <summary>Wraps <paramref name="module"/> in place and returns it. <paramref name="dim"/> defaults
    /// to 1 for transposed convolutions (their output channels) and 0 otherwise.</summary>
    public static T Apply<T>(T module, Generator generator, string name = "weight", int powerIterations = 1, double eps = 1e-12, int? dim = null) where T : Module
    {
        ArgumentOutOfRangeException.ThrowIfNegative(powerIterations);
        var weight = module.GetParameter(name) ?? throw new ArgumentException($"spectral_norm: {module.GetType().Name} has no parameter '{name}'");
        var d = dim ?? (module is ConvTranspose2d ? 1 : 0);
        var mat = NnFunctional.WeightMatrix(weight.Detach(), d);
        Tensor u, v;
        using (GradMode.NoGrad())
        {
            u = NnFunctional.Normalize(generator.Normal([mat.Size(0)]), eps);
            v = NnFunctional.Normalize(generator.Normal([mat.Size(1)]), eps);
        }
        module.ReplaceParameterWithComputed(name, name + "_orig", new Transform(name, powerIterations, eps, d));
        module.AddBuffer(name + "_u", u);
        module.AddBuffer(name + "_v", v);
        return module;
    }

    private sealed class Transform(string name, int powerIterations, double eps, int dim) : IParameterTransform
    {
        public Tensor Compute(Module owner)
        {
            var orig = owner.GetParameter(name + "_orig")!;
            var u = owner.GetBuffer(name + "_u")!;
            var v = owner.GetBuffer(name + "_v")!;
            return NnFunctional.SpectralNormalize(orig, u, v, powerIterations, owner.Training, dim, eps);
        }
    }
}

/// <summary>
/// The equalised learning rate of ProGAN (Karras et al. 2018): a layer's weight is drawn from N(0, 1) and
/// scaled at every use by c = gain / sqrt(fan_in) (He's constant), so Adam's step size is the same for every
/// layer whatever its fan-in. The weight becomes the parameter "weight_orig", used as weight_orig · c.
/// </summary>
public static class EqualizedLr
{
    /// <summary>Re-draws <paramref name="module"/>'s weight from N(0, 1), zeroes its bias, and scales the
    /// weight at use. Returns the module.</summary>
    public static T Apply<T>(T module, Generator generator, double gain = 1.4142135623730951, string name = "weight") where T : Module
    {
        var weight = module.GetParameter(name) ?? throw new ArgumentException($"equalized_lr: {module.GetType().Name} has no parameter '{name}'");
        // Fan-in: every dimension but the output's (dim 0; dim 1 of a transposed convolution).
        var outDim = module is ConvTranspose2d ? 1 : 0;
        var fanIn = 1L;
        for (var d = 0; d < weight.Rank; d++)
        {
            fanIn *= d == outDim ? 1 : weight.Size(d);
        }
        using (GradMode.NoGrad())
        {
            weight.CopyFrom_(generator.Normal(weight.Shape, dtype: weight.DType));
            if (module.GetParameter("bias") is { } bias)
            {
                bias.CopyFrom_(Tensor.Zeros(bias.Shape, bias.DType));
            }
        }
        module.ReplaceParameterWithComputed(name, name + "_orig", new Transform(name, gain / Math.Sqrt(fanIn)));
        return module;
    }

    /// <summary>The scale c applied to <paramref name="module"/>'s weight (1 when not equalised).</summary>
    public static double Scale(Module module, string name = "weight") => module.GetParameter(name + "_orig") is null ? 1 : module.ComputedTransform(name) is Transform t ? t.Scale : 1;

    private sealed class Transform(string name, double scale) : IParameterTransform
    {
        public double Scale => scale;

        public Tensor Compute(Module owner) => owner.GetParameter(name + "_orig")! * scale;
    }
}

/// <summary>Pixel-wise feature normalisation (see <see cref="NnFunctional.PixelNorm"/>).</summary>
public sealed class PixelNorm : Module
{
    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => NnFunctional.PixelNorm(x);
}

/// <summary>Appends the minibatch standard deviation as one extra channel (see <see cref="NnFunctional.MinibatchStdDev"/>).</summary>
public sealed class MinibatchStdDev(int groupSize = 4) : Module
{
    /// <summary>Images per group.</summary>
    public int GroupSize { get; } = groupSize > 0 ? groupSize : throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "MinibatchStdDev: the group size must be positive");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => NnFunctional.MinibatchStdDev(x, GroupSize);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"group_size={GroupSize}";
}

/// <summary>Minibatch discrimination (Salimans et al. 2016): (N, A) → (N, A + kernels); parameter "T" (A, kernels·kernelDim), N(0, 1).</summary>
public sealed class MinibatchDiscrimination : Module
{
    /// <summary>Creates the layer.</summary>
    public MinibatchDiscrimination(int inFeatures, int kernels, int kernelDim, Generator generator)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelDim);
        (InFeatures, Kernels, KernelDim) = (inFeatures, kernels, kernelDim);
        RegisterParameter("T", generator.Normal([inFeatures, kernels * kernelDim]));
    }

    /// <summary>Input width A.</summary>
    public int InFeatures { get; }

    /// <summary>Number of kernels B (features added).</summary>
    public int Kernels { get; }

    /// <summary>Dims per kernel C.</summary>
    public int KernelDim { get; }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => NnFunctional.MinibatchDiscrimination(x, Param("T"), Kernels, KernelDim);

    /// <inheritdoc />
    protected override string ExtraRepr() => $"{InFeatures}, kernels={Kernels}, kernel_dim={KernelDim}";
}
