using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;

namespace Rebalance.Data.Tests;

public class CifarAndFolderTests
{
    [Fact]
    public void Cifar10DirectoryRoundTrip()
    {
        var dir = TestData.TempDir();
        var train = TestData.Make([3, 2, 4, 1, 1, 1, 1, 1, 1, 2], channels: 3, h: 32, w: 32);
        var test = TestData.Make([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], channels: 3, h: 32, w: 32);
        for (var b = 1; b <= 5; b++)
        {
            Cifar.WriteBatch(Path.Combine(dir, $"data_batch_{b}.bin"), b == 1 ? train : train.Subset([0]));
        }
        Cifar.WriteBatch(Path.Combine(dir, "test_batch.bin"), test);
        File.WriteAllLines(Path.Combine(dir, "batches.meta.txt"), ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck", ""]);
        var (tr, te) = DatasetCatalog.Load(dir);
        Assert.Equal(train.Count + 4, tr.Count);
        Assert.Equal(test.Count, te!.Count);
        Assert.Equal("truck", tr.ClassNames[9]);
        Assert.Equal(train.Image(5).ToArray(), tr.Image(5).ToArray());
        Assert.Equal(train.Label(5), tr.Label(5));
    }

    [Fact]
    public void Cifar100UsesFineLabels()
    {
        var dir = TestData.TempDir();
        var data = TestData.Make([.. Enumerable.Repeat(1, 100)], channels: 3, h: 32, w: 32);
        Cifar.WriteBatch(Path.Combine(dir, "train.bin"), data, labelBytes: 2);
        Cifar.WriteBatch(Path.Combine(dir, "test.bin"), data, labelBytes: 2);
        var (tr, _) = DatasetCatalog.Load(dir);
        Assert.Equal(100, tr.NumClasses);
        Assert.Equal(data.Labels, tr.Labels);
    }

    [Fact]
    public void TruncatedCifarFileIsNamed()
    {
        var dir = TestData.TempDir();
        var f = Path.Combine(dir, "test.bin");
        File.WriteAllBytes(f, new byte[3074 + 10]);
        var ex = Assert.Throws<DataFormatException>(() => Cifar.Load("x", [f], 2, [.. Enumerable.Range(0, 100).Select(i => $"{i}")]));
        Assert.Contains(f, ex.Message);
        Assert.Contains("whole number of 3074-byte records", ex.Message);
    }

    [Fact]
    public void PngFolderRoundTripKeepsPixelsLabelsAndSyntheticMarks()
    {
        var dir = TestData.TempDir();
        var data = TestData.Make([3, 1, 2], channels: 3, h: 7, w: 9);
        data = data.WithSynthetic(data.Image(0).ToArray(), [2]);
        ImageFolder.Write(data, Path.Combine(dir, "train"));
        Assert.Single(Directory.GetFiles(Path.Combine(dir, "train", "class2"), "syn-*.png"));
        var back = ImageFolder.Load(Path.Combine(dir, "train"));
        Assert.Equal(data.ClassCounts(), back.ClassCounts());
        Assert.Equal((3, 7, 9), (back.Channels, back.Height, back.Width));
        // Files are read class by class; compare as multisets of (label, pixels).
        var a = Enumerable.Range(0, data.Count).Select(i => (data.Label(i), Convert.ToBase64String(data.Image(i)))).Order();
        var b = Enumerable.Range(0, back.Count).Select(i => (back.Label(i), Convert.ToBase64String(back.Image(i)))).Order();
        Assert.Equal(a, b);
    }

    [Fact]
    public void SplitLayoutAndErrors()
    {
        var dir = TestData.TempDir();
        ImageFolder.Write(TestData.Make([2, 2]), Path.Combine(dir, "train"));
        ImageFolder.Write(TestData.Make([1, 1]), Path.Combine(dir, "valid"));
        var (train, test) = DatasetCatalog.Load(dir);
        Assert.Equal(4, train.Count);
        Assert.Equal(2, test!.Count);

        Assert.Throws<DataException>(() => ImageFolder.Write(TestData.Make([1]), Path.Combine(dir, "train")));

        Directory.CreateDirectory(Path.Combine(dir, "train", "empty"));
        Assert.Contains("'empty' has no images (PNG, JPEG, BMP, GIF or TGA)", Assert.Throws<DataException>(() => ImageFolder.Load(Path.Combine(dir, "train"))).Message);
        Directory.Delete(Path.Combine(dir, "train", "empty"));

        Png.WritePlanar(Path.Combine(dir, "train", "class0", "odd.png"), 1, 3, 3, new byte[9]);
        var ex = Assert.Throws<DataException>(() => ImageFolder.Load(Path.Combine(dir, "train")));
        Assert.Contains("odd.png", ex.Message);
        Assert.Contains("one size", ex.Message);
    }

    [Fact]
    public void GreyAndColourImagesInOneFolderAreReadAsColour()
    {
        var dir = TestData.TempDir();
        Png.WritePlanar(Path.Combine(dir, "a", "0.png"), 1, 2, 2, [10, 20, 30, 40]);
        Png.WritePlanar(Path.Combine(dir, "b", "0.png"), 3, 2, 2, new byte[12]);
        var d = ImageFolder.Load(dir);
        Assert.Equal(3, d.Channels);
        Assert.Equal([10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40], d.Image(0).ToArray());
    }

    [Fact]
    public void SampleGridHasOneRowPerClass()
    {
        var file = Path.Combine(TestData.TempDir(), "grid.png");
        SampleGrid.Write(file, TestData.Make([5, 2, 3], h: 6, w: 5), perClass: 4, seed: 1);
        var img = Png.Read(file);
        Assert.Equal((2 + (4 * 7), 2 + (3 * 8)), (img.Width, img.Height));
    }
}
