namespace Rebalance.Data.Morpho;

/// <summary>The six morphometrics of one digit image, in Morpho-MNIST's units: pixels of the original
/// image (square pixels for the area) and radians for the slant. All NaN for a blank image.</summary>
/// <param name="Area">Foreground area of the binarised stroke.</param>
/// <param name="Length">Length of the stroke's medial axis.</param>
/// <param name="Thickness">Twice the mean distance from the medial axis to the background.</param>
/// <param name="Slant">arctan(−μ11/μ02): positive when the digit leans right (its top to the right).</param>
/// <param name="Width">Width of the sheared bounding parallelogram holding 98% of the ink.</param>
/// <param name="Height">Its height.</param>
public readonly record struct Morphometrics(double Area, double Length, double Thickness, double Slant, double Width, double Height)
{
    /// <summary>The values in <see cref="Morphometry.Names"/> order.</summary>
    public double[] ToArray() => [Area, Length, Thickness, Slant, Width, Height];
}

/// <summary>
/// Morpho-MNIST's measurement of handwritten strokes (Castro et al. 2019, "Morpho-MNIST: quantitative
/// assessment and diagnostics for representation learning", JMLR 20(178), section 2.1), on any grey image:
/// <list type="number">
/// <item>the image is upscaled 4x (cubic B-spline interpolation with pixel-area alignment, clipped to the
/// input's range, then a Gaussian of σ = 2·4/6 against the blockiness; scikit-image's
/// <c>pyramid_expand</c>, which the authors use) and cut to 8 bits;</item>
/// <item>binarised at half its range;</item>
/// <item>area: foreground pixels / 4²;</item>
/// <item>the Euclidean distance of each foreground pixel to the background and the medial axis (pixels
/// peeled in order of rising distance, then of falling neighbour count, keeping those whose removal would
/// split their neighbourhood or that end a stroke: scikit-image's <c>medial_axis</c>); thickness: 2 x the
/// mean distance on the axis / 4; length: the axis's 8-neighbour chain length (each right or lower
/// neighbour 1, each lower diagonal one √2) / 4;</item>
/// <item>slant from the 4x image's second moments, arctan(−μ11/μ02) (y grows downwards);</item>
/// <item>width and height: the parallelogram sheared by that slant, through the centroid's row, whose
/// sides cut 1% of the ink each (98% inside), divided by 4.</item>
/// </list>
/// One choice differs from the released code: <c>medial_axis</c> breaks ties between pixels of the same
/// distance and neighbour count with a random permutation (a new one on every call, so the published
/// lengths and thicknesses jitter between runs); here they go in a fixed pseudo-random order of the
/// pixels, so a measurement is reproducible. Area, slant, width and height do not depend on it and match the published procedure to
/// rounding (tested against scikit-image and SciPy by <c>tools/make_morpho_references.py</c>).
/// </summary>
public static class Morphometry
{
    /// <summary>Upscaling factor of the measurement.</summary>
    public const int Scale = 4;

    /// <summary>Attribute names, as Morpho-MNIST's tables name them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["area", "length", "thickness", "slant", "width", "height"];

    private const double BoundFraction = 0.02;
    private static readonly bool[] s_keep = BuildKeepTable();

    /// <summary>Measures one grey image of <paramref name="height"/> x <paramref name="width"/> bytes (row by
    /// row). A blank image (one value everywhere) gives NaN for every measure.</summary>
    public static Morphometrics Measure(ReadOnlySpan<byte> image, int height, int width)
    {
        if (height < 1 || width < 1 || image.Length != height * width)
        {
            throw new ArgumentException($"expected {height}x{width} = {height * width} bytes, got {image.Length}");
        }
        var h = height * Scale;
        var w = width * Scale;
        var hires = Upscale(image, height, width);
        int lo = 255, hi = 0;
        foreach (var v in hires)
        {
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }
        if (hi == lo)
        {
            return new Morphometrics(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        }
        var threshold = lo + (hi - lo) * 0.5;
        var binary = new bool[h * w];
        var area = 0;
        for (var i = 0; i < binary.Length; i++)
        {
            if (hires[i] >= threshold)
            {
                binary[i] = true;
                area++;
            }
        }
        var distance = DistanceMap(binary, h, w);
        var axis = MedialAxis(binary, distance, h, w);
        var (length, thickness) = AxisMeasures(axis, distance, h, w);
        var (slant, boxWidth, boxHeight) = Shape(hires, h, w);
        return new Morphometrics(area / (double)(Scale * Scale), length / Scale, thickness / Scale, slant, boxWidth / Scale, boxHeight / Scale);
    }

    /// <summary>The 4x image the measures are taken on (row by row, (4·height) x (4·width) bytes).</summary>
    public static byte[] Upscale(ReadOnlySpan<byte> image, int height, int width)
    {
        int h = height * Scale, w = width * Scale;
        var src = new double[height * width];
        double min = 1, max = 0;
        for (var i = 0; i < src.Length; i++)
        {
            src[i] = image[i] / 255.0;
            min = Math.Min(min, src[i]);
            max = Math.Max(max, src[i]);
        }
        // B-spline coefficients along each axis (the interpolation prefilter), then the cubic spline at
        // each output pixel's centre, mapped to (o + 1/2) / 4 − 1/2 in input pixels.
        var coef = (double[])src.Clone();
        var line = new double[Math.Max(height, width)];
        for (var y = 0; y < height; y++)
        {
            coef.AsSpan(y * width, width).CopyTo(line);
            SplinePrefilter(line.AsSpan(0, width));
            line.AsSpan(0, width).CopyTo(coef.AsSpan(y * width, width));
        }
        for (var x = 0; x < width; x++)
        {
            for (var y = 0; y < height; y++)
            {
                line[y] = coef[y * width + x];
            }
            SplinePrefilter(line.AsSpan(0, height));
            for (var y = 0; y < height; y++)
            {
                coef[y * width + x] = line[y];
            }
        }
        var (rowIndex, rowWeight) = SplineTaps(height, h);
        var (colIndex, colWeight) = SplineTaps(width, w);
        var up = new double[h * w];
        for (var oy = 0; oy < h; oy++)
        {
            for (var ox = 0; ox < w; ox++)
            {
                var s = 0.0;
                for (var a = 0; a < 4; a++)
                {
                    var rowBase = rowIndex[oy * 4 + a] * width;
                    var t = 0.0;
                    for (var b = 0; b < 4; b++)
                    {
                        t += colWeight[ox * 4 + b] * coef[rowBase + colIndex[ox * 4 + b]];
                    }
                    s += rowWeight[oy * 4 + a] * t;
                }
                up[oy * w + ox] = Math.Clamp(s, min, max);
            }
        }
        var smooth = GaussianSmooth(up, h, w, 2.0 * Scale / 6.0);
        var bytes = new byte[h * w];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)Math.Clamp((int)(255.0 * smooth[i]), 0, 255);
        }
        return bytes;
    }

    /// <summary>Cubic B-spline interpolation coefficients of one line, in place, with mirror boundaries
    /// (d c b | a b c d | c b a): gain 6, then the causal and anti-causal recursions of the pole √3 − 2
    /// (Unser, Aldroubi and Eden 1991).</summary>
    internal static void SplinePrefilter(Span<double> c)
    {
        var n = c.Length;
        if (n == 1)
        {
            return;
        }
        var z = Math.Sqrt(3.0) - 2.0;
        var gain = (1 - z) * (1 - 1 / z);
        for (var i = 0; i < n; i++)
        {
            c[i] *= gain;
        }
        // The causal filter's first value sums the mirrored line: samples k and 2n − 2 − k weigh z^k and
        // z^(2n−2−k), over the period 2n − 2.
        var zn1 = Math.Pow(z, n - 1);
        var c0 = c[0] + zn1 * c[n - 1];
        var zi = z;
        for (var i = 1; i < n - 1; i++)
        {
            c0 += zi * (c[i] + zn1 * c[n - 1 - i]);
            zi *= z;
        }
        c[0] = c0 / (1 - zn1 * zn1);
        for (var i = 1; i < n; i++)
        {
            c[i] += z * c[i - 1];
        }
        c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1);
        for (var i = n - 2; i >= 0; i--)
        {
            c[i] = z * (c[i + 1] - c[i]);
        }
    }

    /// <summary>For each of <paramref name="outSize"/> output pixels, the 4 input indices (mirrored at the
    /// edges) and cubic B-spline weights of its centre.</summary>
    private static (int[] Index, double[] Weight) SplineTaps(int inSize, int outSize)
    {
        var index = new int[outSize * 4];
        var weight = new double[outSize * 4];
        var zoom = inSize / (double)outSize;
        for (var o = 0; o < outSize; o++)
        {
            var x = (o + 0.5) * zoom - 0.5;
            var f = Math.Floor(x);
            var t = x - f;
            var start = (int)f - 1;
            var t2 = t * t;
            var t3 = t2 * t;
            weight[o * 4] = (1 - t) * (1 - t) * (1 - t) / 6.0;
            weight[o * 4 + 1] = (4 - 6 * t2 + 3 * t3) / 6.0;
            weight[o * 4 + 2] = (1 + 3 * t + 3 * t2 - 3 * t3) / 6.0;
            weight[o * 4 + 3] = t3 / 6.0;
            for (var k = 0; k < 4; k++)
            {
                index[o * 4 + k] = Mirror(start + k, inSize);
            }
        }
        return (index, weight);
    }

    private static int Mirror(int i, int n)
    {
        if (n == 1)
        {
            return 0;
        }
        var period = 2 * n - 2;
        i = Math.Abs(i) % period;
        return i >= n ? period - i : i;
    }

    /// <summary>Separable Gaussian smoothing (radius ⌊4σ + 1/2⌋, weights normalised to 1, half-sample
    /// symmetric edges d c b a | a b c d), rows of the columns' result as SciPy's <c>gaussian_filter</c>
    /// orders the axes.</summary>
    private static double[] GaussianSmooth(double[] img, int h, int w, double sigma)
    {
        var radius = (int)(4.0 * sigma + 0.5);
        var k = new double[2 * radius + 1];
        var sum = 0.0;
        for (var i = -radius; i <= radius; i++)
        {
            k[i + radius] = Math.Exp(-0.5 / (sigma * sigma) * i * i);
            sum += k[i + radius];
        }
        for (var i = 0; i < k.Length; i++)
        {
            k[i] /= sum;
        }
        static int Reflect(int i, int n)
        {
            var period = 2 * n;
            i %= period;
            if (i < 0)
            {
                i += period;
            }
            return i >= n ? period - 1 - i : i;
        }
        var tmp = new double[h * w];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var s = 0.0;
                for (var j = -radius; j <= radius; j++)
                {
                    s += k[j + radius] * img[Reflect(y + j, h) * w + x];
                }
                tmp[y * w + x] = s;
            }
        }
        var result = new double[h * w];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var s = 0.0;
                for (var j = -radius; j <= radius; j++)
                {
                    s += k[j + radius] * tmp[y * w + Reflect(x + j, w)];
                }
                result[y * w + x] = s;
            }
        }
        return result;
    }

    /// <summary>Exact Euclidean distance from each foreground pixel to the nearest background pixel of the
    /// image (0 on the background; +∞ everywhere when there is no background), by the lower envelope of
    /// parabolas along columns and then rows (Felzenszwalb and Huttenlocher 2012).</summary>
    public static double[] DistanceMap(bool[] foreground, int h, int w)
    {
        var f = new double[h * w];
        for (var i = 0; i < f.Length; i++)
        {
            f[i] = foreground[i] ? double.PositiveInfinity : 0;
        }
        var n = Math.Max(h, w);
        var line = new double[n];
        var outLine = new double[n];
        var v = new int[n];
        var zz = new double[n + 1];
        for (var x = 0; x < w; x++)
        {
            for (var y = 0; y < h; y++)
            {
                line[y] = f[y * w + x];
            }
            Envelope(line, outLine, h, v, zz);
            for (var y = 0; y < h; y++)
            {
                f[y * w + x] = outLine[y];
            }
        }
        for (var y = 0; y < h; y++)
        {
            f.AsSpan(y * w, w).CopyTo(line);
            Envelope(line, outLine, w, v, zz);
            for (var x = 0; x < w; x++)
            {
                f[y * w + x] = Math.Sqrt(outLine[x]);
            }
        }
        return f;
    }

    /// <summary>One-dimensional squared distance transform: d(q) = min_p (q − p)² + f(p).</summary>
    private static void Envelope(double[] f, double[] d, int n, int[] v, double[] z)
    {
        var k = -1;
        for (var q = 0; q < n; q++)
        {
            if (double.IsPositiveInfinity(f[q]))
            {
                continue;
            }
            if (k < 0)
            {
                k = 0;
                v[0] = q;
                z[0] = double.NegativeInfinity;
                z[1] = double.PositiveInfinity;
                continue;
            }
            double s;
            while (true)
            {
                var p = v[k];
                s = (f[q] + (double)q * q - (f[p] + (double)p * p)) / (2.0 * (q - p));
                if (s <= z[k] && k > 0)
                {
                    k--;
                    continue;
                }
                break;
            }
            if (s <= z[k])
            {
                // k == 0 and the new parabola is lower everywhere.
                v[0] = q;
                z[0] = double.NegativeInfinity;
                z[1] = double.PositiveInfinity;
                continue;
            }
            k++;
            v[k] = q;
            z[k] = s;
            z[k + 1] = double.PositiveInfinity;
        }
        if (k < 0)
        {
            Array.Fill(d, double.PositiveInfinity, 0, n);
            return;
        }
        var j = 0;
        for (var q = 0; q < n; q++)
        {
            while (z[j + 1] < q)
            {
                j++;
            }
            var dq = q - v[j];
            d[q] = (double)dq * dq + f[v[j]];
        }
    }

    /// <summary>The medial axis of a binary image: one pass over the foreground in order of rising distance,
    /// then rising count of background pixels in the 3x3 neighbourhood (pixels with more foreground
    /// neighbours first, so corners go last and keep their branches), then a fixed scattered order; a pixel is removed
    /// unless its foreground neighbours would fall apart without it (not one 8-connected group) or it has
    /// at most one foreground neighbour.</summary>
    public static bool[] MedialAxis(bool[] foreground, double[] distance, int h, int w)
    {
        var result = new byte[h * w];
        var pixels = new List<int>();
        for (var i = 0; i < result.Length; i++)
        {
            if (foreground[i])
            {
                result[i] = 1;
                pixels.Add(i);
            }
        }
        var corner = new int[result.Length];
        foreach (var p in pixels)
        {
            corner[p] = 9 - System.Numerics.BitOperations.PopCount((uint)NeighbourIndex(result, p / w, p % w, h, w));
        }
        var order = pixels.ToArray();
        Array.Sort(order, (a, b) =>
        {
            var c = distance[a].CompareTo(distance[b]);
            if (c != 0)
            {
                return c;
            }
            c = corner[a].CompareTo(corner[b]);
            if (c != 0)
            {
                return c;
            }
            c = Tiebreak(a).CompareTo(Tiebreak(b));
            return c != 0 ? c : a.CompareTo(b);
        });
        foreach (var p in order)
        {
            if (!s_keep[NeighbourIndex(result, p / w, p % w, h, w)])
            {
                result[p] = 0;
            }
        }
        var axis = new bool[result.Length];
        for (var i = 0; i < axis.Length; i++)
        {
            axis[i] = result[i] != 0;
        }
        return axis;
    }

    /// <summary>A fixed pseudo-random rank of a pixel (SplitMix64 of its index). Raster order would peel a
    /// ridge two pixels wide from one end to the other in the single pass; scattered order leaves its
    /// middle, as the published random permutation does.</summary>
    private static ulong Tiebreak(int index)
    {
        var z = (ulong)index + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The 3x3 neighbourhood of (y, x) as 9 bits, row by row from the top left (bit 4 the pixel
    /// itself); outside the image counts as background.</summary>
    private static int NeighbourIndex(byte[] img, int y, int x, int h, int w)
    {
        var index = 0;
        var bit = 0;
        for (var dy = -1; dy <= 1; dy++)
        {
            for (var dx = -1; dx <= 1; dx++, bit++)
            {
                int yy = y + dy, xx = x + dx;
                if (yy >= 0 && yy < h && xx >= 0 && xx < w && img[yy * w + xx] != 0)
                {
                    index |= 1 << bit;
                }
            }
        }
        return index;
    }

    /// <summary>Whether a foreground pixel with this neighbourhood stays on the axis: its foreground
    /// neighbours are not exactly one 8-connected group, or there is at most one of them.</summary>
    private static bool[] BuildKeepTable()
    {
        var keep = new bool[512];
        // Neighbour positions around the centre (bit numbers), in ring order: 0 1 2 5 8 7 6 3.
        for (var index = 0; index < 512; index++)
        {
            if ((index & 16) == 0)
            {
                continue;
            }
            var neighbours = System.Numerics.BitOperations.PopCount((uint)index) - 1;
            keep[index] = neighbours <= 1 || NeighbourGroups(index) != 1;
        }
        return keep;
    }

    /// <summary>Number of 8-connected groups among the set neighbours of a 3x3 pattern (centre excluded).</summary>
    private static int NeighbourGroups(int index)
    {
        var seen = 0;
        var groups = 0;
        for (var start = 0; start < 9; start++)
        {
            if (start == 4 || (index & (1 << start)) == 0 || (seen & (1 << start)) != 0)
            {
                continue;
            }
            groups++;
            var stack = new Stack<int>();
            stack.Push(start);
            seen |= 1 << start;
            while (stack.Count > 0)
            {
                var b = stack.Pop();
                int by = b / 3, bx = b % 3;
                for (var o = 0; o < 9; o++)
                {
                    if (o == 4 || (index & (1 << o)) == 0 || (seen & (1 << o)) != 0)
                    {
                        continue;
                    }
                    if (Math.Abs(o / 3 - by) <= 1 && Math.Abs(o % 3 - bx) <= 1)
                    {
                        seen |= 1 << o;
                        stack.Push(o);
                    }
                }
            }
        }
        return groups;
    }

    /// <summary>(chain length, twice the mean distance) of the axis, in 4x pixels.</summary>
    private static (double Length, double Thickness) AxisMeasures(bool[] axis, double[] distance, int h, int w)
    {
        var length = 0.0;
        var sum = 0.0;
        var count = 0;
        var sqrt2 = Math.Sqrt(2.0);
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                if (!axis[y * w + x])
                {
                    continue;
                }
                count++;
                sum += distance[y * w + x];
                if (x + 1 < w && axis[y * w + x + 1])
                {
                    length += 1;
                }
                if (y + 1 < h)
                {
                    var below = (y + 1) * w;
                    if (axis[below + x])
                    {
                        length += 1;
                    }
                    if (x > 0 && axis[below + x - 1])
                    {
                        length += sqrt2;
                    }
                    if (x + 1 < w && axis[below + x + 1])
                    {
                        length += sqrt2;
                    }
                }
            }
        }
        return (length, count == 0 ? double.NaN : 2.0 * sum / count);
    }

    /// <summary>(slant, width, height) of the 4x image's ink, the last two in 4x pixels.</summary>
    private static (double Slant, double Width, double Height) Shape(byte[] img, int h, int w)
    {
        // Integer sums of integer pixels are exact, so the moments do not depend on summation order.
        long m00 = 0, mx = 0, my = 0, mxy = 0, myy = 0;
        var rowMass = new long[h];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                long v = img[y * w + x];
                rowMass[y] += v;
                mx += x * v;
                mxy += (long)x * y * v;
            }
            m00 += rowMass[y];
            my += y * rowMass[y];
            myy += (long)y * y * rowMass[y];
        }
        double total = m00;
        var cx = mx / total;
        var cy = my / total;
        var u11 = mxy / total - cx * cy;
        var u02 = myy / total - cy * cy;
        var shear = u11 / u02;
        var slant = Math.Atan(-shear);

        // Ink left of the sheared line through column t: pixels with x + 1/2 < t + shear·(y − cy), for
        // t = 0 .. w − 1. Each pixel joins from the first t where that holds.
        var joins = new long[w + 1];
        for (var y = 0; y < h; y++)
        {
            var offset = shear * (y - cy);
            for (var x = 0; x < w; x++)
            {
                long v = img[y * w + x];
                if (v == 0)
                {
                    continue;
                }
                var t = (int)Math.Max(0, Math.Min(w, Math.Floor(x + 0.5 - offset)));
                while (t > 0 && x + 0.5 < t - 1 + offset)
                {
                    t--;
                }
                while (t < w && !(x + 0.5 < t + offset))
                {
                    t++;
                }
                joins[t] += v;
            }
        }
        var hcdf = new double[w];
        long run = 0;
        for (var t = 0; t < w; t++)
        {
            run += joins[t];
            hcdf[t] = run / total;
        }
        var vcdf = new double[h];
        run = 0;
        for (var t = 0; t < h; t++)
        {
            vcdf[t] = run / total;
            run += rowMass[t];
        }
        var half = BoundFraction / 2;
        var left = Interpolate(half, hcdf);
        var right = Interpolate(1 - half, hcdf);
        var top = Interpolate(half, vcdf);
        var bottom = Interpolate(1 - half, vcdf);
        return (slant, right - left, bottom - top);
    }

    /// <summary>The position t (0, 1, ...) where a non-decreasing table reaches <paramref name="p"/>,
    /// linearly between entries; NumPy's <c>interp(p, cdf, arange(n))</c>, ties included.</summary>
    private static double Interpolate(double p, double[] cdf)
    {
        var n = cdf.Length;
        if (p < cdf[0])
        {
            return 0;
        }
        if (p >= cdf[n - 1])
        {
            return n - 1;
        }
        var j = 0;
        while (j + 1 < n && cdf[j + 1] <= p)
        {
            j++;
        }
        var slope = 1.0 / (cdf[j + 1] - cdf[j]);
        return slope * (p - cdf[j]) + j;
    }
}
