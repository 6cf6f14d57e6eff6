using Rebalance.Generative.Training;
using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>BAGAN-GP's generator: the decoder fed noise times the class's learned embedding.</summary>
public sealed class BaganGpGenerator : Module
{
    /// <summary>From the supervised autoencoder's decoder and label embedding (copied).</summary>
    public BaganGpGenerator(VaeModel sae)
    {
        Decoder = GanArchitectures.Get("dcgan").CreateGenerator(new GanShape(sae.Shape.Channels, sae.Shape.Height, sae.Shape.Width, sae.Shape.LatentDim), new Generator(0));
        Decoder.LoadStateDict(sae.Decoder.StateDict());
        RegisterModule("dec", Decoder);
        var embed = new Embedding(sae.LabelEmbedding, sae.Shape.LatentDim, new Generator(0));
        embed.LoadStateDict(sae.StateDict().Where(kv => kv.Key.StartsWith("label_embed.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["label_embed.".Length..], kv => kv.Value));
        RegisterModule("label_embed", embed);
    }

    /// <summary>The decoder part.</summary>
    public GanGenerator Decoder { get; }

    /// <summary>Not used: the generator needs labels.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("BAGAN-GP's generator needs the labels: Forward(z, labels)");

    /// <summary>Images of the given classes from noise <paramref name="z"/>.</summary>
    public Tensor Forward(Tensor z, Tensor labels) => Decoder.Forward(z * Child("label_embed").Forward(labels), null);

    /// <summary><paramref name="n"/> images of class <paramref name="c"/> as bytes, noise from <paramref name="gen"/>.</summary>
    public byte[] Generate(int c, int n, Generator gen)
    {
        var size = Decoder.Shape.Channels * Decoder.Shape.Height * Decoder.Shape.Width;
        return ImageRows.Generate(this, n, size, (_, len) => Forward(gen.Normal([len, Decoder.Shape.LatentDim]), Tensor.Full([len], c, DType.Int32)));
    }
}

/// <summary>BAGAN-GP's class-conditional critic: the encoder's convolutions (from the autoencoder, without
/// batch norm), a linear score and a projection of the class embedding on the features (Miyato and Koyama 2018).</summary>
public sealed class BaganGpCritic : Module
{
    /// <summary>From the supervised autoencoder's encoder.</summary>
    public BaganGpCritic(VaeModel sae, Generator gen)
    {
        RegisterModule("conv1", new Conv2d(sae.Shape.Channels, 64, 4, gen, stride: 2, padding: 1));
        RegisterModule("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1));
        RegisterModule("fc", new Linear(sae.Features, 1, gen));
        RegisterModule("embed", new Embedding(sae.LabelEmbedding, sae.Features, gen));
        LoadStateDict(sae.StateDict().Where(kv => kv.Key.StartsWith("conv", StringComparison.Ordinal)).ToDictionary(), strict: false);
    }

    /// <summary>Not used: the critic needs labels.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("BAGAN-GP's critic needs the labels: Forward(x, labels)");

    /// <summary>One score per image (N).</summary>
    public Tensor Forward(Tensor x, Tensor labels)
    {
        var h = F.LeakyRelu(Child("conv1").Forward(x), 0.2);
        h = F.LeakyRelu(Child("conv2").Forward(h), 0.2).Flatten(1);
        return Child("fc").Forward(h).Reshape(-1) + (Child("embed").Forward(labels) * h).Sum(1);
    }
}
