using Rebalance.Tensors;

namespace Rebalance.Generative.Adversarial;

/// <summary>
/// Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
/// Training"): the same random transforms are applied to real and generated images before the
/// discriminator sees them, built from differentiable tensor ops so that G's gradient passes through.
/// Policies: <c>color</c> (brightness ±0.5, saturation ×[0, 2] for colour images, contrast ×[0.5, 1.5]),
/// <c>translation</c> (shift by up to 1/8 of the size, zero fill), <c>cutout</c> (a zeroed square of half
/// the size). Images are in [-1, 1].
/// </summary>
public sealed class DiffAugment
{
    /// <summary>Known policies.</summary>
    public static IReadOnlyList<string> Names { get; } = ["color", "translation", "cutout"];

    private readonly string[] _policies;

    /// <summary>The transforms named, applied in the order given.</summary>
    public DiffAugment(IReadOnlyList<string> policies)
    {
        foreach (var p in policies)
        {
            if (!Names.Contains(p))
            {
                throw new ArgumentException($"unknown differentiable augmentation '{p}' (known: {string.Join(", ", Names)})");
            }
        }
        _policies = [.. policies];
    }

    /// <summary>The policies.</summary>
    public IReadOnlyList<string> Policies => _policies;

    /// <summary>Augments a batch (N, C, H, W).</summary>
    public Tensor Apply(Tensor x, Generator gen)
    {
        foreach (var p in _policies)
        {
            x = p switch
            {
                "color" => Color(x, gen),
                "translation" => Translate(x, gen, 0.125),
                _ => Cutout(x, gen, 0.5),
            };
        }
        return x;
    }

    private static Tensor Color(Tensor x, Generator gen)
    {
        var n = x.Size(0);
        // The reference implementation's constants, which it also applies to [-1, 1] images.
        x = x + gen.Uniform([n, 1, 1, 1], -0.5, 0.5);
        if (x.Size(1) > 1)
        {
            var mean = x.Mean(1, keepDim: true);
            x = ((x - mean) * gen.Uniform([n, 1, 1, 1], 0, 2)) + mean;
        }
        var m = x.Mean([1, 2, 3], keepDim: true);
        return ((x - m) * gen.Uniform([n, 1, 1, 1], 0.5, 1.5)) + m;
    }

    /// <summary>Shifts each image by its own (dy, dx) in [−r·size, r·size], filling with zeros as the reference
    /// implementation does.</summary>
    private static Tensor Translate(Tensor x, Generator gen, double ratio)
    {
        var (n, c, h, w) = (x.Size(0), x.Size(1), x.Size(2), x.Size(3));
        var sy = (int)(h * ratio + 0.5);
        var sx = (int)(w * ratio + 0.5);
        var hw = h * w;
        var index = new int[n * c * hw];
        for (var i = 0; i < n; i++)
        {
            var dy = gen.NextInt((2 * sy) + 1) - sy;
            var dx = gen.NextInt((2 * sx) + 1) - sx;
            for (var y = 0; y < h; y++)
            {
                for (var xx = 0; xx < w; xx++)
                {
                    var (yy, xs) = (y + dy, xx + dx);
                    var src = yy >= 0 && yy < h && xs >= 0 && xs < w ? (yy * w) + xs : hw;
                    for (var ch = 0; ch < c; ch++)
                    {
                        index[(((i * c) + ch) * hw) + (y * w) + xx] = src;
                    }
                }
            }
        }
        // One zero column after the pixels is the source of every uncovered position.
        var flat = Tensor.Concat([x.Reshape(n, c, hw), Tensor.Zeros([n, c, 1])], 2);
        return flat.Gather(2, Tensor.FromArray(index, n, c, hw)).Reshape(n, c, h, w);
    }

    private static Tensor Cutout(Tensor x, Generator gen, double ratio)
    {
        var (n, h, w) = (x.Size(0), x.Size(2), x.Size(3));
        var ch = (int)(h * ratio + 0.5);
        var cw = (int)(w * ratio + 0.5);
        var mask = new float[n * h * w];
        mask.AsSpan().Fill(1);
        for (var i = 0; i < n; i++)
        {
            var cy = gen.NextInt(h + (1 - (ch % 2))) - (ch / 2);
            var cx = gen.NextInt(w + (1 - (cw % 2))) - (cw / 2);
            for (var y = Math.Max(0, cy); y < Math.Min(h, cy + ch); y++)
            {
                for (var xx = Math.Max(0, cx); xx < Math.Min(w, cx + cw); xx++)
                {
                    mask[(i * h * w) + (y * w) + xx] = 0;
                }
            }
        }
        return x * Tensor.FromArray(mask, n, 1, h, w);
    }
}
