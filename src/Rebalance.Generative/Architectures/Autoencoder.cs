using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// A (conditional) variational autoencoder for images of any channel count, 16 to 128 pixels a side. Encoder: the
/// DCGAN discriminator's convolutions (4x4 stride 2 to 64 and 128 channels, batch norm, LeakyReLU 0.2),
/// flattened, with the one-hot class appended when conditional, then a linear layer to μ and log σ².
/// Decoder: the dcgan generator (<see cref="DcganGenerator"/>, conditional batch norm and a class embedding
/// when conditional), so that a decoder is a generator file like a GAN's and the GAN-initialising
/// methods of the family can start from it.
/// </summary>
public sealed class VaeModel : Module
{
    /// <summary>A new model with weights drawn from <paramref name="gen"/>; a deterministic one
    /// (<paramref name="variational"/> false) has a code and no variance.</summary>
    public VaeModel(GanShape shape, Generator gen, bool variational = true, int latentClasses = 0, int labelEmbedding = 0)
    {
        Variational = variational;
        LatentClasses = latentClasses;
        LabelEmbedding = labelEmbedding;
        GanArchitectures.Get("dcgan").Check(shape);
        Shape = shape;
        RegisterModule("conv1", new Conv2d(shape.Channels, 64, 4, gen, stride: 2, padding: 1));
        RegisterModule("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1));
        if (labelEmbedding == 0)
        {
            // BAGAN-GP's encoder becomes a WGAN-GP critic, whose per-image gradient penalty batch norm would break.
            RegisterModule("bn2", new BatchNorm2d(128));
        }
        Features = 128 * (shape.Height / 4) * (shape.Width / 4);
        RegisterModule("head", new Linear(Features + shape.NumClasses, (variational ? 2 : 1) * shape.LatentDim, gen));
        Decoder = GanArchitectures.Get("dcgan").CreateGenerator(shape, gen);
        RegisterModule("dec", Decoder);
        if (latentClasses > 0)
        {
            RegisterModule("latent_cls", new Linear(shape.LatentDim, latentClasses, gen));
        }
        if (labelEmbedding > 0)
        {
            RegisterModule("label_embed", new Embedding(labelEmbedding, shape.LatentDim, gen));
        }
    }

    /// <summary>Image shape, latent size and classes (0: unconditional).</summary>
    public GanShape Shape { get; }

    /// <summary>Whether the encoder gives a distribution (μ, log σ²) or a code.</summary>
    public bool Variational { get; }

    /// <summary>Classes of the linear classifier on the code (SCDL-GAN's L_SV); 0 for none.</summary>
    public int LatentClasses { get; }

    /// <summary>Classes of BAGAN-GP's label embedding, by which the decoder's input is multiplied; 0 for none.</summary>
    public int LabelEmbedding { get; }

    /// <summary>The decoder's input: the code, times the label's embedding when the model has one.</summary>
    public Tensor DecoderInput(Tensor code, Tensor? labels) =>
        LabelEmbedding > 0 ? code * Child("label_embed").Forward(labels ?? throw new ArgumentException("a supervised autoencoder needs the labels of its codes")) : code;

    /// <summary>Class logits of codes, by the classifier on the code.</summary>
    public Tensor ClassifyCode(Tensor code) => LatentClasses > 0 ? Child("latent_cls").Forward(code) : throw new InvalidOperationException("this autoencoder has no classifier on its code");

    /// <summary>Length of the encoder's flattened features.</summary>
    public int Features { get; }

    /// <summary>The decoder, a generator from N(0, I) (and the class).</summary>
    public GanGenerator Decoder { get; }

    /// <summary>Not used: a VAE needs labels when conditional; see <see cref="Encode"/> and <see cref="Decoder"/>.</summary>
    public override Tensor Forward(Tensor x) => Encode(x, null).Mu;

    /// <summary>The encoder's convolutional features (N, <see cref="Features"/>), before the class and the
    /// linear layer: what a report maps to show where the encoder puts real and generated images.</summary>
    public Tensor EncoderFeatures(Tensor x)
    {
        var h = F.LeakyRelu(Child("conv1").Forward(x), 0.2);
        h = Child("conv2").Forward(h);
        return F.LeakyRelu(LabelEmbedding == 0 ? Child("bn2").Forward(h) : h, 0.2).Flatten(1);
    }

    /// <summary>μ and log σ² of q(z | x, y), each (N, LatentDim); for a deterministic model the code and zeros.</summary>
    public (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels)
    {
        var h = EncoderFeatures(x);
        if (Shape.Conditional)
        {
            if (labels is null)
            {
                throw new ArgumentException("a conditional VAE needs the labels of the images it encodes");
            }
            h = Tensor.Concat([h, Tensor.OneHot(labels, Shape.NumClasses)], 1);
        }
        var out_ = Child("head").Forward(h);
        var k = Shape.LatentDim;
        return Variational ? (out_.Slice(1, 0, k), out_.Slice(1, k, 2 * k)) : (out_, Tensor.ZerosLike(out_));
    }
}
