using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>
/// A deeper DCGAN for images of any channel count and any size from 16 to 128 pixels a side, with as many
/// stride-2 stages n as <see cref="Dcgan"/> (2 at 28x28 and 32x32, where this is the original layout): G:
/// Linear(z, w·bh·bw) → BN → ReLU → n times ConvT(·, ·/2, 4, 2, 1) → BN → ReLU, ending at 64 channels
/// (w = 64·2ⁿ, 256 for n = 2) → Conv(64, C, 3, 1, 1) → Tanh, the centre H x W kept when 2ⁿ does not divide a
/// side. D: Conv(C, 32, 3, 1, 1) → LReLU → n times Conv(·, 2·, 4, 2, 1) → [BN] → LReLU → Conv(·, ·, 3, 1, 1)
/// → [BN] → LReLU → Linear. Conditional variants as in <see cref="Dcgan"/>.
/// </summary>
public sealed class DcganDeep : SquareImageArchitecture
{
    /// <inheritdoc />
    public override string Name => "dcgan-deep";

    /// <inheritdoc />
    public override string Description => "deeper DCGAN: wider generator with a 3x3 output convolution, four-convolution discriminator";

    /// <inheritdoc />
    protected override (int Min, int Max)? SizeRange => (16, 128);

    /// <inheritdoc />
    protected override GanGenerator NewGenerator(GanShape shape, Generator gen) => new DeepGenerator(shape, gen);

    /// <inheritdoc />
    protected override GanDiscriminator NewDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) => new DeepDiscriminator(shape, options, gen);

    private sealed class DeepGenerator : GanGenerator
    {
        private const int EmbedDim = 32;
        private readonly int _n;
        private readonly int _w;
        private readonly int _bh;
        private readonly int _bw;

        public DeepGenerator(GanShape shape, Generator gen) : base(shape)
        {
            _n = Dcgan.Stages(shape.Height, shape.Width);
            _w = 64 << _n;
            _bh = (shape.Height + (1 << _n) - 1) >> _n;
            _bw = (shape.Width + (1 << _n) - 1) >> _n;
            if (shape.Conditional)
            {
                RegisterModule("label_embed", new Embedding(shape.NumClasses, EmbedDim, gen));
            }
            RegisterModule("fc", new Linear(shape.LatentDim + (shape.Conditional ? EmbedDim : 0), _w * _bh * _bw, gen));
            RegisterModule("bn0", new BatchNorm1d(_w * _bh * _bw));
            for (var i = 1; i <= _n; i++)
            {
                RegisterModule($"up{i}", new ConvTranspose2d(_w >> (i - 1), _w >> i, 4, gen, stride: 2, padding: 1));
                RegisterModule($"bn{i}", Norm(_w >> i, shape, gen));
            }
            RegisterModule("out", new Conv2d(64, shape.Channels, 3, gen, padding: 1));
            InitDcgan(gen);
        }

        public override IReadOnlyList<string[]> Blocks =>
            [Shape.Conditional ? ["label_embed", "fc", "bn0"] : ["fc", "bn0"], .. Enumerable.Range(1, _n).Select(i => (string[])[$"up{i}", $"bn{i}"]), ["out"]];

        public override Tensor Forward(Tensor z, Tensor? labels)
        {
            CheckLabels(z, labels);
            if (Shape.Conditional)
            {
                z = Tensor.Concat([z, Child("label_embed").Forward(labels!)], 1);
            }
            var h = F.Relu(Child("bn0").Forward(Child("fc").Forward(z))).Reshape(-1, _w, _bh, _bw);
            for (var i = 1; i <= _n; i++)
            {
                h = F.Relu(ApplyNorm($"bn{i}", Child($"up{i}").Forward(h), labels));
            }
            return SquareImageArchitecture.CentreCrop(F.Tanh(Child("out").Forward(h)), Shape.Height, Shape.Width);
        }

        private static Module Norm(int c, GanShape shape, Generator gen) =>
            shape.Conditional ? new ConditionalBatchNorm2d(c, shape.NumClasses, gen) : new BatchNorm2d(c);

        private Tensor ApplyNorm(string name, Tensor h, Tensor? labels) =>
            Shape.Conditional ? ((ConditionalBatchNorm2d)Child(name)).Forward(h, labels!) : Child(name).Forward(h);
    }

    private sealed class DeepDiscriminator : GanDiscriminator
    {
        private readonly int _n;

        public DeepDiscriminator(GanShape shape, DiscriminatorOptions options, Generator gen) : base(shape, options)
        {
            _n = Dcgan.Stages(shape.Height, shape.Width);
            AddLayer("conv0", new Conv2d(shape.Channels, 32, 3, gen, padding: 1), gen);
            for (var i = 1; i <= _n; i++)
            {
                AddLayer($"conv{i}", new Conv2d(32 << (i - 1), 32 << i, 4, gen, stride: 2, padding: 1), gen);
            }
            AddLayer($"conv{_n + 1}", new Conv2d(32 << _n, 32 << _n, 3, gen, padding: 1), gen);
            if (options.BatchNorm)
            {
                for (var i = 1; i <= _n + 1; i++)
                {
                    RegisterModule($"bn{i}", new BatchNorm2d(32 << Math.Min(i, _n)));
                }
            }
            AddHead((32 << _n) * (shape.Height >> _n) * (shape.Width >> _n), gen);
            InitDcgan(gen);
        }

        public override IReadOnlyList<string[]> Blocks =>
            [["conv0"], .. Enumerable.Range(1, _n + 1).Select(i => Options.BatchNorm ? (string[])[$"conv{i}", $"bn{i}"] : [$"conv{i}"]), HeadNames];

        public override DiscriminatorOutput Forward(Tensor x, Tensor? labels)
        {
            var h = Act(Child("conv0").Forward(x));
            for (var i = 1; i <= _n + 1; i++)
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
