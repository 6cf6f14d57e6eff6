using System.Buffers.Binary;
using System.Diagnostics;
using Rebalance.Data.Formats;
using Rebalance.Tensors;

namespace Rebalance.Data.Tests;

/// <summary>JPEG, BMP, GIF and TGA through <see cref="ImageFiles"/>: fixtures written and decoded by Pillow
/// (tools/make_image_fixtures.py), folders that mix formats, and corrupt files.</summary>
public class ImageFileTests
{
    private static string ImagesDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "images");

    public static TheoryData<string> Fixtures() =>
        [.. Directory.GetFiles(ImagesDir).Where(f => !f.EndsWith(".expected", StringComparison.Ordinal)).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void DecodesLikePillow(string file)
    {
        var expected = File.ReadAllBytes(Path.Combine(ImagesDir, Path.GetFileNameWithoutExtension(file) + ".expected"));
        var image = ImageFiles.Read(Path.Combine(ImagesDir, file));
        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(expected), image.Width);
        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(expected.AsSpan(4)), image.Height);
        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(expected.AsSpan(8)), image.Channels);
        var want = expected[12..];
        Assert.Equal(want.Length, image.Pixels.Length);
        // Lossless formats: exactly Pillow's pixels. Grey JPEG: within the ±1 of IDCT rounding. Colour JPEG:
        // ±2, the IDCT's ±1 plus the rounding of the YCbCr-to-RGB conversion (stb's fixed point is not
        // libjpeg's), and stb's chroma upsampling is not libjpeg's "fancy" filter; excepted are the last
        // column or row of an image whose size is odd in a subsampled direction, where the two decoders
        // treat the half chroma sample at the edge differently.
        var (w, h, ch) = (image.Width, image.Height, image.Channels);
        var subsampled = file.StartsWith("rgb-42", StringComparison.Ordinal);
        var worst = 0;
        for (var i = 0; i < want.Length; i++)
        {
            var (x, y) = (i / ch % w, i / ch / w);
            var edge = subsampled && ((w % 2 == 1 && x == w - 1) || (h % 2 == 1 && y == h - 1 && file.Contains("420", StringComparison.Ordinal)));
            if (!edge)
            {
                worst = Math.Max(worst, Math.Abs(want[i] - image.Pixels[i]));
            }
        }
        var bound = !ImageFiles.IsJpegName(file) ? 0 : ch == 1 ? 1 : 2;
        Assert.True(worst <= bound, $"{file}: a sample differs by {worst} from Pillow's decoding (allowed {bound})");
    }

    [Fact]
    public void TheFormatComesFromTheSignatureNotTheName()
    {
        var dir = TestData.TempDir();
        var jpeg = File.ReadAllBytes(Path.Combine(ImagesDir, "grey-baseline.jpg"));
        var misnamed = Path.Combine(dir, "really-a-jpeg.png");
        File.WriteAllBytes(misnamed, jpeg);
        Assert.Equal(ImageFormat.Jpeg, ImageFiles.Detect(jpeg, misnamed));
        Assert.Equal((28, 28, 1), (ImageFiles.Read(misnamed).Width, ImageFiles.Read(misnamed).Height, ImageFiles.Read(misnamed).Channels));
        var text = Path.Combine(dir, "notes.jpg");
        File.WriteAllText(text, "hello");
        var e = Assert.Throws<DataFormatException>(() => ImageFiles.Read(text));
        Assert.StartsWith(text + ": not a PNG, JPEG, BMP or GIF file", e.Message, StringComparison.Ordinal);
        File.WriteAllBytes(text, []);
        Assert.Equal($"{text}: empty file", Assert.Throws<DataFormatException>(() => ImageFiles.Read(text)).Message);
    }

    [Theory]
    [InlineData("rgb-420.jpg")]
    [InlineData("grey-progressive.jpeg")]
    [InlineData("rgb24.bmp")]
    [InlineData("palette.gif")]
    [InlineData("rgb-rle.tga")]
    public void TruncatedFilesAreOneLineNamingTheFile(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(ImagesDir, file));
        foreach (var keep in new[] { 2, 10, bytes.Length / 3, bytes.Length / 2 })
        {
            var source = "cut-" + file;
            try
            {
                // Some formats decode a cut file to grey padding (stb's JPEG does); what matters is that
                // nothing but a DataFormatException comes out.
                ImageFiles.Decode(bytes[..keep], source);
            }
            catch (DataFormatException e)
            {
                Assert.StartsWith(source + ": ", e.Message, StringComparison.Ordinal);
                Assert.DoesNotContain('\n', e.Message);
            }
        }
    }

    [Fact]
    public void AHeaderAskingForAHugeImageIsRefusedBeforeDecoding()
    {
        var bmp = File.ReadAllBytes(Path.Combine(ImagesDir, "rgb24.bmp"));
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), 60_000);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), 60_000);
        var e = Assert.Throws<DataFormatException>(() => ImageFiles.Decode(bmp, "huge.bmp"));
        Assert.Contains("60000x60000", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFolderMayMixFormatsAndSkipsFilesThatAreNotImagesWithOneWarning()
    {
        var dir = TestData.TempDir();
        Directory.CreateDirectory(Path.Combine(dir, "a"));
        Directory.CreateDirectory(Path.Combine(dir, "b"));
        File.Copy(Path.Combine(ImagesDir, "grey-baseline.jpg"), Path.Combine(dir, "a", "1.jpg"));
        File.Copy(Path.Combine(ImagesDir, "grey8-palette.bmp"), Path.Combine(dir, "a", "2.bmp"));
        var grey = new byte[28 * 28];
        Array.Fill(grey, (byte)77);
        Png.WritePlanar(Path.Combine(dir, "b", "3.png"), 1, 28, 28, grey, durable: false);
        File.Copy(Path.Combine(ImagesDir, "grey-progressive.jpeg"), Path.Combine(dir, "b", "4.JPEG"));
        File.WriteAllText(Path.Combine(dir, "a", "README"), "notes");
        File.WriteAllBytes(Path.Combine(dir, "b", ".DS_Store"), [0, 0, 0, 1]);
        File.WriteAllBytes(Path.Combine(dir, "b", "Thumbs.db"), [1, 2]);
        File.WriteAllBytes(Path.Combine(dir, "b", "5.webp"), [1, 2]);
        var lines = new List<string>();
        var data = ImageFolder.Load(dir, log: lines.Add);
        Assert.Equal([2, 2], data.ClassCounts());
        // The palette BMP is colour, so the whole folder is read as RGB, greys widened.
        Assert.Equal((3, 28, 28), (data.Channels, data.Height, data.Width));
        var warning = Assert.Single(lines);
        Assert.StartsWith($"warning: {dir}: skipped 4 file(s) that are not PNG, JPEG, BMP, GIF or TGA images", warning, StringComparison.Ordinal);
        Assert.EndsWith("among them images in formats this tool does not read: 1 .webp", warning, StringComparison.Ordinal);
        Assert.True(ImageFolder.HasJpeg(dir));

        // A class folder with no readable images is an error naming it.
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "a")).Where(ImageFiles.IsImage))
        {
            File.Delete(f);
        }
        var e = Assert.Throws<DataException>(() => ImageFolder.Load(dir));
        Assert.Equal($"{Path.Combine(dir, "a")}: class folder 'a' has no images (PNG, JPEG, BMP, GIF or TGA); its 1 file(s) are none of these", e.Message);
    }

    [Fact]
    public void ACorruptJpegInAFolderNamesTheFile()
    {
        var dir = TestData.TempDir();
        Directory.CreateDirectory(Path.Combine(dir, "a"));
        File.Copy(Path.Combine(ImagesDir, "rgb-420.jpg"), Path.Combine(dir, "a", "good.jpg"));
        File.WriteAllBytes(Path.Combine(dir, "a", "bad.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, .. "JFIF"u8, 0, 1]);
        var e = Assert.Throws<DataFormatException>(() => ImageFolder.Load(dir));
        Assert.StartsWith(Path.Combine(dir, "a", "bad.jpg") + ": ", e.Message, StringComparison.Ordinal);
    }

    private static byte[] Mutate(byte[] seed, Generator gen)
    {
        if (gen.NextInt(5) != 0)
        {
            return FuzzTests.Mutate(seed, gen);
        }
        // Header fields: the first 64 bytes hold sizes, depths, table lengths and offsets.
        var data = (byte[])seed.Clone();
        data[gen.NextInt(Math.Min(64, data.Length))] = (byte)(gen.NextInt(2) == 0 ? 0xFF : gen.NextInt(256));
        return data;
    }

    [Fact]
    public void TwentyThousandMutatedImagesOfEveryFormatOnlyThrowDataErrors()
    {
        var seeds = Directory.GetFiles(ImagesDir).Where(f => !f.EndsWith(".expected", StringComparison.Ordinal))
            .Concat(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "png"), "*.png").Take(6))
            .Order(StringComparer.Ordinal).Select(f => (Name: Path.GetFileName(f), Bytes: File.ReadAllBytes(f))).ToArray();
        var gen = new Generator(79);
        var decoded = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var (name, bytes) = seeds[i % seeds.Length];
            var mutant = Mutate(bytes, gen);
            // A decode that blows up stays slow when run again; a pause of the machine (the collector, other
            // processes on the cores) does not. The slowest mutants take about 0.25 s on their own.
            var took = TimeSpan.MaxValue;
            for (var run = 0; run < 3 && took >= TimeSpan.FromSeconds(1); run++)
            {
                var sw = Stopwatch.StartNew();
                try
                {
                    ImageFiles.Decode(mutant, $"mutant{i}-{name}");
                    decoded += run == 0 ? 1 : 0;
                }
                catch (DataException)
                {
                }
                catch (Exception e)
                {
                    Assert.Fail($"mutant {i} of {name} threw {e.GetType().Name}: {e.Message}");
                }
                took = sw.Elapsed < took ? sw.Elapsed : took;
            }
            Assert.True(took < TimeSpan.FromSeconds(1), $"mutant {i} of {name} took {took.TotalSeconds:F2} s, three times over");
        }
        Assert.InRange(decoded, 1, 19_999);
    }
}
