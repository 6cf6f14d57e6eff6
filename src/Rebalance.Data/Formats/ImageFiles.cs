using StbImageSharp;

namespace Rebalance.Data.Formats;

/// <summary>The image formats a class folder may hold.</summary>
public enum ImageFormat
{
    /// <summary>PNG, read by the project's own codec (<see cref="Png"/>), which checks every chunk's CRC.</summary>
    Png,

    /// <summary>JPEG (baseline and progressive, grey or colour, any chroma subsampling); lossy.</summary>
    Jpeg,

    /// <summary>Windows bitmap.</summary>
    Bmp,

    /// <summary>GIF; the first frame is read, as colour (its palette is RGB).</summary>
    Gif,

    /// <summary>Truevision TGA (raw or run-length encoded).</summary>
    Tga,
}

/// <summary>
/// Reads one image file of any supported format. PNG goes through the project's codec; JPEG, BMP, GIF and
/// TGA through StbImageSharp 2.30 (a memory-safe C# port of stb_image, public domain / MIT): it was measured
/// against SixLabors.ImageSharp 2.1 on 10,000 small images and on corrupt files (BENCHMARKS.md, "image
/// decoding"), and ImageSharp 2.1 has reported flaws with crafted images while its later versions
/// changed licence. The format comes from the file's first bytes, not its name (TGA has no signature, so
/// a .tga name is trusted). Whatever is wrong with a file, the error is one
/// <see cref="DataFormatException"/> naming it: never another exception, a hang or a huge allocation.
/// </summary>
public static class ImageFiles
{
    /// <summary>Extensions read as images (case-insensitive).</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".gif", ".tga"];

    /// <summary>Extensions of image formats that are not read; a folder holding them gets a warning naming them.</summary>
    public static IReadOnlyList<string> UnsupportedImageExtensions { get; } = [".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jxl", ".svg", ".ico", ".psd", ".pgm", ".ppm", ".pbm", ".pnm", ".jp2", ".raw", ".dng", ".cr2", ".nef", ".exr", ".hdr"];

    /// <summary>Largest image accepted, in pixels (as <see cref="Png.MaxPixels"/>).</summary>
    public const long MaxPixels = Png.MaxPixels;

    /// <summary>Largest file read, in bytes.</summary>
    public const long MaxFileBytes = 1L << 28;

    /// <summary>Whether the file's name marks it as a supported image.</summary>
    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether the file's name marks it as an image in a format that is not read.</summary>
    public static bool IsUnsupportedImage(string path) => UnsupportedImageExtensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether the file's name says JPEG (a lossy format).</summary>
    public static bool IsJpegName(string path) => Path.GetExtension(path).ToLowerInvariant() is ".jpg" or ".jpeg" or ".jpe";

    /// <summary>Reads and decodes one image file.</summary>
    public static RasterImage Read(string path)
    {
        byte[] data;
        try
        {
            var length = new FileInfo(path).Length;
            if (length > MaxFileBytes)
            {
                throw new DataFormatException(path, $"{length:N0} bytes is larger than any image this tool reads ({MaxFileBytes:N0})");
            }
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot be read: {e.Message}", e);
        }
        return Decode(data, path);
    }

    /// <summary>The format of <paramref name="data"/> from its signature; a file without one is TGA when
    /// its name says so, else an error naming <paramref name="source"/>.</summary>
    public static ImageFormat Detect(ReadOnlySpan<byte> data, string source)
    {
        if (data.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G']))
        {
            return ImageFormat.Png;
        }
        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
        {
            return ImageFormat.Jpeg;
        }
        if (data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8))
        {
            return ImageFormat.Gif;
        }
        if (data.StartsWith("BM"u8))
        {
            return ImageFormat.Bmp;
        }
        if (Path.GetExtension(source).Equals(".tga", StringComparison.OrdinalIgnoreCase))
        {
            return ImageFormat.Tga;
        }
        if (data.Length == 0)
        {
            throw new DataFormatException(source, "empty file");
        }
        throw new DataFormatException(source, $"not a PNG, JPEG, BMP or GIF file (its first bytes are {Convert.ToHexString(data[..Math.Min(8, data.Length)])}), nor named .tga");
    }

    /// <summary>Decodes an image held in memory; <paramref name="source"/> names it in errors and, for TGA, decides the format.</summary>
    public static RasterImage Decode(byte[] data, string source)
    {
        var format = Detect(data, source);
        if (format == ImageFormat.Png)
        {
            return Png.Decode(data, source);
        }
        var name = format.ToString().ToUpperInvariant();
        if (format == ImageFormat.Jpeg)
        {
            CheckJpegStructure(data, source);
        }
        ImageInfo? info;
        try
        {
            using var stream = new MemoryStream(data, writable: false);
            info = ImageInfo.FromStream(stream);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DataFormatException(source, $"not a readable {name} file ({Reason(e)})", e);
        }
        if (info is not { } i)
        {
            throw new DataFormatException(source, $"not a readable {name} file (bad or truncated header)");
        }
        if (i.Width <= 0 || i.Height <= 0 || (long)i.Width * i.Height > MaxPixels)
        {
            throw new DataFormatException(source, $"{name} header declares {i.Width}x{i.Height} pixels (at most {MaxPixels:N0} are read)");
        }
        // A corrupt header can declare far more pixels than its bytes can hold; stb would allocate and fill
        // them all. No real file of these formats packs more than a few thousand pixels into a byte.
        if ((long)i.Width * i.Height > Math.Max(1L << 20, 4096L * data.Length))
        {
            throw new DataFormatException(source, $"corrupt {name} header: {i.Width}x{i.Height} pixels declared in a file of {data.Length:N0} bytes");
        }
        ImageResult image;
        try
        {
            image = ImageResult.FromMemory(data, ColorComponents.Default);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // stb reports corrupt or truncated data by throwing; its messages are terse ("bad huffman code").
            throw new DataFormatException(source, $"corrupt or truncated {name} data ({Reason(e)})", e);
        }
        if (image is null || image.Data is null || image.Width != i.Width || image.Height != i.Height)
        {
            throw new DataFormatException(source, $"corrupt or truncated {name} data");
        }
        var channels = image.Comp switch
        {
            ColorComponents.Grey => 1,
            ColorComponents.GreyAlpha => 2,
            ColorComponents.RedGreenBlue => 3,
            _ => 4,
        };
        if (image.Data.Length != (long)image.Width * image.Height * channels)
        {
            throw new DataFormatException(source, $"corrupt {name} data (decoded {image.Data.Length} bytes for {image.Width}x{image.Height}x{channels})");
        }
        return new RasterImage(image.Width, image.Height, channels, image.Data);
    }

    /// <summary>
    /// Walks a JPEG's marker segments (ITU T.81, B.1) up to its first scan and looks for the end-of-image
    /// marker after it. stb_image loops forever on some truncated headers (it reads zeros past the end and
    /// keeps looking for a marker), so every segment must lie inside the file, a frame header (SOFn) and a
    /// scan (SOS) must come before the data runs out, and the file must end its scans with EOI.
    /// </summary>
    public static void CheckJpegStructure(ReadOnlySpan<byte> data, string source)
    {
        var pos = 2;
        var sawFrame = false;
        while (true)
        {
            // Fill bytes (0xFF repeated) may precede a marker.
            while (pos + 1 < data.Length && data[pos] == 0xFF && data[pos + 1] == 0xFF)
            {
                pos++;
            }
            if (pos + 4 > data.Length)
            {
                throw new DataFormatException(source, "truncated JPEG: the file ends inside its headers, before any image data");
            }
            if (data[pos] != 0xFF)
            {
                throw new DataFormatException(source, $"corrupt JPEG: expected a marker at byte {pos}, found 0x{data[pos]:X2}");
            }
            var marker = data[pos + 1];
            if (marker is 0xD8 or 0xD9 or 0x01 or (>= 0xD0 and <= 0xD7))
            {
                throw new DataFormatException(source, $"corrupt JPEG: marker 0x{marker:X2} at byte {pos} before the first scan");
            }
            var length = (data[pos + 2] << 8) | data[pos + 3];
            if (length < 2 || pos + 2 + length > data.Length)
            {
                throw new DataFormatException(source, $"truncated JPEG: segment 0x{marker:X2} at byte {pos} declares {length} bytes, {Math.Max(0, data.Length - pos - 2)} remain");
            }
            sawFrame |= marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC);
            if (marker == 0xDA)
            {
                if (!sawFrame)
                {
                    throw new DataFormatException(source, "corrupt JPEG: a scan before any frame header (SOF)");
                }
                pos += 2 + length;
                break;
            }
            pos += 2 + length;
        }
        if (data[pos..].IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) < 0)
        {
            throw new DataFormatException(source, "truncated JPEG: no end-of-image marker after its image data");
        }
    }

    private static string Reason(Exception e) => string.IsNullOrWhiteSpace(e.Message) ? e.GetType().Name : e.Message.ReplaceLineEndings(" ");
}
