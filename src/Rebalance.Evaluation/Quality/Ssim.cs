namespace Rebalance.Evaluation.Quality;

/// <summary>
/// Structural similarity of two 8-bit images (Wang, Bovik, Sheikh and Simoncelli 2004, "Image Quality
/// Assessment: From Error Visibility to Structural Similarity", IEEE TIP 13(4)), with the settings of
/// scikit-image's <c>structural_similarity</c> by default: a 7x7 uniform window over every position where it
/// fits inside the image, sample (co)variances (divided by 48, not 49), K1 = 0.01, K2 = 0.03, data range
/// 255; the mean over windows, then over channels. 1 for identical images.
/// </summary>
public sealed class Ssim
{
    /// <summary>Side of the square window.</summary>
    public const int Window = 7;

    private const double C1 = 0.01 * 255 * 0.01 * 255;
    private const double C2 = 0.03 * 255 * 0.03 * 255;

    private readonly int _c, _h, _w, _oh, _ow;

    [ThreadStatic]
    private static double[]? _scratch;

    /// <summary>An SSIM for images of <paramref name="channels"/> x <paramref name="height"/> x <paramref name="width"/>
    /// (channel planes one after another, as a <see cref="Data.Dataset"/> keeps them).</summary>
    public Ssim(int channels, int height, int width)
    {
        if (height < Window || width < Window)
        {
            throw new ArgumentException($"SSIM needs images of at least {Window}x{Window} pixels, got {height}x{width}");
        }
        (_c, _h, _w) = (channels, height, width);
        (_oh, _ow) = (height - Window + 1, width - Window + 1);
    }

    /// <summary>One image's window means and sample variances, computed once and paired with many others.</summary>
    public sealed class Stats
    {
        internal Stats(byte[] pixels, double[] mean, double[] variance) => (Pixels, Mean, Variance) = (pixels, mean, variance);

        internal byte[] Pixels { get; }

        internal double[] Mean { get; }

        internal double[] Variance { get; }
    }

    /// <summary>The window statistics of one image.</summary>
    public Stats Prepare(ReadOnlySpan<byte> image)
    {
        if (image.Length != _c * _h * _w)
        {
            throw new ArgumentException($"SSIM: an image of {image.Length} bytes, expected {_c * _h * _w}");
        }
        var n = Window * Window;
        var plane = _oh * _ow;
        var mean = new double[_c * plane];
        var variance = new double[_c * plane];
        var x = new double[_h * _w];
        var x2 = new double[_h * _w];
        for (var ch = 0; ch < _c; ch++)
        {
            for (var i = 0; i < _h * _w; i++)
            {
                double v = image[(ch * _h * _w) + i];
                x[i] = v;
                x2[i] = v * v;
            }
            var s = BoxSums(x);
            var s2 = BoxSums(x2);
            for (var k = 0; k < plane; k++)
            {
                var m = s[k] / n;
                mean[(ch * plane) + k] = m;
                variance[(ch * plane) + k] = (s2[k] / n - (m * m)) * n / (n - 1);
            }
        }
        return new Stats(image.ToArray(), mean, variance);
    }

    /// <summary>SSIM of two prepared images.</summary>
    public double Compute(Stats a, Stats b)
    {
        var n = Window * Window;
        var plane = _oh * _ow;
        // Scratch space per thread: near-copy tests pair each image with a thousand others.
        if (_scratch is null || _scratch.Length < (_h * _w) + (_h * _ow) + plane)
        {
            _scratch = new double[(_h * _w) + (_h * _ow) + plane];
        }
        var xy = _scratch.AsSpan(0, _h * _w);
        var rows = _scratch.AsSpan(_h * _w, _h * _ow);
        var sxy = _scratch.AsSpan((_h * _w) + (_h * _ow), plane);
        var total = 0.0;
        for (var ch = 0; ch < _c; ch++)
        {
            var off = ch * _h * _w;
            for (var i = 0; i < _h * _w; i++)
            {
                xy[i] = a.Pixels[off + i] * (double)b.Pixels[off + i];
            }
            BoxSums(xy, rows, sxy);
            var sum = 0.0;
            for (var k = 0; k < plane; k++)
            {
                var ma = a.Mean[(ch * plane) + k];
                var mb = b.Mean[(ch * plane) + k];
                var cov = (sxy[k] / n - (ma * mb)) * n / (n - 1);
                sum += ((2 * ma * mb) + C1) * ((2 * cov) + C2) / (((ma * ma) + (mb * mb) + C1) * (a.Variance[(ch * plane) + k] + b.Variance[(ch * plane) + k] + C2));
            }
            total += sum / plane;
        }
        return total / _c;
    }

    /// <summary>SSIM of two raw images.</summary>
    public double Compute(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => Compute(Prepare(a), Prepare(b));

    /// <summary>Sums over every 7x7 window that fits (row-major, (H-6) x (W-6)), by running sums along rows then columns.</summary>
    private double[] BoxSums(double[] x)
    {
        var result = new double[_oh * _ow];
        BoxSums(x, new double[_h * _ow], result);
        return result;
    }

    private void BoxSums(ReadOnlySpan<double> x, Span<double> rows, Span<double> result)
    {
        for (var r = 0; r < _h; r++)
        {
            var s = 0.0;
            for (var c = 0; c < Window; c++)
            {
                s += x[(r * _w) + c];
            }
            rows[r * _ow] = s;
            for (var c = 1; c < _ow; c++)
            {
                s += x[(r * _w) + c + Window - 1] - x[(r * _w) + c - 1];
                rows[(r * _ow) + c] = s;
            }
        }
        for (var c = 0; c < _ow; c++)
        {
            var s = 0.0;
            for (var r = 0; r < Window; r++)
            {
                s += rows[(r * _ow) + c];
            }
            result[c] = s;
            for (var r = 1; r < _oh; r++)
            {
                s += rows[((r + Window - 1) * _ow) + c] - rows[((r - 1) * _ow) + c];
                result[(r * _ow) + c] = s;
            }
        }
    }
}
