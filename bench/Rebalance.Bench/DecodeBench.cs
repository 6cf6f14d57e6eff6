using System.Diagnostics;
using Rebalance.Data;
using Rebalance.Data.Formats;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using StbImageSharp;
using Tensors = Rebalance.Tensors;

namespace Rebalance.Bench;

/// <summary>
/// The measurement behind the choice of image decoder (README, "Image formats"): decode speed of 10,000
/// small images (MNIST-sized grey and CIFAR-sized colour, as PNG and JPEG) with the project's PNG codec,
/// StbImageSharp and SixLabors.ImageSharp, one thread; then how each decoder treats 3,000 corrupt files
/// (truncated, bytes overwritten): a clean error, another exception, a wrong image, or a slow decode.
/// </summary>
internal static class DecodeBench
{
    public static void Run()
    {
        Console.WriteLine("image decoding: 10,000 images per row, one thread; images/s (higher is better)");
        Console.WriteLine($"{"images",-24} {"ours (PNG)",12} {"StbImageSharp",14} {"ImageSharp",12}");
        foreach (var (label, channels, size, jpeg) in new[] { ("28x28 grey PNG", 1, 28, false), ("32x32 RGB PNG", 3, 32, false), ("28x28 grey JPEG q90", 1, 28, true), ("32x32 RGB JPEG q90", 3, 32, true) })
        {
            var files = Make(10_000, channels, size, jpeg);
            var ours = jpeg ? double.NaN : Rate(files, b => Png.Decode(b).Pixels.Length);
            var stb = Rate(files, b => ImageResult.FromMemory(b, ColorComponents.Default).Data.Length);
            var sharp = Rate(files, b => SixLabors.ImageSharp.Image.Load<Rgb24>(b).Width);
            Console.WriteLine($"{label,-24} {(double.IsNaN(ours) ? "-" : ours.ToString("N0")),12} {stb,14:N0} {sharp,12:N0}");
        }
        Console.WriteLine();
        Console.WriteLine("corrupt files: 1,000 mutants each of a PNG, a grey JPEG and an RGB JPEG (truncations, overwritten bytes)");
        Console.WriteLine($"{"decoder",-14} {"clean error",12} {"decoded",8} {"other exception",16} {"slowest ms",11}  exceptions seen");
        var seeds = new[] { Make(1, 1, 28, false)[0], Make(1, 1, 28, true)[0], Make(1, 3, 32, true)[0] };
        Corrupt("ours+stb", seeds, b => ImageFiles.Decode(b, "mutant"), e => e is DataException);
        Corrupt("StbImageSharp", seeds, b => ImageResult.FromMemory(b, ColorComponents.Default), _ => false);
        Corrupt("ImageSharp", seeds, b => SixLabors.ImageSharp.Image.Load<Rgb24>(b), e => e is ImageFormatException or UnknownImageFormatException or InvalidImageContentException);
        Console.WriteLine("(ours+stb: the library's path, ImageFiles.Decode; stb alone has no error type of its own, so every exception counts as 'other')");
    }

    private static byte[][] Make(int count, int channels, int size, bool jpeg)
    {
        var gen = new Tensors.Generator(11);
        var result = new byte[count][];
        var planar = new byte[channels * size * size];
        for (var i = 0; i < count; i++)
        {
            // A blurred stroke on a dark background, with noise, like the datasets this tool sees.
            var angle = gen.NextDouble() * Math.PI;
            for (var c = 0; c < channels; c++)
            {
                for (var y = 0; y < size; y++)
                {
                    for (var x = 0; x < size; x++)
                    {
                        var d = Math.Abs(((x - (size / 2)) * Math.Sin(angle)) - ((y - (size / 2)) * Math.Cos(angle)));
                        planar[(c * size * size) + (y * size) + x] = (byte)Math.Clamp((255 * Math.Exp(-d * d / 6)) + (gen.NextNormal() * 12) + (c * 20), 0, 255);
                    }
                }
            }
            if (!jpeg)
            {
                var interleaved = Interleave(planar, channels, size);
                result[i] = Png.Encode(size, size, channels, interleaved);
                continue;
            }
            using var image = channels == 1
                ? (SixLabors.ImageSharp.Image)SixLabors.ImageSharp.Image.LoadPixelData<L8>(Interleave(planar, 1, size), size, size)
                : SixLabors.ImageSharp.Image.LoadPixelData<Rgb24>(Interleave(planar, 3, size), size, size);
            using var ms = new MemoryStream();
            image.SaveAsJpeg(ms, new JpegEncoder { Quality = 90 });
            result[i] = ms.ToArray();
        }
        return result;
    }

    private static byte[] Interleave(byte[] planar, int channels, int size)
    {
        var plane = size * size;
        var result = new byte[channels * plane];
        for (var p = 0; p < plane; p++)
        {
            for (var c = 0; c < channels; c++)
            {
                result[(p * channels) + c] = planar[(c * plane) + p];
            }
        }
        return result;
    }

    private static double Rate(byte[][] files, Func<byte[], int> decode)
    {
        for (var i = 0; i < 500; i++)
        {
            decode(files[i]);
        }
        var best = double.MaxValue;
        for (var pass = 0; pass < 3; pass++)
        {
            var sw = Stopwatch.StartNew();
            foreach (var f in files)
            {
                decode(f);
            }
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return files.Length / best;
    }

    private static void Corrupt(string name, byte[][] seeds, Action<byte[]> decode, Func<Exception, bool> clean)
    {
        var gen = new Tensors.Generator(5);
        int ok = 0, decoded = 0, other = 0;
        var slowest = 0.0;
        var kinds = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 3_000; i++)
        {
            var seed = seeds[i % seeds.Length];
            var bytes = (byte[])seed.Clone();
            if (gen.NextInt(2) == 0)
            {
                bytes = bytes[..gen.NextInt(bytes.Length)];
            }
            else
            {
                for (var k = 1 + gen.NextInt(4); k > 0; k--)
                {
                    bytes[gen.NextInt(bytes.Length)] = (byte)gen.NextInt(256);
                }
            }
            // JPEGs whose structure is broken are not given to stb alone: some (a file cut inside its
            // headers) make it spin forever, and this row would never finish. ImageFiles.Decode checks
            // the structure first.
            if (name == "StbImageSharp" && IsBrokenJpeg(bytes))
            {
                kinds.Add("(broken JPEG structure: skipped)");
                continue;
            }
            var sw = Stopwatch.StartNew();
            try
            {
                decode(bytes);
                decoded++;
            }
            catch (Exception e)
            {
                kinds.Add(e.GetType().Name);
                if (clean(e))
                {
                    ok++;
                }
                else
                {
                    other++;
                }
            }
            slowest = Math.Max(slowest, sw.Elapsed.TotalMilliseconds);
        }
        Console.WriteLine($"{name,-14} {ok,12:N0} {decoded,8:N0} {other,16:N0} {slowest,11:F1}  {string.Join(", ", kinds)}");
    }

    private static bool IsBrokenJpeg(byte[] bytes)
    {
        if (bytes.Length < 3 || bytes[0] != 0xFF || bytes[1] != 0xD8)
        {
            return false;
        }
        try
        {
            ImageFiles.CheckJpegStructure(bytes, "x");
            return false;
        }
        catch (DataFormatException)
        {
            return true;
        }
    }
}
