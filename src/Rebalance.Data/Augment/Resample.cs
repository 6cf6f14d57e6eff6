namespace Rebalance.Data.Augment;

/// <summary>Pixel resampling shared by the geometric augmentations.</summary>
internal static class Resample
{
    /// <summary>Shifts each plane by (dx, dy) pixels, filling uncovered pixels with <paramref name="fill"/>.</summary>
    public static void Shift(Span<float> image, int c, int h, int w, int dx, int dy, float fill)
    {
        var plane = new float[h * w];
        for (var ch = 0; ch < c; ch++)
        {
            var src = image.Slice(ch * h * w, h * w);
            src.CopyTo(plane);
            for (var y = 0; y < h; y++)
            {
                for (var x = 0; x < w; x++)
                {
                    var sx = x - dx;
                    var sy = y - dy;
                    src[(y * w) + x] = (uint)sx < (uint)w && (uint)sy < (uint)h ? plane[(sy * w) + sx] : fill;
                }
            }
        }
    }

    /// <summary>For each output pixel (x, y), samples the source at source(x, y) bilinearly; outside is <paramref name="fill"/>.</summary>
    public static void Map(Span<float> image, int c, int h, int w, Func<double, double, (double X, double Y)> source, float fill)
    {
        var coords = new (double X, double Y)[h * w];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                coords[(y * w) + x] = source(x, y);
            }
        }
        var plane = new float[h * w];
        for (var ch = 0; ch < c; ch++)
        {
            var img = image.Slice(ch * h * w, h * w);
            img.CopyTo(plane);
            for (var i = 0; i < h * w; i++)
            {
                img[i] = Bilinear(plane, h, w, coords[i].X, coords[i].Y, fill);
            }
        }
    }

    private static float Bilinear(float[] plane, int h, int w, double x, double y, float fill)
    {
        if (double.IsNaN(x) || double.IsNaN(y) || x < -1 || y < -1 || x > w || y > h)
        {
            return fill;
        }
        var x0 = (int)Math.Floor(x);
        var y0 = (int)Math.Floor(y);
        var fx = (float)(x - x0);
        var fy = (float)(y - y0);
        float At(int xx, int yy) => (uint)xx < (uint)w && (uint)yy < (uint)h ? plane[(yy * w) + xx] : fill;
        var top = (At(x0, y0) * (1 - fx)) + (At(x0 + 1, y0) * fx);
        var bottom = (At(x0, y0 + 1) * (1 - fx)) + (At(x0 + 1, y0 + 1) * fx);
        return (top * (1 - fy)) + (bottom * fy);
    }

    /// <summary>Separable Gaussian blur of each plane with reflected borders.</summary>
    public static void Blur(Span<float> image, int c, int h, int w, double sigma)
    {
        var radius = Math.Max(1, (int)Math.Ceiling(3 * sigma));
        var kernel = new float[(2 * radius) + 1];
        double sum = 0;
        for (var i = -radius; i <= radius; i++)
        {
            kernel[i + radius] = (float)Math.Exp(-(i * i) / (2 * sigma * sigma));
            sum += kernel[i + radius];
        }
        for (var i = 0; i < kernel.Length; i++)
        {
            kernel[i] /= (float)sum;
        }
        var tmp = new float[h * w];
        for (var ch = 0; ch < c; ch++)
        {
            var img = image.Slice(ch * h * w, h * w);
            for (var y = 0; y < h; y++)
            {
                for (var x = 0; x < w; x++)
                {
                    var acc = 0f;
                    for (var k = -radius; k <= radius; k++)
                    {
                        acc += kernel[k + radius] * img[(y * w) + Reflect(x + k, w)];
                    }
                    tmp[(y * w) + x] = acc;
                }
            }
            for (var y = 0; y < h; y++)
            {
                for (var x = 0; x < w; x++)
                {
                    var acc = 0f;
                    for (var k = -radius; k <= radius; k++)
                    {
                        acc += kernel[k + radius] * tmp[(Reflect(y + k, h) * w) + x];
                    }
                    img[(y * w) + x] = acc;
                }
            }
        }
    }

    private static int Reflect(int i, int n)
    {
        if (n == 1)
        {
            return 0;
        }
        while ((uint)i >= (uint)n)
        {
            i = i < 0 ? -i - 1 : (2 * n) - i - 1;
        }
        return i;
    }
}
