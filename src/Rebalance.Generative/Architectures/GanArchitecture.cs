using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>What a generator and discriminator are built for: image shape, latent size, classes
/// (0 for an unconditional pair), and the most channels of any layer where the architecture takes it as a
/// setting (0: the architecture's own; ProGAN's <c>progan_channels</c>).</summary>
public sealed record GanShape(int Channels, int Height, int Width, int LatentDim = 100, int NumClasses = 0, int MaxChannels = 0)
{
    /// <summary>Whether the pair is class-conditional.</summary>
    public bool Conditional => NumClasses > 0;

    /// <summary>"1x28x28" for messages.</summary>
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}

/// <summary>Discriminator options that depend on the loss and the method rather than the architecture.</summary>
/// <param name="BatchNorm">Batch norm between convolutions (off for gradient-penalty losses, whose penalty
/// is defined per sample).</param>
/// <param name="SpectralNorm">Spectral normalisation of every weight layer.</param>
/// <param name="AuxClassifier">An ACGAN head that predicts the class (conditional pairs only).</param>
/// <param name="Contrastive">The embedding size of a contrastive head (ECO, 2C, D2D-CE) in place of the projection; 0: none.</param>
public sealed record DiscriminatorOptions(bool BatchNorm = true, bool SpectralNorm = false, bool AuxClassifier = false, int Contrastive = 0);

/// <summary>
/// A family of generator/discriminator pairs known by name. Each architecture is one file: a class with a
/// public parameterless constructor that implements this interface is found by <see cref="GanArchitectures"/>.
/// </summary>
public interface IGanArchitecture
{
    /// <summary>The name experiment files use.</summary>
    string Name { get; }

    /// <summary>One line for help texts.</summary>
    string Description { get; }

    /// <summary>Throws an <see cref="ArgumentException"/> saying what is supported when the shape is not.</summary>
    void Check(GanShape shape);

    /// <summary>A new generator, initialised from <paramref name="gen"/>.</summary>
    GanGenerator CreateGenerator(GanShape shape, Generator gen);

    /// <summary>A new discriminator, initialised from <paramref name="gen"/>.</summary>
    GanDiscriminator CreateDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen);
}

/// <summary>Shared plumbing of architectures for square images of a few sizes: the size check runs before
/// any network is built.</summary>
public abstract class SquareImageArchitecture : IGanArchitecture
{
    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public abstract string Description { get; }

    /// <summary>Supported heights (= widths).</summary>
    protected virtual int[] Sizes => [28, 32];

    /// <summary>Whether a class-conditional pair can be built (false for published unconditional pairs).</summary>
    public virtual bool SupportsConditional => true;

    /// <summary>The smallest and largest image side when any size (square or not) in between is supported;
    /// null when only <see cref="Sizes"/> are.</summary>
    protected virtual (int Min, int Max)? SizeRange => null;

    /// <inheritdoc />
    public void Check(GanShape shape)
    {
        if (SizeRange is var (min, max))
        {
            if (shape.Height < min || shape.Height > max || shape.Width < min || shape.Width > max || shape.Channels < 1)
            {
                throw new ArgumentException($"GAN architecture '{Name}' supports images of {min} to {max} pixels a side, got {shape.Channels}x{shape.Height}x{shape.Width}");
            }
        }
        else if (shape.Height != shape.Width || !Sizes.Contains(shape.Height) || shape.Channels < 1)
        {
            throw new ArgumentException($"GAN architecture '{Name}' supports {string.Join(" and ", Sizes.Select(s => $"{s}x{s}"))} images, got {shape.Channels}x{shape.Height}x{shape.Width}");
        }
        if (shape.LatentDim < 1)
        {
            throw new ArgumentException($"GAN architecture '{Name}': the latent size must be at least 1, got {shape.LatentDim}");
        }
        if (shape.Conditional && !SupportsConditional)
        {
            throw new ArgumentException($"GAN architecture '{Name}' is an unconditional pair (use it with gan-per-class or smate); a conditional GAN needs one of {string.Join(", ", GanArchitectures.Names.Where(n => n != Name && GanArchitectures.Get(n) is not SquareImageArchitecture { SupportsConditional: false }))}");
        }
    }

    /// <inheritdoc />
    public GanGenerator CreateGenerator(GanShape shape, Generator gen)
    {
        Check(shape);
        return NewGenerator(shape, gen);
    }

    /// <inheritdoc />
    public GanDiscriminator CreateDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen)
    {
        Check(shape);
        return NewDiscriminator(shape, options, gen);
    }

    /// <summary>The centre <paramref name="height"/> x <paramref name="width"/> of images (N, C, h, w) at least
    /// that large: a generator whose stages overshoot a side that 2ⁿ does not divide keeps its centre.</summary>
    protected internal static Tensor CentreCrop(Tensor x, int height, int width)
    {
        var (top, left) = ((x.Size(2) - height) / 2, (x.Size(3) - width) / 2);
        if (x.Size(2) != height)
        {
            x = x.Slice(2, top, top + height);
        }
        return x.Size(3) != width ? x.Slice(3, left, left + width) : x;
    }

    /// <summary>Builds the generator for a checked shape.</summary>
    protected abstract GanGenerator NewGenerator(GanShape shape, Generator gen);

    /// <summary>Builds the discriminator for a checked shape.</summary>
    protected abstract GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen);
}

/// <summary>The known architectures, found by reflection over this assembly.</summary>
public static class GanArchitectures
{
    private static readonly Dictionary<string, IGanArchitecture> Known = typeof(IGanArchitecture).Assembly.GetTypes()
        .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IGanArchitecture).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
        .Select(t => (IGanArchitecture)Activator.CreateInstance(t)!)
        .ToDictionary(a => a.Name, StringComparer.Ordinal);

    /// <summary>Known names, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Known.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The architecture called <paramref name="name"/>; an unknown name throws with the known ones listed.</summary>
    public static IGanArchitecture Get(string name) =>
        Known.TryGetValue(name, out var a) ? a : throw new ArgumentException($"unknown GAN architecture '{name}' (known: {string.Join(", ", Names)})");
}

/// <summary>A generator: latent codes (N, LatentDim), and class labels (N) int32 when conditional, to images
/// (N, C, H, W) in [-1, 1].</summary>
public abstract class GanGenerator(GanShape shape) : Module
{
    /// <summary>What it was built for.</summary>
    public GanShape Shape { get; } = shape;

    /// <summary>Unconditional forward.</summary>
    public override Tensor Forward(Tensor x) => Forward(x, null);

    /// <summary>Images for the codes <paramref name="z"/> (and <paramref name="labels"/> when conditional).</summary>
    public abstract Tensor Forward(Tensor z, Tensor? labels);

    /// <summary>Names of the top-level children from input to output, grouped in blocks; freezing the first n
    /// layers freezes the first n groups.</summary>
    public abstract IReadOnlyList<string[]> Blocks { get; }

    /// <summary>Checks the label argument against the generator's kind.</summary>
    protected void CheckLabels(Tensor z, Tensor? labels)
    {
        if (z.Rank != 2 || z.Size(1) != Shape.LatentDim)
        {
            throw new ArgumentException($"generator: expected latent codes of shape (N, {Shape.LatentDim}), got [{string.Join(", ", z.Shape)}]");
        }
        if (Shape.Conditional && (labels is null || labels.Rank != 1 || labels.Size(0) != z.Size(0)))
        {
            throw new ArgumentException($"generator: a conditional generator needs one int32 label per code ({z.Size(0)})");
        }
    }

    /// <summary>DCGAN initialisation (Radford et al. 2016): weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0.</summary>
    protected void InitDcgan(Generator gen) => DcganInit.Apply(this, gen);
}

/// <summary>A discriminator's answer: one score per image, and class logits when it has an ACGAN head.</summary>
public readonly record struct DiscriminatorOutput(Tensor Logits, Tensor? ClassLogits)
{
    /// <summary>The features the head scores (N, F): the flattened input of the final linear layer.</summary>
    public Tensor? Features { get; init; }

    /// <summary>With a contrastive head: each image's embedding (N, d).</summary>
    public Tensor? Embedding { get; init; }

    /// <summary>With a contrastive head: the learned class proxies (K, d).</summary>
    public Tensor? Proxies { get; init; }
}

/// <summary>A discriminator (critic): images (N, C, H, W), and labels when conditional, to one score per
/// image (N); conditional ones add a projection term (Miyato and Koyama 2018).</summary>
public abstract class GanDiscriminator(GanShape shape, DiscriminatorOptions options) : Module
{
    /// <summary>What it was built for.</summary>
    public GanShape Shape { get; } = shape;

    /// <summary>Its options.</summary>
    public DiscriminatorOptions Options { get; } = options;

    /// <summary>Unconditional scores (N).</summary>
    public override Tensor Forward(Tensor x) => Forward(x, null).Logits;

    /// <summary>Scores and optional class logits.</summary>
    public abstract DiscriminatorOutput Forward(Tensor x, Tensor? labels);

    /// <summary>Top-level children from input to output in groups; freezing the first n layers freezes the first n groups.</summary>
    public abstract IReadOnlyList<string[]> Blocks { get; }

    /// <summary>The shared head: a linear score on the features h (N, F), plus the projection of the class
    /// embedding onto h when conditional, plus the optional ACGAN head.</summary>
    protected DiscriminatorOutput Head(Tensor h, Tensor? labels)
    {
        var score = Child("fc").Forward(h).Reshape(-1);
        if (Shape.Conditional && Options.Contrastive > 0)
        {
            // A contrastive head (ContraGAN, ReACGAN, ECOGAN) instead of the projection: an unconditional
            // score, and an embedding of each image that the loss compares with learned class proxies.
            var emb = Child("contrast").Forward(h);
            var proxies = Child("proxy").Parameters().First();
            var auxC = Options.AuxClassifier ? Child("aux").Forward(h) : null;
            return new DiscriminatorOutput(score, auxC) { Features = h, Embedding = emb, Proxies = proxies };
        }
        if (Shape.Conditional)
        {
            if (labels is null || labels.Rank != 1 || labels.Size(0) != h.Size(0))
            {
                throw new ArgumentException($"discriminator: a conditional discriminator needs one int32 label per image ({h.Size(0)})");
            }
            var e = Child("embed").Forward(labels);
            score = score + (e * h).Sum(1);
        }
        var aux = Options.AuxClassifier && Shape.Conditional ? Child("aux").Forward(h) : null;
        return new DiscriminatorOutput(score, aux) { Features = h };
    }

    /// <summary>The head's children, for <see cref="Blocks"/>.</summary>
    protected string[] HeadNames => [.. ((string[])["fc", "embed", "contrast", "proxy", "aux"]).Where(n => NamedChildren().Any(c => c.Name == n))];

    /// <summary>Registers the head's layers for features of size <paramref name="features"/>.</summary>
    protected void AddHead(int features, Generator gen)
    {
        RegisterModule("fc", Wrap(new Linear(features, 1, gen), gen));
        if (Shape.Conditional && Options.Contrastive > 0)
        {
            RegisterModule("contrast", Wrap(new Linear(features, Options.Contrastive, gen), gen));
            RegisterModule("proxy", new Embedding(Shape.NumClasses, Options.Contrastive, gen));
            if (Options.AuxClassifier)
            {
                RegisterModule("aux", Wrap(new Linear(features, Shape.NumClasses, gen), gen));
            }
        }
        else if (Shape.Conditional)
        {
            RegisterModule("embed", new Embedding(Shape.NumClasses, features, gen));
            if (Options.AuxClassifier)
            {
                RegisterModule("aux", Wrap(new Linear(features, Shape.NumClasses, gen), gen));
            }
        }
    }

    /// <summary>Applies spectral norm when the options ask for it.</summary>
    protected T Wrap<T>(T layer, Generator gen) where T : Module => Options.SpectralNorm ? SpectralNorm.Apply(layer, gen) : layer;

    /// <summary>LeakyReLU(0.2), the DCGAN discriminator's activation.</summary>
    protected static Tensor Act(Tensor x) => F.LeakyRelu(x, 0.2);

    /// <summary>Registers a convolution (spectrally normalised when the options ask).</summary>
    protected void AddLayer(string name, Module layer, Generator gen) => RegisterModule(name, Wrap(layer, gen));

    /// <summary>DCGAN initialisation: weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0; the
    /// projection embedding N(0, 0.02).</summary>
    protected void InitDcgan(Generator gen) => DcganInit.Apply(this, gen);
}

/// <summary>Keras's default initialisation, for pairs published in Keras: weights Glorot-uniform
/// (Xavier-uniform), biases 0, batch-norm scales 1 and shifts 0.</summary>
internal static class KerasInit
{
    public static void Apply(Module root, Generator gen)
    {
        foreach (var (_, m) in root.NamedModules())
        {
            foreach (var (leaf, p) in m.NamedParameters(recurse: false))
            {
                if (m is BatchNormBase)
                {
                    Init.Constant_(p, leaf == "weight" ? 1 : 0);
                }
                else if (leaf == "bias")
                {
                    Init.Zeros_(p);
                }
                else if (p.Rank >= 2)
                {
                    Init.XavierUniform_(p, gen);
                }
            }
        }
    }
}

internal static class DcganInit
{
    public static void Apply(Module root, Generator gen)
    {
        var keep = new List<string>();
        foreach (var (name, m) in root.NamedModules())
        {
            if (m is ConditionalBatchNorm2d)
            {
                keep.Add(name + "."); // its embedding keeps its own N(1, 0.02) scales and zero shifts
                continue;
            }
            if (keep.Any(k => name.StartsWith(k, StringComparison.Ordinal)))
            {
                continue;
            }
            foreach (var (leaf, p) in m.NamedParameters(recurse: false))
            {
                if (leaf == "bias")
                {
                    Init.Zeros_(p);
                }
                else if (m is BatchNormBase)
                {
                    Init.Normal_(p, 1, 0.02, gen);
                }
                else
                {
                    Init.Normal_(p, 0, 0.02, gen);
                }
            }
        }
    }
}
