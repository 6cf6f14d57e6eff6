using System.Numerics;

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
    private static Vector<double>[]? _scratch;

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
        var x = new Vector<double>[_h * _w];
        var x2 = new Vector<double>[_h * _w];
        var s = new Vector<double>[plane];
        var s2 = new Vector<double>[plane];
        var rows = new Vector<double>[_h * _ow];
        for (var ch = 0; ch < _c; ch++)
        {
            for (var i = 0; i < _h * _w; i++)
            {
                double v = image[(ch * _h * _w) + i];
                x[i] = new Vector<double>(v);
                x2[i] = new Vector<double>(v * v);
            }
            BoxSums(x, rows, s);
            BoxSums(x2, rows, s2);
            for (var k = 0; k < plane; k++)
            {
                var m = s[k][0] / n;
                mean[(ch * plane) + k] = m;
                variance[(ch * plane) + k] = (s2[k][0] / n - (m * m)) * n / (n - 1);
            }
        }
        return new Stats(image.ToArray(), mean, variance);
    }

    /// <summary>Images packed <see cref="Vector{T}.Count"/> at a time, lane by lane, so that one image is
    /// compared with a whole block in one pass (<see cref="Max"/>).</summary>
    public sealed class Packed
    {
        internal Packed(Vector<double>[][] pixels, Vector<double>[][] mean, Vector<double>[][] variance, int count) =>
            (Pixels, Mean, Variance, Count) = (pixels, mean, variance, count);

        internal Vector<double>[][] Pixels { get; }

        internal Vector<double>[][] Mean { get; }

        internal Vector<double>[][] Variance { get; }

        /// <summary>How many images were packed.</summary>
        public int Count { get; }
    }

    /// <summary>Packs prepared images for <see cref="Max"/> (the last block is padded with the last image,
    /// which leaves a maximum unchanged).</summary>
    public Packed Pack(IReadOnlyList<Stats> images)
    {
        if (images.Count == 0)
        {
            throw new ArgumentException("SSIM: nothing to pack");
        }
        var lanes = Vector<double>.Count;
        var blocks = (images.Count + lanes - 1) / lanes;
        var pixels = new Vector<double>[blocks][];
        var mean = new Vector<double>[blocks][];
        var variance = new Vector<double>[blocks][];
        var lane = new double[lanes];
        Vector<double>[] Interleave(int block, int length, Func<Stats, int, double> value)
        {
            var result = new Vector<double>[length];
            for (var i = 0; i < length; i++)
            {
                for (var l = 0; l < lanes; l++)
                {
                    lane[l] = value(images[Math.Min(images.Count - 1, (block * lanes) + l)], i);
                }
                result[i] = new Vector<double>(lane);
            }
            return result;
        }
        for (var b = 0; b < blocks; b++)
        {
            pixels[b] = Interleave(b, _c * _h * _w, (st, i) => st.Pixels[i]);
            mean[b] = Interleave(b, _c * _oh * _ow, (st, i) => st.Mean[i]);
            variance[b] = Interleave(b, _c * _oh * _ow, (st, i) => st.Variance[i]);
        }
        return new Packed(pixels, mean, variance, images.Count);
    }

    /// <summary>SSIM of two prepared images.</summary>
    public double Compute(Stats a, Stats b) => Max(a, Pack([b]));

    /// <summary>SSIM of two raw images.</summary>
    public double Compute(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => Compute(Prepare(a), Prepare(b));

    /// <summary>The highest SSIM of <paramref name="a"/> with any of the packed images. Each lane does the
    /// arithmetic a one-to-one comparison would, in the same order, so the value is the same.</summary>
    public double Max(Stats a, Packed images)
    {
        var n = (double)(Window * Window);
        var plane = _oh * _ow;
        // Scratch space per thread: near-copy tests pair each image with a thousand others.
        if (_scratch is null || _scratch.Length < (_h * _w) + (_h * _ow) + plane)
        {
            _scratch = new Vector<double>[(_h * _w) + (_h * _ow) + plane];
        }
        var xy = _scratch.AsSpan(0, _h * _w);
        var rows = _scratch.AsSpan(_h * _w, _h * _ow);
        var sxy = _scratch.AsSpan((_h * _w) + (_h * _ow), plane);
        var c1 = new Vector<double>(C1);
        var c2 = new Vector<double>(C2);
        var best = double.NegativeInfinity;
        for (var blk = 0; blk < images.Pixels.Length; blk++)
        {
            var bp = images.Pixels[blk];
            var bm = images.Mean[blk];
            var bv = images.Variance[blk];
            var total = Vector<double>.Zero;
            for (var ch = 0; ch < _c; ch++)
            {
                var off = ch * _h * _w;
                for (var i = 0; i < _h * _w; i++)
                {
                    xy[i] = a.Pixels[off + i] * bp[off + i];
                }
                BoxSums(xy, rows, sxy);
                var sum = Vector<double>.Zero;
                for (var k = 0; k < plane; k++)
                {
                    var ma = a.Mean[(ch * plane) + k];
                    var mb = bm[(ch * plane) + k];
                    var cov = (sxy[k] / n - (ma * mb)) * n / (n - 1);
                    sum += ((2 * ma * mb) + c1) * ((2 * cov) + c2) / ((new Vector<double>(ma * ma) + (mb * mb) + c1) * (new Vector<double>(a.Variance[(ch * plane) + k]) + bv[(ch * plane) + k] + c2));
                }
                total += sum / plane;
            }
            total /= _c;
            for (var l = 0; l < Vector<double>.Count; l++)
            {
                best = Math.Max(best, total[l]);
            }
        }
        return best;
    }

    /// <summary>Sums over every 7x7 window that fits (row-major, (H-6) x (W-6)), by running sums along rows
    /// then columns, lane by lane.</summary>
    private void BoxSums(ReadOnlySpan<Vector<double>> x, Span<Vector<double>> rows, Span<Vector<double>> result)
    {
        for (var r = 0; r < _h; r++)
        {
            var s = x[r * _w];
            for (var c = 1; c < Window; c++)
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
            var s = rows[c];
            for (var r = 1; r < Window; r++)
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
