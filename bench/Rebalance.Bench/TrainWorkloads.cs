using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Bench;

/// <summary>The reference training workloads of DESIGN.md (dcgan28, wgangp28, cnn28): one full training
/// step each, with the same models, losses and optimisers as bench/peers/torch_train.py.</summary>
internal static class TrainWorkloads
{
    public static readonly string[] Names = ["dcgan28", "wgangp28", "cnn28"];

    public static int BatchSize(string name) => name == "cnn28" ? 128 : 64;

    public static Func<Action> Setup(string name) => name switch
    {
        "dcgan28" => Dcgan,
        "wgangp28" => WganGp,
        "cnn28" => Cnn,
        "progan28" => Progan,
        _ => throw new ArgumentException($"unknown training workload '{name}'"),
    };

    internal static Sequential Generator(Generator gen) => new(
        new Linear(100, 6272, gen), new BatchNorm1d(6272), Activation.ReLU(), new Unflatten(1, [128, 7, 7]),
        new ConvTranspose2d(128, 64, 4, gen, stride: 2, padding: 1), new BatchNorm2d(64), Activation.ReLU(),
        new ConvTranspose2d(64, 1, 4, gen, stride: 2, padding: 1), Activation.Tanh());

    internal static Sequential Discriminator(Generator gen, bool batchNorm)
    {
        var d = new Sequential(new Conv2d(1, 64, 4, gen, stride: 2, padding: 1), Activation.LeakyReLU(0.2), new Conv2d(64, 128, 4, gen, stride: 2, padding: 1));
        if (batchNorm)
        {
            d.Add(new BatchNorm2d(128));
        }
        return d.Add(Activation.LeakyReLU(0.2)).Add(new Flatten()).Add(new Linear(6272, 1, gen));
    }

    private static Action Dcgan()
    {
        var gen = new Generator(0);
        var g = Generator(gen);
        var d = Discriminator(gen, batchNorm: true);
        var optG = new Adam(g.Parameters(), 2e-4, beta1: 0.5, beta2: 0.999);
        var optD = new Adam(d.Parameters(), 2e-4, beta1: 0.5, beta2: 0.999);
        var real = gen.Uniform([64, 1, 28, 28], -1, 1);
        var ones = Tensor.Ones([64, 1]);
        var zeros = Tensor.Zeros([64, 1]);
        return () =>
        {
            using var scope = TensorScope.Begin();
            var z = gen.Normal([64, 100]);
            optD.ZeroGrad();
            var fake = g.Forward(z);
            var lossD = F.BinaryCrossEntropyWithLogits(d.Forward(real), ones) + F.BinaryCrossEntropyWithLogits(d.Forward(fake.Detach()), zeros);
            lossD.Backward();
            optD.Step();
            optG.ZeroGrad();
            var lossG = F.BinaryCrossEntropyWithLogits(d.Forward(fake), ones);
            lossG.Backward();
            optG.Step();
        };
    }

    private static Action WganGp()
    {
        var gen = new Generator(0);
        var g = Generator(gen);
        var d = Discriminator(gen, batchNorm: false);
        var optG = new Adam(g.Parameters(), 1e-4, beta1: 0, beta2: 0.9);
        var optD = new Adam(d.Parameters(), 1e-4, beta1: 0, beta2: 0.9);
        return WganGpStep(g.Forward, d.Forward, optG, optD, gen, drift: 0);
    }

    /// <summary>ProGAN grown to MNIST's size (32x32, the image padded) with 32 channels a level, as
    /// examples/mnist5.yaml's progan entries train it: one WGAN-GP step with the drift term, Adam 1e-3 with
    /// β (0, 0.99), one critic step. Ours only (no peer).</summary>
    private static Action Progan()
    {
        var gen = new Generator(0);
        var arch = new Rebalance.Generative.Architectures.Progan();
        var shape = new Rebalance.Generative.Architectures.GanShape(1, 28, 28, MaxChannels: 32);
        var g = arch.CreateGenerator(shape, gen);
        var d = arch.CreateDiscriminator(shape, new Rebalance.Generative.Architectures.DiscriminatorOptions(BatchNorm: false), gen);
        ((Rebalance.Generative.Architectures.IProgressive)g).SetProgress(double.PositiveInfinity);
        ((Rebalance.Generative.Architectures.IProgressive)d).SetProgress(double.PositiveInfinity);
        var optG = new Adam(g.Parameters(), 1e-3, beta1: 0, beta2: 0.99);
        var optD = new Adam(d.Parameters(), 1e-3, beta1: 0, beta2: 0.99);
        return WganGpStep(z => g.Forward(z, null), x => d.Forward(x, null).Logits, optG, optD, gen, drift: 0.001);
    }

    /// <summary>One critic step with the gradient penalty (λ 10) and, when <paramref name="drift"/> is not 0,
    /// ProGAN's drift term on real scores, then one generator step; batch 64 of 1x28x28 images, z of 100.</summary>
    private static Action WganGpStep(Func<Tensor, Tensor> g, Func<Tensor, Tensor> d, Adam optG, Adam optD, Generator gen, double drift)
    {
        var real = gen.Uniform([64, 1, 28, 28], -1, 1);
        return () =>
        {
            using var scope = TensorScope.Begin();
            var z = gen.Normal([64, 100]);
            optD.ZeroGrad();
            var fake = g(z);
            // As the GAN trainer, the critic step's tensors are freed when it ends, and the fake batch and
            // G's graph stay for the generator step; unlike it, the penalty goes back with the rest of the
            // critic loss in one backward pass, as the PyTorch peer's step does.
            using (TensorScope.Begin())
            {
                var fd = fake.Detach();
                var eps = gen.Uniform([64, 1, 1, 1]);
                var xhat = ((eps * real) + ((1.0 - eps) * fd)).Detach().RequiresGrad_();
                var grad = Autograd.Grad([d(xhat).Sum()], [xhat], createGraph: true)[0]!;
                var norm = Tensor.Sqrt((grad * grad).Reshape(64, -1).Sum(1));
                var gp = ((norm - 1.0) * (norm - 1.0)).Mean();
                var realScore = d(real);
                var lossD = d(fd).Mean() - realScore.Mean() + (gp * 10.0);
                if (drift > 0)
                {
                    lossD += (realScore * realScore).Mean() * drift;
                }
                lossD.Backward();
                optD.Step();
            }
            optG.ZeroGrad();
            var lossG = -d(fake).Mean();
            lossG.Backward();
            optG.Step();
        };
    }

    private static Action Cnn()
    {
        var gen = new Generator(0);
        var m = new Sequential(
            new Conv2d(1, 8, 3, gen, padding: 1), new BatchNorm2d(8), Activation.ReLU(), new Dropout(0.2, gen), new MaxPool2d(2),
            new Conv2d(8, 32, 5, gen, padding: 2), new BatchNorm2d(32), Activation.ReLU(), new Dropout(0.2, gen), new MaxPool2d(2),
            new Flatten(), new Linear(1568, 600, gen), Activation.ReLU(), new Dropout(0.5, gen), new Linear(600, 10, gen));
        var opt = new Adam(m.Parameters(), 1e-3);
        var x = gen.Uniform([128, 1, 28, 28], -1, 1);
        var y = Tensor.FromArray(Enumerable.Range(0, 128).Select(_ => gen.NextInt(10)).ToArray());
        return () =>
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            F.CrossEntropy(m.Forward(x), y).Backward();
            opt.Step();
        };
    }
}
