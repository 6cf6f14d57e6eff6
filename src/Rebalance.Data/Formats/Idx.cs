using System.Buffers.Binary;
using System.IO.Compression;

namespace Rebalance.Data.Formats;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): two zero bytes, a type byte (0x08 for
/// unsigned bytes, the only type image datasets use), the number of dimensions, each dimension as a
/// big-endian int32, then the data. Files may be gzip-compressed (detected by their first bytes).
/// </summary>
public static class Idx
{
    /// <summary>Reads an IDX file of unsigned bytes: its dimensions and data.</summary>
    public static (int[] Dims, byte[] Data) Read(string path)
    {
        return Parse(DataFiles.ReadAllBytes(path), path);
    }

    /// <summary>Parses IDX bytes (plain or gzip); <paramref name="path"/> names the source in errors.</summary>
    public static (int[] Dims, byte[] Data) Parse(byte[] raw, string path)
    {
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            raw = Gunzip(raw, path);
        }
        if (raw.Length < 4)
        {
            throw new DataFormatException(path, $"too short for an IDX header ({raw.Length} bytes)");
        }
        if (raw[0] != 0 || raw[1] != 0)
        {
            throw new DataFormatException(path, $"bad magic number {raw[0]:x2} {raw[1]:x2} {raw[2]:x2} {raw[3]:x2} (an IDX file starts with 00 00)");
        }
        if (raw[2] != 0x08)
        {
            throw new DataFormatException(path, $"IDX element type 0x{raw[2]:x2} is not supported (expected 0x08, unsigned bytes)");
        }
        var rank = raw[3];
        if (rank is 0 or > 4)
        {
            throw new DataFormatException(path, $"IDX file has {rank} dimensions (expected 1 to 4)");
        }
        if (raw.Length < 4 + (4 * rank))
        {
            throw new DataFormatException(path, $"truncated header: {rank} dimensions need {4 + (4 * rank)} bytes, file has {raw.Length}");
        }
        var dims = new int[rank];
        long count = 1;
        for (var d = 0; d < rank; d++)
        {
            var v = BinaryPrimitives.ReadInt32BigEndian(raw.AsSpan(4 + (4 * d), 4));
            if (v < 0)
            {
                throw new DataFormatException(path, $"dimension {d} is negative ({v})");
            }
            dims[d] = v;
            count *= v;
        }
        var offset = 4 + (4 * rank);
        var available = raw.Length - offset;
        if (count != available)
        {
            var shape = string.Join(" x ", dims);
            throw new DataFormatException(path, count > available
                ? $"truncated: the header promises {shape} = {count} bytes of data, the file has {available}"
                : $"{available - count} bytes of trailing data after {shape} = {count} bytes");
        }
        return (dims, raw.AsSpan(offset).ToArray());
    }

    private static byte[] Gunzip(byte[] raw, string path)
    {
        try
        {
            using var input = new MemoryStream(raw);
            using var gz = new GZipStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            gz.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"corrupt gzip data ({e.Message})", e);
        }
    }

    /// <summary>Writes an IDX file of unsigned bytes (uncompressed).</summary>
    public static void Write(string path, int[] dims, byte[] data)
    {
        var header = new byte[4 + (4 * dims.Length)];
        header[2] = 0x08;
        header[3] = (byte)dims.Length;
        for (var d = 0; d < dims.Length; d++)
        {
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + (4 * d)), dims[d]);
        }
        AtomicFile.Write(path, [.. header, .. data]);
    }

    /// <summary>
    /// Loads an image file (N, H, W) and a label file (N) as a dataset of grey images.
    /// </summary>
    public static Dataset LoadPair(string name, string imagesPath, string labelsPath, string[] classNames)
    {
        var (idims, pixels) = Read(imagesPath);
        var (ldims, labelBytes) = Read(labelsPath);
        if (idims.Length != 3)
        {
            throw new DataFormatException(imagesPath, $"expected images of 3 dimensions (N, H, W), found {idims.Length}");
        }
        if (ldims.Length != 1)
        {
            throw new DataFormatException(labelsPath, $"expected labels of 1 dimension (N), found {ldims.Length}");
        }
        if (idims[0] != ldims[0])
        {
            throw new DataFormatException(labelsPath, $"{ldims[0]} labels for the {idims[0]} images of {imagesPath}");
        }
        var labels = new int[labelBytes.Length];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = labelBytes[i];
            if (labels[i] >= classNames.Length)
            {
                throw new DataFormatException(labelsPath, $"label {labels[i]} at position {i} is outside the {classNames.Length} classes");
            }
        }
        return new Dataset(name, pixels, labels, 1, idims[1], idims[2], classNames);
    }
}
