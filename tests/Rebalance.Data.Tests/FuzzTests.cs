using System.Buffers.Binary;
using Rebalance.Data.Formats;
using Rebalance.Tensors;

namespace Rebalance.Data.Tests;

/// <summary>
/// Feeds mutated PNG and IDX files to the decoders. Each must decode or throw the library's own
/// <see cref="DataException"/>; any other exception, or a hang, fails. Half of the PNG mutations have
/// their chunk CRCs repaired afterwards, so they reach the decompressor and unfilter code.
/// </summary>
public class FuzzTests
{
    /// <summary>A random byte change, truncation, insertion or bit flip of <paramref name="seed"/> (a copy).</summary>
    internal static byte[] Mutate(byte[] seed, Generator gen)
    {
        var data = (byte[])seed.Clone();
        switch (gen.NextInt(4))
        {
            case 0:
                for (var k = 1 + gen.NextInt(4); k > 0; k--)
                {
                    data[gen.NextInt(data.Length)] = (byte)gen.NextInt(256);
                }
                return data;
            case 1:
                return data[..gen.NextInt(data.Length)];
            case 2:
                var at = gen.NextInt(data.Length);
                var insert = new byte[1 + gen.NextInt(8)];
                for (var i = 0; i < insert.Length; i++)
                {
                    insert[i] = (byte)gen.NextInt(256);
                }
                return [.. data[..at], .. insert, .. data[at..]];
            default:
                var p = gen.NextInt(data.Length);
                data[p] ^= (byte)(1 << gen.NextInt(8));
                return data;
        }
    }

    private static void RepairCrcs(byte[] png)
    {
        var pos = 8;
        while (pos + 12 <= png.Length)
        {
            var len = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos));
            if (len > (uint)(png.Length - pos - 12))
            {
                return;
            }
            PngTests.FixCrc(png, pos);
            pos += 12 + (int)len;
        }
    }

    [Fact]
    public void TenThousandMutatedPngFilesOnlyThrowDataErrors()
    {
        var seeds = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "png"), "*.png").Order().Select(File.ReadAllBytes).ToArray();
        var gen = new Generator(77);
        var decoded = 0;
        var started = DateTime.UtcNow;
        for (var i = 0; i < 10000; i++)
        {
            var bytes = Mutate(seeds[i % seeds.Length], gen);
            if (i % 2 == 0)
            {
                RepairCrcs(bytes);
            }
            try
            {
                Png.Decode(bytes, $"mutant{i}.png");
                decoded++;
            }
            catch (DataException)
            {
            }
        }
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(60), "fuzzing took too long (a decoder may be stuck)");
        Assert.InRange(decoded, 1, 9999); // some mutants survive (ancillary bytes), most are caught
    }

    [Fact]
    public void TenThousandMutatedIdxFilesOnlyThrowDataErrors()
    {
        var header = new byte[16];
        header[2] = 8;
        header[3] = 3;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 3);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), 4);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), 4);
        byte[] seed = [.. header, .. Enumerable.Range(0, 48).Select(i => (byte)i)];
        using var ms = new MemoryStream();
        using (var gz = new System.IO.Compression.GZipStream(ms, System.IO.Compression.CompressionLevel.Fastest))
        {
            gz.Write(seed);
        }
        var seeds = new[] { seed, ms.ToArray() };
        var gen = new Generator(78);
        for (var i = 0; i < 10000; i++)
        {
            try
            {
                Idx.Parse(Mutate(seeds[i % 2], gen), $"mutant{i}");
            }
            catch (DataException)
            {
            }
        }
    }
}
