using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>
/// The safetensors file format (as written by Hugging Face's <c>safetensors</c> library): an 8-byte
/// little-endian header length N, N bytes of JSON mapping each tensor name to its dtype, shape and
/// [begin, end) byte offsets into the data that follows, padded with spaces to a multiple of 8, then
/// the data. String metadata sits under "__metadata__". Files written here load in PyTorch with
/// <c>safetensors.torch.load_file</c>.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100L << 20;

    /// <summary>Writes the tensors (in order) and metadata to <paramref name="path"/> atomically: through a
    /// temporary file in the same folder, flushed to disk, then renamed over the target.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 })
        {
            header["__metadata__"] = metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value);
        }
        long offset = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in list)
        {
            if (name == "__metadata__" || !names.Add(name))
            {
                throw new ArgumentException($"safetensors: tensor name '{name}' is reserved or repeated");
            }
            var bytes = (long)t.Numel * t.ElementSize;
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = DTypeName(t.DType),
                ["shape"] = t.Shape,
                ["data_offsets"] = new[] { offset, offset + bytes },
            };
            offset += bytes;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        var padded = (json.Length + 7) / 8 * 8;
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
                fs.Write(len);
                fs.Write(json);
                for (var i = json.Length; i < padded; i++)
                {
                    fs.WriteByte((byte)' ');
                }
                foreach (var (_, t) in list)
                {
                    var buf = new byte[t.Numel * t.ElementSize];
                    t.WriteBytes(buf);
                    fs.Write(buf);
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    /// <summary>Reads every tensor and the metadata. Any inconsistency (truncated file, bad header length,
    /// bad JSON, unknown dtype, offsets outside the data or overlapping, sizes that do not match the shape)
    /// is a <see cref="CheckpointException"/> naming the file and the tensor.</summary>
    public static (OrderedDictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path}: cannot read the checkpoint: {e.Message}", e);
        }
        return Parse(file, path);
    }

    /// <summary>Parses a whole safetensors file held in memory (<paramref name="source"/> names it in errors).</summary>
    public static (OrderedDictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Parse(ReadOnlySpan<byte> file, string source)
    {
        if (file.Length < 8)
        {
            throw new CheckpointException($"{source}: {file.Length} bytes is too short for a safetensors file (at least an 8-byte header length)");
        }
        var n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (n < 2 || n > MaxHeaderBytes || n > (ulong)(file.Length - 8))
        {
            throw new CheckpointException($"{source}: header length {n} does not fit a file of {file.Length} bytes (expected 2..{Math.Min(MaxHeaderBytes, file.Length - 8)})");
        }
        var headerBytes = file.Slice(8, (int)n);
        var data = file[(8 + (int)n)..];
        if (headerBytes[0] != (byte)'{')
        {
            throw new CheckpointException($"{source}: the header does not start with '{{'; this is not a safetensors file");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(Encoding.UTF8.GetString(headerBytes).TrimEnd(' '));
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw new CheckpointException($"{source}: the header is not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointException($"{source}: the header is not a JSON object");
            }
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<(string Name, DType DType, string Stored, int[] Shape, long Begin, long End)>();
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw new CheckpointException($"{source}: __metadata__ must be an object of strings");
                    }
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new CheckpointException($"{source}: metadata '{m.Name}' is not a string");
                    }
                    continue;
                }
                entries.Add(ParseEntry(prop, source));
            }
            // The data must be covered exactly: no overlaps, no holes, nothing past the end.
            long expected = 0;
            foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin != expected)
                {
                    throw new CheckpointException($"{source}: tensor '{e.Name}' starts at byte {e.Begin} of the data, expected {expected} ({(e.Begin < expected ? "it overlaps another tensor" : "a hole precedes it")})");
                }
                expected = e.End;
            }
            if (expected != data.Length)
            {
                throw new CheckpointException($"{source}: the tensors cover {expected} bytes but the data holds {data.Length} (truncated or padded file)");
            }
            var tensors = new OrderedDictionary<string, Tensor>();
            foreach (var e in entries)
            {
                tensors[e.Name] = Decode(data.Slice((int)e.Begin, (int)(e.End - e.Begin)), e.Stored, e.DType, e.Shape, e.Name, source);
            }
            return (tensors, metadata);
        }
    }

    private static (string Name, DType DType, string Stored, int[] Shape, long Begin, long End) ParseEntry(JsonProperty prop, string source)
    {
        var name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object || !v.TryGetProperty("dtype", out var dt) || !v.TryGetProperty("shape", out var sh) || !v.TryGetProperty("data_offsets", out var off)
            || dt.ValueKind != JsonValueKind.String || sh.ValueKind != JsonValueKind.Array || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
        {
            throw new CheckpointException($"{source}: tensor '{name}' needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])");
        }
        var stored = dt.GetString()!;
        var (dtype, size) = stored switch
        {
            "F32" => (DType.Float32, 4),
            "F64" => (DType.Float64, 8),
            "F16" or "BF16" => (DType.Float32, 2),
            "I32" => (DType.Int32, 4),
            "I64" => (DType.Int32, 8),
            "I16" => (DType.Int32, 2),
            "I8" or "U8" or "BOOL" => (DType.Int32, 1),
            _ => throw new CheckpointException($"{source}: tensor '{name}' has dtype '{stored}', which is not supported (F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL)"),
        };
        var shape = new List<int>();
        long count = 1;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var di) || di < 0)
            {
                throw new CheckpointException($"{source}: tensor '{name}' has a bad shape {sh.GetRawText()}");
            }
            shape.Add(di);
            count *= di;
            if (count > int.MaxValue)
            {
                throw new CheckpointException($"{source}: tensor '{name}' of shape {sh.GetRawText()} is too large");
            }
        }
        if (!off[0].TryGetInt64(out var begin) || !off[1].TryGetInt64(out var end) || begin < 0 || end < begin)
        {
            throw new CheckpointException($"{source}: tensor '{name}' has bad data offsets {off.GetRawText()}");
        }
        if (end - begin != count * size)
        {
            throw new CheckpointException($"{source}: tensor '{name}' ({stored}, shape {sh.GetRawText()}) needs {count * size} bytes but its offsets {off.GetRawText()} give {end - begin}");
        }
        return (name, dtype, stored, [.. shape], begin, end);
    }

    private static Tensor Decode(ReadOnlySpan<byte> bytes, string stored, DType dtype, int[] shape, string name, string source)
    {
        switch (stored)
        {
            case "F32":
            case "F64":
            case "I32":
                return Tensor.FromBytes(bytes, dtype, shape);
            case "F16":
            case "BF16":
            {
                var values = new float[bytes.Length / 2];
                for (var i = 0; i < values.Length; i++)
                {
                    var bits = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]);
                    values[i] = stored == "F16" ? (float)BitConverter.UInt16BitsToHalf(bits) : BitConverter.Int32BitsToSingle(bits << 16);
                }
                return Tensor.FromArray(values, shape.Length == 0 ? [] : shape).Reshape(shape);
            }
            default:
            {
                var size = stored switch { "I64" => 8, "I16" => 2, _ => 1 };
                var values = new int[bytes.Length / size];
                for (var i = 0; i < values.Length; i++)
                {
                    long v = stored switch
                    {
                        "I64" => BinaryPrimitives.ReadInt64LittleEndian(bytes[(8 * i)..]),
                        "I16" => BinaryPrimitives.ReadInt16LittleEndian(bytes[(2 * i)..]),
                        "I8" => (sbyte)bytes[i],
                        _ => bytes[i],
                    };
                    if (v is < int.MinValue or > int.MaxValue)
                    {
                        throw new CheckpointException($"{source}: tensor '{name}' holds {v.ToString(CultureInfo.InvariantCulture)}, outside the int32 range used for integer tensors");
                    }
                    values[i] = (int)v;
                }
                return Tensor.FromArray(values, shape.Length == 0 ? [] : shape).Reshape(shape);
            }
        }
    }

    private static string DTypeName(DType d) => d switch
    {
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        _ => "I32",
    };
}
