using System.Buffers.Binary;
using Rebalance.Data.Formats;
using Rebalance.Tensors;

namespace Rebalance.Data.Tests;

public class PngTests
{
    public static TheoryData<string> Fixtures() =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "png"), "*.png").Select(f => Path.GetFileNameWithoutExtension(f)!).Order()];

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void DecodesFilesFromAnIndependentEncoder(string name)
    {
        var expected = File.ReadAllBytes(TestData.Fixture(name + ".expected"));
        var image = Png.Read(TestData.Fixture(name + ".png"));
        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(expected), image.Width);
        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(expected.AsSpan(4)), image.Height);
        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(expected.AsSpan(8)), image.Channels);
        Assert.Equal(expected[12..], image.Pixels);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1, 17, 9)]
    [InlineData(3, 8, 33)]
    [InlineData(3, 28, 28)]
    public void EncodeDecodeRoundTrip(int channels, int height, int width)
    {
        var gen = new Generator((ulong)(height * width));
        var pixels = gen.Uniform([height * width * channels], 0, 256).ToFloatArray().Select(v => (byte)v).ToArray();
        var png = Png.Encode(width, height, channels, pixels);
        var back = Png.Decode(png);
        Assert.Equal((width, height, channels), (back.Width, back.Height, back.Channels));
        Assert.Equal(pixels, back.Pixels);
    }

    private static byte[] Valid() => File.ReadAllBytes(TestData.Fixture("rgb8.png"));

    private static byte[] WithChunk(byte[] png, string type, byte[] body)
    {
        // Inserts a chunk after IHDR (8 + 25 bytes).
        var chunk = new byte[12 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)body.Length);
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(chunk, 4);
        body.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + body.Length), Crc32.Compute(chunk.AsSpan(4, 4), body));
        return [.. png[..33], .. chunk, .. png[33..]];
    }

    [Fact]
    public void BadFilesGiveOneClearError()
    {
        var good = Valid();
        var badSignature = (byte[])good.Clone();
        badSignature[1] = (byte)'X';
        var badCrc = (byte[])good.Clone();
        badCrc[30] ^= 0xFF; // inside the IHDR CRC
        var zlib = WithChunk(good[..33], "IDAT", [0x78, 0x9C, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
        zlib = [.. zlib, .. good[^12..]];
        var critical = WithChunk(good, "ABCD", [1, 2, 3]);
        var ihdrDepth = (byte[])good.Clone();
        ihdrDepth[24] = 3; // bit depth 3
        FixCrc(ihdrDepth, 8);
        var cases = new (byte[] Bytes, string Expected)[]
        {
            (badSignature, "bad signature"),
            (badCrc, "bad CRC in chunk 'IHDR'"),
            (good[..(good.Length / 2)], "truncated"),
            (good[..20], "truncated"),
            (zlib, "zlib"),
            (critical, "unsupported critical chunk 'ABCD'"),
            (ihdrDepth, "bit depth 3"),
            ([.. good[..8], .. good[33..]], "expected IHDR"),
        };
        foreach (var (bytes, expected) in cases)
        {
            var ex = Assert.Throws<DataFormatException>(() => Png.Decode(bytes, "img.png"));
            Assert.StartsWith("img.png: ", ex.Message);
            Assert.Contains(expected, ex.Message);
        }
    }

    [Fact]
    public void HugeDimensionsAreRefusedBeforeAllocating()
    {
        var png = Valid();
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 100000);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 100000);
        FixCrc(png, 8);
        Assert.Contains("exceeds the limit", Assert.Throws<DataFormatException>(() => Png.Decode(png)).Message);
    }

    internal static void FixCrc(byte[] png, int chunkStart)
    {
        var len = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(chunkStart));
        var crc = Crc32.Compute(png.AsSpan(chunkStart + 4, 4), png.AsSpan(chunkStart + 8, len));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(chunkStart + 8 + len), crc);
    }
}
