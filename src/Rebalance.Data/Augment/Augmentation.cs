using Rebalance.Tensors;

namespace Rebalance.Data.Augment;

/// <summary>
/// A seeded transformation of a batch of images (N, C, H, W) with values in [-1, 1] (the range of
/// <see cref="PixelRange.MinusOneToOne"/>; -1 is black). Each image draws its own random parameters from
/// the generator in image order, so the same seed gives the same batch. Results stay in [-1, 1].
/// </summary>
public abstract class Augmentation
{
    /// <summary>Returns the augmented batch; the input is not changed.</summary>
    public Tensor Apply(Tensor batch, Generator gen)
    {
        if (batch.Rank != 4)
        {
            throw new ArgumentException($"augmentations take a batch (N, C, H, W), got shape [{string.Join(", ", batch.Shape)}]");
        }
        var data = batch.ToFloatArray();
        var (n, c, h, w) = (batch.Size(0), batch.Size(1), batch.Size(2), batch.Size(3));
        var size = c * h * w;
        for (var i = 0; i < n; i++)
        {
            ApplyOne(data.AsSpan(i * size, size), c, h, w, gen);
        }
        return Tensor.FromArray(data, n, c, h, w);
    }

    /// <summary>Transforms one image (C, H, W) in place.</summary>
    public abstract void ApplyOne(Span<float> image, int c, int h, int w, Generator gen);

    /// <summary>Several augmentations applied in order.</summary>
    public static Augmentation Compose(params Augmentation[] steps) => new Composed(steps);

    internal static double Uniform(Generator gen, double lo, double hi) => lo + ((hi - lo) * gen.NextDouble());

    internal static void Clamp(Span<float> image)
    {
        foreach (ref var v in image)
        {
            v = Math.Clamp(v, -1f, 1f);
        }
    }

    private sealed class Composed(Augmentation[] steps) : Augmentation
    {
        public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
        {
            foreach (var s in steps)
            {
                s.ApplyOne(image, c, h, w, gen);
            }
        }
    }
}

/// <summary>Mirrors left-right with probability p.</summary>
public sealed class HorizontalFlip(double p = 0.5) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        if (gen.NextDouble() >= p)
        {
            return;
        }
        for (var r = 0; r < c * h; r++)
        {
            image.Slice(r * w, w).Reverse();
        }
    }
}

/// <summary>Mirrors top-bottom with probability p.</summary>
public sealed class VerticalFlip(double p = 0.5) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        if (gen.NextDouble() >= p)
        {
            return;
        }
        for (var ch = 0; ch < c; ch++)
        {
            for (var y = 0; y < h / 2; y++)
            {
                var a = image.Slice((ch * h * w) + (y * w), w);
                var b = image.Slice((ch * h * w) + ((h - 1 - y) * w), w);
                for (var x = 0; x < w; x++)
                {
                    (a[x], b[x]) = (b[x], a[x]);
                }
            }
        }
    }
}

/// <summary>Pads by <c>padding</c> black pixels and crops a random window of the original size (a random shift).</summary>
public sealed class PadCrop(int padding = 2) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        var dx = gen.NextInt((2 * padding) + 1) - padding;
        var dy = gen.NextInt((2 * padding) + 1) - padding;
        Resample.Shift(image, c, h, w, dx, dy, -1f);
    }
}

/// <summary>Gaussian blur with sigma drawn from [min, max], applied with probability p (reflected borders).</summary>
public sealed class GaussianBlur(double sigmaMin = 0.0, double sigmaMax = 1.0, double p = 1.0) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        var apply = gen.NextDouble() < p;
        var sigma = Uniform(gen, sigmaMin, sigmaMax);
        if (!apply || sigma < 0.05)
        {
            return;
        }
        Resample.Blur(image, c, h, w, sigma);
    }
}

/// <summary>Scales contrast around mid-grey by alpha from [min, max] (imgaug's ContrastNormalization).</summary>
public sealed class ContrastNormalization(double alphaMin = 0.5, double alphaMax = 1.5) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        var alpha = (float)Uniform(gen, alphaMin, alphaMax);
        foreach (ref var v in image)
        {
            v *= alpha;
        }
        Clamp(image);
    }
}

/// <summary>Adds Gaussian noise with standard deviation <c>std</c> (in the [-1, 1] scale).</summary>
public sealed class GaussianNoise(double std = 0.05) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        foreach (ref var v in image)
        {
            v += (float)(std * gen.NextNormal());
        }
        Clamp(image);
    }
}

/// <summary>Multiplies intensities (0..255 scale) by a factor from [min, max]: brightness.</summary>
public sealed class Multiply(double min = 0.8, double max = 1.2) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        var m = (float)Uniform(gen, min, max);
        foreach (ref var v in image)
        {
            v = ((v + 1f) * m) - 1f;
        }
        Clamp(image);
    }
}

/// <summary>Random affine map about the centre: rotation and shear in degrees (+-), translation as a
/// fraction of the size (+-), scale from [min, max]; bilinear sampling, black outside.</summary>
public sealed class Affine(double rotation = 15, double translate = 0.1, double scaleMin = 0.9, double scaleMax = 1.1, double shear = 10) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        var rot = Uniform(gen, -rotation, rotation) * Math.PI / 180;
        var sh = Uniform(gen, -shear, shear) * Math.PI / 180;
        var s = Uniform(gen, scaleMin, scaleMax);
        var tx = Uniform(gen, -translate, translate) * w;
        var ty = Uniform(gen, -translate, translate) * h;
        // Forward map: x' = A (x - centre) + centre + t with A = R(rot) * Shear(sh) * s. Sample at A^-1.
        var (cos, sin) = (Math.Cos(rot), Math.Sin(rot));
        var a00 = s * cos;
        var a01 = s * ((cos * Math.Tan(sh)) - sin);
        var a10 = s * sin;
        var a11 = s * ((sin * Math.Tan(sh)) + cos);
        var det = (a00 * a11) - (a01 * a10);
        var (i00, i01, i10, i11) = (a11 / det, -a01 / det, -a10 / det, a00 / det);
        var (cx, cy) = ((w - 1) / 2.0, (h - 1) / 2.0);
        Resample.Map(image, c, h, w, (x, y) =>
        {
            var dx = x - cx - tx;
            var dy = y - cy - ty;
            return ((i00 * dx) + (i01 * dy) + cx, (i10 * dx) + (i11 * dy) + cy);
        }, -1f);
    }
}

/// <summary>Sets a random size x size square to mid-grey (0) with probability p (DeVries and Taylor 2017).</summary>
public sealed class Cutout(int size = 8, double p = 1.0) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        var apply = gen.NextDouble() < p;
        var cy = gen.NextInt(h);
        var cx = gen.NextInt(w);
        if (!apply)
        {
            return;
        }
        for (var ch = 0; ch < c; ch++)
        {
            for (var y = Math.Max(0, cy - (size / 2)); y < Math.Min(h, cy - (size / 2) + size); y++)
            {
                for (var x = Math.Max(0, cx - (size / 2)); x < Math.Min(w, cx - (size / 2) + size); x++)
                {
                    image[(ch * h * w) + (y * w) + x] = 0f;
                }
            }
        }
    }
}

/// <summary>Elastic distortion (Simard et al. 2003): uniform random displacements smoothed by a Gaussian
/// of <c>sigma</c> and scaled by <c>alpha</c> pixels; bilinear sampling, black outside.</summary>
public sealed class ElasticDistortion(double alpha = 34, double sigma = 4) : Augmentation
{
    /// <inheritdoc />
    public override void ApplyOne(Span<float> image, int c, int h, int w, Generator gen)
    {
        var dxField = new float[h * w];
        var dyField = new float[h * w];
        for (var i = 0; i < h * w; i++)
        {
            dxField[i] = (float)Uniform(gen, -1, 1);
            dyField[i] = (float)Uniform(gen, -1, 1);
        }
        Resample.Blur(dxField, 1, h, w, sigma);
        Resample.Blur(dyField, 1, h, w, sigma);
        Resample.Map(image, c, h, w, (x, y) => (x + (alpha * dxField[((int)y * w) + (int)x]), y + (alpha * dyField[((int)y * w) + (int)x])), -1f);
    }
}
