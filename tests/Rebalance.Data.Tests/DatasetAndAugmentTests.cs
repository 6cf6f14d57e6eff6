using Rebalance.Data.Augment;
using Rebalance.Tensors;

namespace Rebalance.Data.Tests;

public class DatasetAndAugmentTests
{
    [Fact]
    public void TensorConversionRangesAndBack()
    {
        var d = new Dataset("t", [0, 255, 128, 64], [0], 1, 2, 2, ["a"]);
        Assert.Equal([-1f, 1f, (128 * 2 / 255f) - 1, (64 * 2 / 255f) - 1], d.ToTensor().ToFloatArray());
        Assert.Equal([0f, 1f, 128 / 255f, 64 / 255f], d.ToTensor(PixelRange.ZeroToOne).ToFloatArray());
        Assert.Equal([0, 255, 128, 64], Dataset.ToBytes(d.ToTensor()));
        Assert.Equal([0, 255, 0], Dataset.ToBytes(Tensor.FromArray(new[] { -5f, 7f, float.NaN })));
    }

    [Fact]
    public void BatchesCoverEveryImageOnceInASeededOrder()
    {
        var d = TestData.Make([7, 5, 3]);
        var a = d.Batches(4, new Generator(1)).SelectMany(b => b.Labels.ToIntArray()).ToArray();
        var b = d.Batches(4, new Generator(1)).SelectMany(b => b.Labels.ToIntArray()).ToArray();
        Assert.Equal(a, b);
        Assert.Equal(d.Labels.Order(), a.Order());
        Assert.Equal([4, 4, 4, 3], d.Batches(4).Select(x => x.Images.Size(0)));
        Assert.Equal(3, d.Batches(4, dropLast: true).Count());
    }

    [Fact]
    public void SubsetConcatAndSyntheticMarks()
    {
        var d = TestData.Make([2, 2]);
        var s = d.Subset([3, 0]);
        Assert.Equal([d.Label(3), d.Label(0)], s.Labels);
        var withSyn = d.WithSynthetic(new byte[2 * d.ImageSize], [1, 1]);
        Assert.Equal(6, withSyn.Count);
        Assert.Equal(2, withSyn.SyntheticCount);
        Assert.True(withSyn.IsSynthetic(5));
        Assert.False(withSyn.IsSynthetic(0));
        Assert.Throws<DataException>(() => d.Concat(TestData.Make([1], h: 3)));
        Assert.Throws<DataException>(() => new Dataset("bad", new byte[3], [0], 1, 2, 2, ["a"]));
    }

    private static Tensor Batch() => new Generator(5).Uniform([3, 2, 9, 8], -1, 1);

    public static TheoryData<string> Names => ["hflip", "vflip", "padcrop", "blur", "contrast", "noise", "multiply", "affine", "cutout", "elastic", "compose"];

    private static Augmentation Make(string name) => name switch
    {
        "hflip" => new HorizontalFlip(),
        "vflip" => new VerticalFlip(),
        "padcrop" => new PadCrop(2),
        "blur" => new GaussianBlur(0.5, 1.5),
        "contrast" => new ContrastNormalization(),
        "noise" => new GaussianNoise(0.1),
        "multiply" => new Multiply(),
        "affine" => new Affine(),
        "cutout" => new Cutout(4),
        "elastic" => new ElasticDistortion(3, 2),
        _ => Augmentation.Compose(new HorizontalFlip(), new Affine(), new GaussianNoise()),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void SeededShapePreservingAndInRange(string name)
    {
        var x = Batch();
        var a = Make(name).Apply(x, new Generator(9)).ToFloatArray();
        var b = Make(name).Apply(x, new Generator(9)).ToFloatArray();
        Assert.Equal(a, b);
        Assert.Equal(x.Numel, a.Length);
        Assert.All(a, v => Assert.InRange(v, -1f, 1f));
        Assert.NotEqual(x.ToFloatArray(), a); // the augmentation changed the batch
    }

    [Fact]
    public void GeometricAugmentationsDoWhatTheySay()
    {
        var x = Tensor.FromArray(new float[] { -1, -0.5f, 0, 0.5f, 1, 0.25f }, 1, 1, 2, 3);
        Assert.Equal([0, -0.5f, -1, 0.25f, 1, 0.5f], new HorizontalFlip(1).Apply(x, new Generator(1)).ToFloatArray());
        Assert.Equal([0.5f, 1, 0.25f, -1, -0.5f, 0], new VerticalFlip(1).Apply(x, new Generator(1)).ToFloatArray());
        Assert.Equal(x.ToFloatArray(), new HorizontalFlip(0).Apply(x, new Generator(1)).ToFloatArray());
        Assert.Equal(x.ToFloatArray(), new Multiply(1, 1).Apply(x, new Generator(1)).ToFloatArray());
        var identity = new Affine(0, 0, 1, 1, 0).Apply(x, new Generator(1)).ToFloatArray();
        Assert.All(identity.Zip(x.ToFloatArray()), p => Assert.Equal(p.Second, p.First, 5));
        var noElastic = new ElasticDistortion(0, 2).Apply(x, new Generator(1)).ToFloatArray();
        Assert.All(noElastic.Zip(x.ToFloatArray()), p => Assert.Equal(p.Second, p.First, 5));
        var cut = new Cutout(2).Apply(Tensor.Ones([1, 1, 6, 6]), new Generator(3)).ToFloatArray();
        Assert.InRange(cut.Count(v => v == 0f), 1, 4);
        var shifted = new PadCrop(1).Apply(Tensor.Ones([8, 1, 4, 4]), new Generator(4)).ToFloatArray();
        Assert.Contains(-1f, shifted); // some shift brings in black border pixels
    }
}
