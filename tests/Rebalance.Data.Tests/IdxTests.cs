using System.IO.Compression;
using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;

namespace Rebalance.Data.Tests;

public class IdxTests
{
    private static byte[] Header(params int[] dims)
    {
        var h = new byte[4 + (4 * dims.Length)];
        h[2] = 8;
        h[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + (4 * i)), dims[i]);
        }
        return h;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest))
        {
            gz.Write(data);
        }
        return ms.ToArray();
    }

    [Fact]
    public void RoundTripPlainAndGzip()
    {
        var dir = TestData.TempDir();
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        Idx.Write(Path.Combine(dir, "a"), [2, 3, 4], data);
        var (dims, back) = Idx.Read(Path.Combine(dir, "a"));
        Assert.Equal([2, 3, 4], dims);
        Assert.Equal(data, back);
        File.WriteAllBytes(Path.Combine(dir, "a.gz"), Gzip(File.ReadAllBytes(Path.Combine(dir, "a"))));
        Assert.Equal(data, Idx.Read(Path.Combine(dir, "a.gz")).Data);
    }

    [Theory]
    [InlineData("magic", "bad magic")]
    [InlineData("type", "element type")]
    [InlineData("short-header", "truncated header")]
    [InlineData("short-data", "truncated")]
    [InlineData("trailing", "trailing")]
    [InlineData("tiny", "too short")]
    [InlineData("gzip", "corrupt gzip")]
    public void BadFilesNameTheFileAndTheProblem(string kind, string expected)
    {
        var good = Header(2, 2).Concat(new byte[4]).ToArray();
        var bytes = kind switch
        {
            "magic" => [1, .. good[1..]],
            "type" => [.. good[..2], 0x0D, .. good[3..]],
            "short-header" => good[..7],
            "short-data" => good[..^1],
            "trailing" => [.. good, 9],
            "tiny" => good[..2],
            _ => [.. Gzip(good)[..10], 0xFF, 0xFF, 0xFF, 0xFF], // gzip header, then an invalid deflate block type
        };
        var ex = Assert.Throws<DataFormatException>(() => Idx.Parse(bytes, "/data/x-idx3-ubyte"));
        Assert.StartsWith("/data/x-idx3-ubyte: ", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        var path = Path.Combine(TestData.TempDir(), "nope-idx1-ubyte");
        Assert.Contains(path + ": cannot read", Assert.Throws<DataException>(() => Idx.Read(path)).Message);
        Assert.Contains(path + ": cannot read", Assert.Throws<DataException>(() => Png.Read(path)).Message);
    }

    [Fact]
    public void LabelsMustMatchImages()
    {
        var dir = TestData.TempDir();
        Idx.Write(Path.Combine(dir, "img"), [3, 2, 2], new byte[12]);
        Idx.Write(Path.Combine(dir, "lab"), [2], [0, 1]);
        var ex = Assert.Throws<DataFormatException>(() => Idx.LoadPair("t", Path.Combine(dir, "img"), Path.Combine(dir, "lab"), ["a", "b"]));
        Assert.Contains("2 labels for the 3 images", ex.Message);
        Idx.Write(Path.Combine(dir, "lab"), [3], [0, 1, 5]);
        Assert.Contains("label 5", Assert.Throws<DataFormatException>(() => Idx.LoadPair("t", Path.Combine(dir, "img"), Path.Combine(dir, "lab"), ["a", "b"])).Message);
    }

    [Fact]
    public void RealMnistLoadsWithItsKnownCounts()
    {
        var (train, test) = DatasetCatalog.Load("mnist");
        Assert.Equal(60000, train.Count);
        Assert.Equal(10000, test!.Count);
        Assert.Equal((1, 28, 28), (train.Channels, train.Height, train.Width));
        Assert.Equal([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], train.ClassCounts());
        Assert.Equal([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], test.ClassCounts());
    }

    [Fact]
    public void RealFashionMnistLoadsFromTheDebianPackage()
    {
        var (train, test) = DatasetCatalog.Load("fashion-mnist");
        Assert.Equal(Enumerable.Repeat(6000, 10), train.ClassCounts());
        Assert.Equal(Enumerable.Repeat(1000, 10), test!.ClassCounts());
        Assert.Equal("Ankle boot", train.ClassNames[9]);
    }
}
