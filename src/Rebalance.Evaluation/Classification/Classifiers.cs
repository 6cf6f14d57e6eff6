using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Evaluation;

/// <summary>
/// The classifiers that judge a rebalanced training set, by name. Each takes images of 1 or 3 channels,
/// square or not, from 16 to 128 pixels a side, and returns logits over the classes; the layers after the
/// convolutions are sized from the image (at 28x28 they are the published networks).
/// </summary>
public static class Classifiers
{
    /// <summary>Known names, in the order the help text lists them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cnn28", "simple-cnn", "simple-cnn-bn", "resnet-small"];

    /// <summary>Smallest image side the classifiers take.</summary>
    public const int MinSize = 16;

    /// <summary>Largest image side the classifiers take.</summary>
    public const int MaxSize = 128;

    /// <summary>Builds a classifier; the message of a bad name or image size says what is supported.</summary>
    public static Module Create(string name, int channels, int height, int width, int classes, Generator generator)
    {
        if (height is < MinSize or > MaxSize || width is < MinSize or > MaxSize)
        {
            throw new ArgumentException($"classifier '{name}': images must be {MinSize} to {MaxSize} pixels a side, got {height}x{width}");
        }
        if (channels is not (1 or 3))
        {
            throw new ArgumentException($"classifier '{name}': images must have 1 or 3 channels, got {channels}");
        }
        if (classes < 2)
        {
            throw new ArgumentException($"classifier '{name}': needs at least 2 classes, got {classes}");
        }
        return name switch
        {
            "cnn28" => Cnn28(channels, height, width, classes, generator),
            "simple-cnn" => SimpleCnn(channels, height, width, classes, generator),
            "simple-cnn-bn" => SimpleCnnBn(channels, height, width, classes, generator),
            "resnet-small" => new SmallResNet(channels, classes, generator),
            _ => throw new ArgumentException($"unknown classifier '{name}' (known: {string.Join(", ", Names)})"),
        };
    }

    /// <summary>
    /// DESIGN.md's reference classifier: Conv(C,8,k3,p1) BN ReLU Dropout(0.2) MaxPool2, Conv(8,32,k5,p2)
    /// BN ReLU Dropout(0.2) MaxPool2, Linear(32·⌊H/4⌋·⌊W/4⌋, 600) ReLU Dropout(0.5), Linear(600, K).
    /// </summary>
    public static Sequential Cnn28(int channels, int height, int width, int classes, Generator gen) => new(
        new Conv2d(channels, 8, 3, gen, padding: 1), new BatchNorm2d(8), Activation.ReLU(), new Dropout(0.2, gen), new MaxPool2d(2),
        new Conv2d(8, 32, 5, gen, padding: 2), new BatchNorm2d(32), Activation.ReLU(), new Dropout(0.2, gen), new MaxPool2d(2),
        new Flatten(), new Linear(32 * (height / 4) * (width / 4), 600, gen), Activation.ReLU(), new Dropout(0.5, gen),
        new Linear(600, classes, gen));

    /// <summary>
    /// The simple CNN of the SCDL-GAN study (Cai et al. 2019, the Fashion-MNIST imbalance study), layer by
    /// layer as its report lists it: BatchNorm2d(C) ReLU, Conv2d(C,64,k3) BatchNorm2d(64) ReLU,
    /// Conv2d(64,32,k3), MaxPool2d(2), Flatten, Linear(4608 at 28x28, 1024) ReLU, Linear(1024,128) ReLU,
    /// Linear(128,K). 4,871,340 parameters for 28x28 grey images and 10 classes, as the report gives.
    /// </summary>
    public static Sequential SimpleCnn(int channels, int height, int width, int classes, Generator gen)
    {
        var pooled = ((height - 4) / 2) * ((width - 4) / 2);
        return new Sequential(
            new BatchNorm2d(channels), Activation.ReLU(),
            new Conv2d(channels, 64, 3, gen), new BatchNorm2d(64), Activation.ReLU(),
            new Conv2d(64, 32, 3, gen), new MaxPool2d(2),
            new Flatten(), new Linear(32 * pooled, 1024, gen), Activation.ReLU(),
            new Linear(1024, 128, gen), Activation.ReLU(),
            new Linear(128, classes, gen));
    }

    /// <summary>
    /// A variant of <see cref="SimpleCnn"/> with batch norm after every hidden layer and without the input
    /// batch norm: Conv(C,64,k3) BN ReLU, Conv(64,32,k3) BN ReLU, MaxPool2, Linear(4608, 1024) BN ReLU,
    /// Linear(1024,128) BN ReLU, Linear(128, K). It trains to a higher accuracy than the study's network,
    /// so it is not the network to reproduce the study with.
    /// </summary>
    public static Sequential SimpleCnnBn(int channels, int height, int width, int classes, Generator gen)
    {
        var pooled = ((height - 4) / 2) * ((width - 4) / 2);
        return new Sequential(
            new Conv2d(channels, 64, 3, gen), new BatchNorm2d(64), Activation.ReLU(),
            new Conv2d(64, 32, 3, gen), new BatchNorm2d(32), Activation.ReLU(), new MaxPool2d(2),
            new Flatten(), new Linear(32 * pooled, 1024, gen), new BatchNorm1d(1024), Activation.ReLU(),
            new Linear(1024, 128, gen), new BatchNorm1d(128), Activation.ReLU(),
            new Linear(128, classes, gen));
    }
}

/// <summary>
/// A small residual network (ResNet-8 layout, He et al. 2016's CIFAR family): a 3x3 stem of 16 channels,
/// three stages of one basic block each at 16, 32 and 64 channels (the last two halve the resolution),
/// global average pooling and a linear layer.
/// </summary>
public sealed class SmallResNet : Module
{
    /// <summary>Creates the network.</summary>
    public SmallResNet(int channels, int classes, Generator gen)
    {
        RegisterModule("stem", new Sequential(new Conv2d(channels, 16, 3, gen, padding: 1, bias: false), new BatchNorm2d(16), Activation.ReLU()));
        RegisterModule("layer1", new BasicBlock(16, 16, 1, gen));
        RegisterModule("layer2", new BasicBlock(16, 32, 2, gen));
        RegisterModule("layer3", new BasicBlock(32, 64, 2, gen));
        RegisterModule("fc", new Linear(64, classes, gen));
    }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x)
    {
        foreach (var name in (string[])["stem", "layer1", "layer2", "layer3"])
        {
            x = Child(name).Forward(x);
        }
        return Child("fc").Forward(F.GlobalAvgPool2d(x).Flatten(1));
    }
}

/// <summary>Two 3x3 convolutions with batch norm and a shortcut (a 1x1 convolution when the shape changes).</summary>
public sealed class BasicBlock : Module
{
    private readonly bool _projection;

    /// <summary>Creates the block.</summary>
    public BasicBlock(int inChannels, int outChannels, int stride, Generator gen)
    {
        RegisterModule("conv1", new Conv2d(inChannels, outChannels, 3, gen, stride: stride, padding: 1, bias: false));
        RegisterModule("bn1", new BatchNorm2d(outChannels));
        RegisterModule("conv2", new Conv2d(outChannels, outChannels, 3, gen, padding: 1, bias: false));
        RegisterModule("bn2", new BatchNorm2d(outChannels));
        _projection = stride != 1 || inChannels != outChannels;
        if (_projection)
        {
            RegisterModule("downsample", new Sequential(new Conv2d(inChannels, outChannels, 1, gen, stride: stride, bias: false), new BatchNorm2d(outChannels)));
        }
    }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x)
    {
        var y = F.Relu(Child("bn1").Forward(Child("conv1").Forward(x)));
        y = Child("bn2").Forward(Child("conv2").Forward(y));
        var shortcut = _projection ? Child("downsample").Forward(x) : x;
        return F.Relu(y + shortcut);
    }
}
