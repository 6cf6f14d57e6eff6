using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Rebalance.Data.Formats;

/// <summary>
/// PNG (ISO/IEC 15948) decoder and encoder on <see cref="ZLibStream"/>. Decodes every standard colour
/// type (grey, RGB, palette, grey + alpha, RGBA) at every allowed bit depth (1, 2, 4, 8, 16), all five
/// filter types, and Adam7 interlacing; samples come out as 8 bits (16-bit samples keep their high byte,
/// low depths are scaled to 0..255). Chunk CRCs are checked. Encodes 8-bit grey and RGB.
/// </summary>
public static class Png
{
    private static readonly byte[] s_signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    // Adam7: (x0, y0, dx, dy) per pass.
    private static readonly (int X0, int Y0, int Dx, int Dy)[] s_adam7 =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    /// <summary>Largest image accepted, in pixels, so a hostile header cannot ask for gigabytes.</summary>
    public const long MaxPixels = 1L << 26;

    /// <summary>Reads and decodes a PNG file.</summary>
    public static RasterImage Read(string path)
    {
        return Decode(DataFiles.ReadAllBytes(path), path);
    }

    /// <summary>Decodes PNG bytes; <paramref name="source"/> names them in errors.</summary>
    public static RasterImage Decode(ReadOnlySpan<byte> data, string source = "<png>")
    {
        if (data.Length < 8 || !data[..8].SequenceEqual(s_signature))
        {
            throw new DataFormatException(source, "not a PNG file (bad signature)");
        }
        var pos = 8;
        int width = 0, height = 0, bitDepth = 0, colourType = -1, interlace = 0;
        byte[]? palette = null;
        var idat = new MemoryStream();
        var sawHeader = false;
        var sawEnd = false;
        while (!sawEnd)
        {
            if (pos + 8 > data.Length)
            {
                throw new DataFormatException(source, sawHeader ? "truncated: the file ends before its IEND chunk" : "truncated: no IHDR chunk");
            }
            var length = BinaryPrimitives.ReadUInt32BigEndian(data.Slice(pos, 4));
            var typeBytes = data.Slice(pos + 4, 4);
            var type = Encoding.ASCII.GetString(typeBytes);
            if (length > int.MaxValue || pos + 12L + length > data.Length)
            {
                throw new DataFormatException(source, $"truncated or bad length in chunk '{Printable(type)}' ({length} bytes declared, {Math.Max(0, data.Length - pos - 12)} present)");
            }
            var body = data.Slice(pos + 8, (int)length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(data.Slice(pos + 8 + (int)length, 4));
            if (Crc32.Compute(typeBytes, body) != crc)
            {
                throw new DataFormatException(source, $"bad CRC in chunk '{Printable(type)}'");
            }
            pos += 12 + (int)length;
            if (!sawHeader && type != "IHDR")
            {
                throw new DataFormatException(source, $"the first chunk is '{Printable(type)}', expected IHDR");
            }
            switch (type)
            {
                case "IHDR":
                    if (sawHeader)
                    {
                        throw new DataFormatException(source, "two IHDR chunks");
                    }
                    if (length != 13)
                    {
                        throw new DataFormatException(source, $"IHDR is {length} bytes, expected 13");
                    }
                    width = BinaryPrimitives.ReadInt32BigEndian(body[..4]);
                    height = BinaryPrimitives.ReadInt32BigEndian(body.Slice(4, 4));
                    bitDepth = body[8];
                    colourType = body[9];
                    interlace = body[12];
                    ValidateHeader(source, width, height, bitDepth, colourType, body[10], body[11], interlace);
                    sawHeader = true;
                    break;
                case "PLTE":
                    if (length % 3 != 0 || length == 0 || length > 768)
                    {
                        throw new DataFormatException(source, $"PLTE of {length} bytes (expected a multiple of 3, at most 768)");
                    }
                    palette = body.ToArray();
                    break;
                case "IDAT":
                    idat.Write(body);
                    break;
                case "IEND":
                    sawEnd = true;
                    break;
                default:
                    if (char.IsUpper((char)typeBytes[0]))
                    {
                        throw new DataFormatException(source, $"unsupported critical chunk '{Printable(type)}'");
                    }
                    break; // ancillary chunks (tRNS, gAMA, tEXt, ...) are not needed
            }
        }
        if (colourType == 3 && palette is null)
        {
            throw new DataFormatException(source, "palette image without a PLTE chunk");
        }
        if (idat.Length == 0)
        {
            throw new DataFormatException(source, "no image data (IDAT)");
        }

        var samplesPerPixel = colourType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        var bitsPerPixel = samplesPerPixel * bitDepth;
        var bpp = Math.Max(1, bitsPerPixel / 8);
        var passes = interlace == 1 ? s_adam7 : [(0, 0, 1, 1)];
        long expected = 0;
        foreach (var (x0, y0, dx, dy) in passes)
        {
            var pw = PassSize(width, x0, dx);
            var ph = PassSize(height, y0, dy);
            if (pw > 0 && ph > 0)
            {
                expected += ph * (1 + ((((long)pw * bitsPerPixel) + 7) / 8));
            }
        }
        var raw = Inflate(idat.ToArray(), expected, source);

        var outChannels = colourType == 3 ? 3 : samplesPerPixel;
        var pixels = new byte[(long)width * height * outChannels];
        var offset = 0;
        foreach (var (x0, y0, dx, dy) in passes)
        {
            var pw = PassSize(width, x0, dx);
            var ph = PassSize(height, y0, dy);
            if (pw == 0 || ph == 0)
            {
                continue;
            }
            var rowBytes = (int)((((long)pw * bitsPerPixel) + 7) / 8);
            var prev = new byte[rowBytes];
            var cur = new byte[rowBytes];
            for (var r = 0; r < ph; r++)
            {
                var filter = raw[offset];
                raw.AsSpan(offset + 1, rowBytes).CopyTo(cur);
                offset += 1 + rowBytes;
                Unfilter(source, filter, cur, prev, bpp);
                StoreRow(source, cur, pw, y0 + (r * dy), x0, dx, width, bitDepth, colourType, samplesPerPixel, palette, pixels, outChannels);
                (prev, cur) = (cur, prev);
            }
        }
        return new RasterImage(width, height, outChannels, pixels);
    }

    private static string Printable(string type) => new([.. type.Select(c => c is >= ' ' and <= '~' ? c : '?')]);

    private static int PassSize(int size, int start, int step) => size <= start ? 0 : ((size - start) + step - 1) / step;

    private static void ValidateHeader(string source, int width, int height, int bitDepth, int colourType, int compression, int filter, int interlace)
    {
        if (width <= 0 || height <= 0)
        {
            throw new DataFormatException(source, $"image size {width}x{height} is not positive");
        }
        if ((long)width * height > MaxPixels)
        {
            throw new DataFormatException(source, $"image size {width}x{height} exceeds the limit of {MaxPixels} pixels");
        }
        var ok = colourType switch
        {
            0 => bitDepth is 1 or 2 or 4 or 8 or 16,
            3 => bitDepth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => bitDepth is 8 or 16,
            _ => false,
        };
        if (!ok)
        {
            throw new DataFormatException(source, $"colour type {colourType} with bit depth {bitDepth} is not a valid PNG combination");
        }
        if (compression != 0 || filter != 0 || interlace > 1)
        {
            throw new DataFormatException(source, $"unknown compression ({compression}), filter ({filter}) or interlace ({interlace}) method");
        }
    }

    private static byte[] Inflate(byte[] compressed, long expected, string source)
    {
        if (expected > int.MaxValue)
        {
            throw new DataFormatException(source, "image data too large");
        }
        var result = new byte[expected];
        try
        {
            using var zs = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
            var read = 0;
            while (read < result.Length)
            {
                var n = zs.Read(result, read, result.Length - read);
                if (n == 0)
                {
                    throw new DataFormatException(source, $"image data ends early: {read} of {expected} bytes after decompression");
                }
                read += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(source, $"bad zlib data in IDAT ({e.Message})", e);
        }
        return result;
    }

    // Reverses one row's filter in place. prev is the unfiltered previous row (zeros for the first).
    private static void Unfilter(string source, byte filter, Span<byte> cur, ReadOnlySpan<byte> prev, int bpp)
    {
        switch (filter)
        {
            case 0:
                break;
            case 1:
                for (var i = bpp; i < cur.Length; i++)
                {
                    cur[i] += cur[i - bpp];
                }
                break;
            case 2:
                for (var i = 0; i < cur.Length; i++)
                {
                    cur[i] += prev[i];
                }
                break;
            case 3:
                for (var i = 0; i < cur.Length; i++)
                {
                    var left = i >= bpp ? cur[i - bpp] : 0;
                    cur[i] += (byte)((left + prev[i]) >> 1);
                }
                break;
            case 4:
                for (var i = 0; i < cur.Length; i++)
                {
                    var a = i >= bpp ? cur[i - bpp] : 0;
                    var b = prev[i];
                    var c = i >= bpp ? prev[i - bpp] : 0;
                    cur[i] += Paeth(a, b, c);
                }
                break;
            default:
                throw new DataFormatException(source, $"unknown filter type {filter}");
        }
    }

    private static byte Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        var pa = Math.Abs(p - a);
        var pb = Math.Abs(p - b);
        var pc = Math.Abs(p - c);
        return (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
    }

    private static void StoreRow(string source, ReadOnlySpan<byte> row, int count, int y, int x0, int dx, int width, int bitDepth, int colourType, int spp, byte[]? palette, byte[] pixels, int outChannels)
    {
        for (var i = 0; i < count; i++)
        {
            var dst = ((((long)y * width) + x0 + ((long)i * dx)) * outChannels);
            if (bitDepth < 8)
            {
                var bit = i * bitDepth;
                var v = (row[bit >> 3] >> (8 - bitDepth - (bit & 7))) & ((1 << bitDepth) - 1);
                if (colourType == 3)
                {
                    WritePalette(source, v, palette!, pixels, dst);
                }
                else
                {
                    pixels[dst] = (byte)(v * 255 / ((1 << bitDepth) - 1));
                }
                continue;
            }
            var stride = bitDepth / 8;
            if (colourType == 3)
            {
                WritePalette(source, row[i], palette!, pixels, dst);
                continue;
            }
            for (var s = 0; s < spp; s++)
            {
                // 16-bit samples are big-endian; the high byte is the 8-bit value.
                pixels[dst + s] = row[((i * spp) + s) * stride];
            }
        }
    }

    private static void WritePalette(string source, int index, byte[] palette, byte[] pixels, long dst)
    {
        if (index * 3 >= palette.Length)
        {
            throw new DataFormatException(source, $"palette index {index} is beyond the {palette.Length / 3} palette entries");
        }
        pixels[dst] = palette[index * 3];
        pixels[dst + 1] = palette[(index * 3) + 1];
        pixels[dst + 2] = palette[(index * 3) + 2];
    }

    // ---- encoder ------------------------------------------------------------------------------------

    /// <summary>Encodes 8-bit grey (channels 1) or RGB (channels 3) pixels given interleaved (H, W, C).</summary>
    public static byte[] Encode(int width, int height, int channels, ReadOnlySpan<byte> pixels)
    {
        if (channels is not (1 or 3))
        {
            throw new ArgumentException($"PNG encoding supports 1 (grey) or 3 (RGB) channels, not {channels}", nameof(channels));
        }
        if (width <= 0 || height <= 0 || pixels.Length != (long)width * height * channels)
        {
            throw new ArgumentException($"{pixels.Length} bytes do not make a {width}x{height}x{channels} image", nameof(pixels));
        }
        var rowBytes = width * channels;
        var filtered = new byte[height * (rowBytes + 1)];
        var prev = new byte[rowBytes];
        var candidate = new byte[rowBytes];
        for (var y = 0; y < height; y++)
        {
            var cur = pixels.Slice(y * rowBytes, rowBytes);
            // Pick the filter with the smallest sum of absolute values (the heuristic the PNG spec suggests).
            var best = 0;
            var bestScore = long.MaxValue;
            for (var f = 0; f < 5; f++)
            {
                Filter(f, cur, prev, channels, candidate);
                long score = 0;
                foreach (var b in candidate)
                {
                    score += b < 128 ? b : 256 - b;
                }
                if (score < bestScore)
                {
                    bestScore = score;
                    best = f;
                }
            }
            var dst = filtered.AsSpan(y * (rowBytes + 1), rowBytes + 1);
            dst[0] = (byte)best;
            Filter(best, cur, prev, channels, dst[1..]);
            cur.CopyTo(prev);
        }
        using var idat = new MemoryStream();
        using (var zs = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
        {
            zs.Write(filtered);
        }
        using var png = new MemoryStream();
        png.Write(s_signature);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = (byte)(channels == 1 ? 0 : 2);
        WriteChunk(png, "IHDR", ihdr);
        WriteChunk(png, "IDAT", idat.ToArray());
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>Encodes planar (C, H, W) bytes with C 1 or 3 and writes the file atomically.</summary>
    public static void WritePlanar(string path, int channels, int height, int width, ReadOnlySpan<byte> planar, bool durable = true)
    {
        var plane = width * height;
        var interleaved = new byte[planar.Length];
        for (var p = 0; p < plane; p++)
        {
            for (var c = 0; c < channels; c++)
            {
                interleaved[(p * channels) + c] = planar[(c * plane) + p];
            }
        }
        AtomicFile.Write(path, Encode(width, height, channels, interleaved), durable);
    }

    private static void Filter(int f, ReadOnlySpan<byte> cur, ReadOnlySpan<byte> prev, int bpp, Span<byte> dst)
    {
        for (var i = 0; i < cur.Length; i++)
        {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
            dst[i] = f switch
            {
                0 => cur[i],
                1 => (byte)(cur[i] - a),
                2 => (byte)(cur[i] - b),
                3 => (byte)(cur[i] - ((a + b) >> 1)),
                _ => (byte)(cur[i] - Paeth(a, b, c)),
            };
        }
    }

    private static void WriteChunk(Stream s, string type, byte[] body)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(len, (uint)body.Length);
        s.Write(len);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(body);
        BinaryPrimitives.WriteUInt32BigEndian(len, Crc32.Compute(typeBytes, body));
        s.Write(len);
    }
}
