using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// A deeper DCGAN for 28x28 and 32x32 images: G: Linear(z, 256·s·s) → BN → ReLU → ConvT(256, 128, 4, 2, 1)
/// → BN → ReLU → ConvT(128, 64, 4, 2, 1) → BN → ReLU → Conv(64, C, 3, 1, 1) → Tanh. D: Conv(C, 32, 3, 1, 1)
/// → LReLU → Conv(32, 64, 4, 2, 1) → [BN] → LReLU → Conv(64, 128, 4, 2, 1) → [BN] → LReLU → Conv(128,
/// 128, 3, 1, 1) → [BN] → LReLU → Linear(128·s·s, 1). Conditional variants as in <see cref="Dcgan"/>.
/// </summary>
public sealed class DcganDeep : SquareImageArchitecture
{
    /// <inheritdoc />
    public override string Name => "dcgan-deep";

    /// <inheritdoc />
    public override string Description => "deeper DCGAN: wider generator with a 3x3 output convolution, four-convolution discriminator";

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new DeepGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) => new DeepDiscriminator(shape, options, gen);

    private sealed class DeepGenerator : GanGenerator
    {
        private const int EmbedDim = 32;
        private readonly int _s;

        public DeepGenerator(GanShape shape, Generator gen) : base(shape)
        {
            _s = shape.Height / 4;
            if (shape.Conditional)
            {
                RegisterModule("label_embed", new Embedding(shape.NumClasses, EmbedDim, gen));
            }
            RegisterModule("fc", new Linear(shape.LatentDim + (shape.Conditional ? EmbedDim : 0), 256 * _s * _s, gen));
            RegisterModule("bn0", new BatchNorm1d(256 * _s * _s));
            RegisterModule("up1", new ConvTranspose2d(256, 128, 4, gen, stride: 2, padding: 1));
            RegisterModule("bn1", Norm(128, shape, gen));
            RegisterModule("up2", new ConvTranspose2d(128, 64, 4, gen, stride: 2, padding: 1));
            RegisterModule("bn2", Norm(64, shape, gen));
            RegisterModule("out", new Conv2d(64, shape.Channels, 3, gen, padding: 1));
            InitDcgan(gen);
        }

        public override IReadOnlyList<string[]> Blocks => Shape.Conditional
            ? [["label_embed", "fc", "bn0"], ["up1", "bn1"], ["up2", "bn2"], ["out"]]
            : [["fc", "bn0"], ["up1", "bn1"], ["up2", "bn2"], ["out"]];

        public override Tensor Forward(Tensor z, Tensor? labels)
        {
            CheckLabels(z, labels);
            if (Shape.Conditional)
            {
                z = Tensor.Concat([z, Child("label_embed").Forward(labels!)], 1);
            }
            var h = F.Relu(Child("bn0").Forward(Child("fc").Forward(z))).Reshape(-1, 256, _s, _s);
            h = F.Relu(ApplyNorm("bn1", Child("up1").Forward(h), labels));
            h = F.Relu(ApplyNorm("bn2", Child("up2").Forward(h), labels));
            return F.Tanh(Child("out").Forward(h));
        }

        private static Module Norm(int c, GanShape shape, Generator gen) =>
            shape.Conditional ? new ConditionalBatchNorm2d(c, shape.NumClasses, gen) : new BatchNorm2d(c);

        private Tensor ApplyNorm(string name, Tensor h, Tensor? labels) =>
            Shape.Conditional ? ((ConditionalBatchNorm2d)Child(name)).Forward(h, labels!) : Child(name).Forward(h);
    }

    private sealed class DeepDiscriminator : GanDiscriminator
    {
        public DeepDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
        {
            AddLayer("conv0", new Conv2d(shape.Channels, 32, 3, gen, padding: 1), gen);
            AddLayer("conv1", new Conv2d(32, 64, 4, gen, stride: 2, padding: 1), gen);
            AddLayer("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1), gen);
            AddLayer("conv3", new Conv2d(128, 128, 3, gen, padding: 1), gen);
            if (options.BatchNorm)
            {
                RegisterModule("bn1", new BatchNorm2d(64));
                RegisterModule("bn2", new BatchNorm2d(128));
                RegisterModule("bn3", new BatchNorm2d(128));
            }
            AddHead(128 * (shape.Height / 4) * (shape.Width / 4), gen);
            InitDcgan(gen);
        }

        public override IReadOnlyList<string[]> Blocks => Options.BatchNorm
            ? [["conv0"], ["conv1", "bn1"], ["conv2", "bn2"], ["conv3", "bn3"], HeadNames]
            : [["conv0"], ["conv1"], ["conv2"], ["conv3"], HeadNames];

        public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
        {
            var h = Act(Child("conv0").Forward(x));
            for (var i = 1; i <= 3; i++)
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
}
