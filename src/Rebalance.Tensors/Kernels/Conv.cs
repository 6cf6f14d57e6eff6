using System.Numerics;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Shapes of one 2-D convolution: x (N, C, H, W), w (O, C, KH, KW), y (N, O, OH, OW).
/// A transposed convolution is the adjoint of a convolution and uses the same geometry with the roles
/// of x and y swapped.
/// </summary>
internal readonly record struct ConvGeometry(int N, int C, int H, int W, int O, int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW, int OH, int OW)
{
    public int Ckk => C * KH * KW;

    public int Ohw => OH * OW;

    public int Hw => H * W;

    /// <summary>Images whose im2col columns are multiplied together, so small images still make a wide GEMM.</summary>
    public int GroupSize => Math.Clamp((256 + Ohw - 1) / Math.Max(1, Ohw), 1, Math.Max(1, N));

    public bool IsPointwise => KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;
}

/// <summary>
/// Convolution by im2col + GEMM. Images are taken in groups (see <see cref="ConvGeometry.GroupSize"/>):
/// the group's columns sit side by side in one (C*KH*KW, g*OH*OW) matrix and one GEMM serves the group.
/// Groups run in parallel. The weight gradient is summed in a fixed number of chunks, each over a fixed
/// range of groups, and the chunks are added in order, so it is the same whatever the thread count.
/// </summary>
internal static class Conv
{
    private const int WeightGradChunks = 8;

    /// <summary>Tests route float32 through the generic path too, to check it against the reference.</summary>
    internal static bool ForceGeneric { get; set; }

    /// <summary>Tests and benchmarks switch the direct stride-1 kernel off to compare it with im2col.</summary>
    internal static bool ForceIm2Col { get; set; }

    /// <summary>Range [lo, hi) of output columns ow whose input column ow * stride + offset lies in [0, width).</summary>
    private static (int Lo, int Hi) ValidRange(int offset, int stride, int width, int outWidth)
    {
        // ow * stride + offset >= 0  <=>  ow >= ceil(-offset / stride)
        var lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        // ow * stride + offset < width  <=>  ow < ceil((width - offset) / stride)
        var hi = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride;
        lo = Math.Min(lo, outWidth);
        return (lo, Math.Clamp(hi, lo, outWidth));
    }

    /// <summary>
    /// For each (kh, kw, oh, ow), the offset within one input plane that im2col reads, or -1 where the
    /// window lies in the padding. The map is the same for every channel and image, so small images
    /// (where per-row loop overhead would dominate) are unrolled through it as one flat gather.
    /// </summary>
    public static int[] BuildMap(in ConvGeometry g) => s_maps.GetOrAdd(g with { N = 0 }, static key => BuildMapUncached(key));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, int[]> s_maps = new();

    private static int[] BuildMapUncached(in ConvGeometry g)
    {
        var map = new int[g.KH * g.KW * g.Ohw];
        var q = 0;
        for (var kh = 0; kh < g.KH; kh++)
        {
            for (var kw = 0; kw < g.KW; kw++)
            {
                for (var oh = 0; oh < g.OH; oh++)
                {
                    var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                    for (var ow = 0; ow < g.OW; ow++)
                    {
                        var iw = (ow * g.SW) - g.PW + (kw * g.DW);
                        map[q++] = (uint)ih < (uint)g.H && (uint)iw < (uint)g.W ? (ih * g.W) + iw : -1;
                    }
                }
            }
        }
        return map;
    }

    /// <summary>Whether rows are short enough that the flat map beats the row-by-row copy.</summary>
    public static bool UseMap(in ConvGeometry g) => g.SW != 1 || g.OW < 16;

    private static unsafe void Im2ColMap<T>(T* x, in ConvGeometry g, T* col, int ld, int colOffset, int[] map) where T : unmanaged, INumber<T>
    {
        var kk = g.KH * g.KW;
        var ohw = g.Ohw;
        fixed (int* pm = map)
        {
            for (var c = 0; c < g.C; c++)
            {
                var plane = x + (c * g.Hw);
                for (var t = 0; t < kk; t++)
                {
                    var dst = col + ((long)((c * kk) + t) * ld) + colOffset;
                    var m = pm + (t * ohw);
                    for (var q = 0; q < ohw; q++)
                    {
                        var off = m[q];
                        dst[q] = off >= 0 ? plane[off] : T.Zero;
                    }
                }
            }
        }
    }

    private static unsafe void Col2ImMap<T>(T* col, int ld, int colOffset, in ConvGeometry g, T* x, int[] map) where T : unmanaged, INumber<T>
    {
        var kk = g.KH * g.KW;
        var ohw = g.Ohw;
        fixed (int* pm = map)
        {
            for (var c = 0; c < g.C; c++)
            {
                var plane = x + (c * g.Hw);
                for (var t = 0; t < kk; t++)
                {
                    var src = col + ((long)((c * kk) + t) * ld) + colOffset;
                    var m = pm + (t * ohw);
                    for (var q = 0; q < ohw; q++)
                    {
                        var off = m[q];
                        if (off >= 0)
                        {
                            plane[off] += src[q];
                        }
                    }
                }
            }
        }
    }

    // col: (C*KH*KW, ld) where this image's columns start at colOffset; x: one image (C, H, W).
    // Row (c, kh, kw) of col holds x[c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW] over (oh, ow), 0 outside the image.
    public static unsafe void Im2Col<T>(ReadOnlySpan<T> x, in ConvGeometry g, Span<T> col, int ld, int colOffset, int[]? map = null) where T : unmanaged, INumber<T>
    {
        if (x.Length < g.C * g.Hw || col.Length < ((g.Ckk - 1) * ld) + colOffset + g.Ohw)
        {
            throw new ArgumentException("im2col: buffers too small for the geometry");
        }
        fixed (T* px = x, pcol = col)
        {
            if (map is not null)
            {
                Im2ColMap(px, g, pcol, ld, colOffset, map);
                return;
            }
            for (var c = 0; c < g.C; c++)
            {
                for (var kh = 0; kh < g.KH; kh++)
                {
                    for (var kw = 0; kw < g.KW; kw++)
                    {
                        var row = pcol + ((long)((((c * g.KH) + kh) * g.KW) + kw) * ld) + colOffset;
                        var dx = (kw * g.DW) - g.PW;
                        var (lo, hi) = ValidRange(dx, g.SW, g.W, g.OW);
                        for (var oh = 0; oh < g.OH; oh++)
                        {
                            var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                            var dst = row + (oh * g.OW);
                            if ((uint)ih >= (uint)g.H)
                            {
                                new Span<T>(dst, g.OW).Clear();
                                continue;
                            }
                            var src = px + (c * g.Hw) + (ih * g.W) + dx;
                            for (var ow = 0; ow < lo; ow++)
                            {
                                dst[ow] = T.Zero;
                            }
                            if (g.SW == 1)
                            {
                                new ReadOnlySpan<T>(src + lo, hi - lo).CopyTo(new Span<T>(dst + lo, hi - lo));
                            }
                            else
                            {
                                for (var ow = lo; ow < hi; ow++)
                                {
                                    dst[ow] = src[ow * g.SW];
                                }
                            }
                            for (var ow = hi; ow < g.OW; ow++)
                            {
                                dst[ow] = T.Zero;
                            }
                        }
                    }
                }
            }
        }
    }

    // The adjoint of Im2Col: adds each column entry back to the pixel it came from. x is cleared first.
    public static unsafe void Col2Im<T>(ReadOnlySpan<T> col, int ld, int colOffset, in ConvGeometry g, Span<T> x, int[]? map = null) where T : unmanaged, INumber<T>
    {
        if (x.Length < g.C * g.Hw || col.Length < ((g.Ckk - 1) * ld) + colOffset + g.Ohw)
        {
            throw new ArgumentException("col2im: buffers too small for the geometry");
        }
        x[..(g.C * g.Hw)].Clear();
        fixed (T* px = x, pcol = col)
        {
            if (map is not null)
            {
                Col2ImMap(pcol, ld, colOffset, g, px, map);
                return;
            }
            for (var c = 0; c < g.C; c++)
            {
                for (var kh = 0; kh < g.KH; kh++)
                {
                    for (var kw = 0; kw < g.KW; kw++)
                    {
                        var row = pcol + ((long)((((c * g.KH) + kh) * g.KW) + kw) * ld) + colOffset;
                        var dx = (kw * g.DW) - g.PW;
                        var (lo, hi) = ValidRange(dx, g.SW, g.W, g.OW);
                        for (var oh = 0; oh < g.OH; oh++)
                        {
                            var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                            if ((uint)ih >= (uint)g.H)
                            {
                                continue;
                            }
                            var src = row + (oh * g.OW);
                            var dst = px + (c * g.Hw) + (ih * g.W) + dx;
                            if (g.SW == 1)
                            {
                                for (var ow = lo; ow < hi; ow++)
                                {
                                    dst[ow] += src[ow];
                                }
                            }
                            else
                            {
                                for (var ow = lo; ow < hi; ow++)
                                {
                                    dst[ow * g.SW] += src[ow];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Copies a group's GEMM output (O, cnt, OHW) into images n0.. of y (N, O, OH, OW).</summary>
    public static void GroupToNchw<T>(ReadOnlySpan<T> group, Span<T> y, in ConvGeometry g, int n0, int cnt)
    {
        var ld = cnt * g.Ohw;
        for (var o = 0; o < g.O; o++)
        {
            for (var i = 0; i < cnt; i++)
            {
                group.Slice((o * ld) + (i * g.Ohw), g.Ohw).CopyTo(y.Slice((((n0 + i) * g.O) + o) * g.Ohw, g.Ohw));
            }
        }
    }

    /// <summary>Copies images n0.. of gy (N, O, OH, OW) into the group layout (O, cnt, OHW).</summary>
    public static void NchwToGroup<T>(ReadOnlySpan<T> gy, Span<T> group, in ConvGeometry g, int n0, int cnt)
    {
        var ld = cnt * g.Ohw;
        for (var o = 0; o < g.O; o++)
        {
            for (var i = 0; i < cnt; i++)
            {
                gy.Slice((((n0 + i) * g.O) + o) * g.Ohw, g.Ohw).CopyTo(group.Slice((o * ld) + (i * g.Ohw), g.Ohw));
            }
        }
    }

    /// <summary>y = conv(x, w); x (N,C,H,W), w (O,C,KH,KW), y (N,O,OH,OW).</summary>
    /// <summary>Whether the float32 forward and weight gradient of g both run channels-last, so the forward can
    /// leave its channels-last copy of the input for the weight gradient.</summary>
    public static bool SharesInputCopy(in ConvGeometry g) =>
        !ForceGeneric && !ForceIm2Col && !ConvDirect.Applies(g) && ConvChannelsLast.Applies(g) && !ConvFewChannels.Applies(g) && ConvChannelsLast.AppliesToWeightGradient(g);

    public static void Forward<T>(T[] x, T[] w, T[] y, ConvGeometry g) where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvDirect.Applies(g))
        {
            ConvDirect.Forward((float[])(object)x, (float[])(object)w, (float[])(object)y, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvChannelsLast.Applies(g))
        {
            ConvChannelsLast.Forward((float[])(object)x, (float[])(object)w, (float[])(object)y, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric)
        {
            ConvPacked.Forward((float[])(object)x, (float[])(object)w, (float[])(object)y, g);
            return;
        }
        var map = UseMap(g) ? BuildMap(g) : null;
        var gs = g.GroupSize;
        var groups = (g.N + gs - 1) / gs;
        var inner = groups < 2;
        CpuParallel.ForEach(groups, gi =>
        {
            var n0 = gi * gs;
            var cnt = Math.Min(gs, g.N - n0);
            var ld = cnt * g.Ohw;
            if (cnt == 1)
            {
                // One image: GEMM straight into y[n].
                ReadOnlySpan<T> colSpan;
                T[]? col = null;
                if (g.IsPointwise)
                {
                    colSpan = x.AsSpan(n0 * g.C * g.Hw, g.C * g.Hw);
                }
                else
                {
                    col = BufferPool.Rent<T>(g.Ckk * ld);
                    Im2Col<T>(x.AsSpan(n0 * g.C * g.Hw, g.C * g.Hw), g, col, ld, 0, map);
                    colSpan = col.AsSpan(0, g.Ckk * ld);
                }
                Gemm.Run(false, false, g.O, g.Ohw, g.Ckk, T.One, w, g.Ckk, colSpan, ld, T.Zero, y.AsSpan(n0 * g.O * g.Ohw, g.O * g.Ohw), g.Ohw, inner);
                if (col is not null)
                {
                    BufferPool.Return(col);
                }
                return;
            }
            var cols = BufferPool.Rent<T>(g.Ckk * ld);
            var outBuf = BufferPool.Rent<T>(g.O * ld);
            for (var i = 0; i < cnt; i++)
            {
                Im2Col<T>(x.AsSpan((n0 + i) * g.C * g.Hw, g.C * g.Hw), g, cols, ld, i * g.Ohw, map);
            }
            Gemm.Run(false, false, g.O, ld, g.Ckk, T.One, w, g.Ckk, cols.AsSpan(0, g.Ckk * ld), ld, T.Zero, outBuf.AsSpan(0, g.O * ld), ld, inner);
            GroupToNchw<T>(outBuf, y, g, n0, cnt);
            BufferPool.Return(cols);
            BufferPool.Return(outBuf);
        });
    }

    /// <summary>gx = conv^T(gy, w): the gradient of a convolution toward its input, which is also the
    /// forward pass of a transposed convolution. gy (N,O,OH,OW), w (O,C,KH,KW), gx (N,C,H,W).</summary>
    public static void BackwardData<T>(T[] gy, T[] w, T[] gx, ConvGeometry g) where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvFewChannels.Applies(g))
        {
            ConvFewChannels.BackwardData((float[])(object)gy, (float[])(object)w, (float[])(object)gx, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvDirect.Applies(g))
        {
            ConvDirect.BackwardData((float[])(object)gy, (float[])(object)w, (float[])(object)gx, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvChannelsLast.Applies(g))
        {
            ConvChannelsLast.BackwardData((float[])(object)gy, (float[])(object)w, (float[])(object)gx, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric)
        {
            ConvPacked.BackwardData((float[])(object)gy, (float[])(object)w, (float[])(object)gx, g);
            return;
        }
        var map = UseMap(g) ? BuildMap(g) : null;
        var gs = g.GroupSize;
        var groups = (g.N + gs - 1) / gs;
        var inner = groups < 2;
        CpuParallel.ForEach(groups, gi =>
        {
            var n0 = gi * gs;
            var cnt = Math.Min(gs, g.N - n0);
            var ld = cnt * g.Ohw;
            T[]? gyBuf = null;
            ReadOnlySpan<T> gySpan;
            if (cnt == 1)
            {
                gySpan = gy.AsSpan(n0 * g.O * g.Ohw, g.O * g.Ohw);
            }
            else
            {
                gyBuf = BufferPool.Rent<T>(g.O * ld);
                NchwToGroup<T>(gy, gyBuf, g, n0, cnt);
                gySpan = gyBuf.AsSpan(0, g.O * ld);
            }
            if (cnt == 1 && g.IsPointwise)
            {
                Gemm.Run(true, false, g.Ckk, ld, g.O, T.One, w, g.Ckk, gySpan, ld, T.Zero, gx.AsSpan(n0 * g.C * g.Hw, g.C * g.Hw), ld, inner);
                return;
            }
            var cols = BufferPool.Rent<T>(g.Ckk * ld);
            Gemm.Run(true, false, g.Ckk, ld, g.O, T.One, w, g.Ckk, gySpan, ld, T.Zero, cols.AsSpan(0, g.Ckk * ld), ld, inner);
            for (var i = 0; i < cnt; i++)
            {
                Col2Im<T>(cols, ld, i * g.Ohw, g, gx.AsSpan((n0 + i) * g.C * g.Hw, g.C * g.Hw), map);
            }
            BufferPool.Return(cols);
            if (gyBuf is not null)
            {
                BufferPool.Return(gyBuf);
            }
        });
    }

    /// <summary>gw = sum over images of gy[n] @ im2col(x[n])^T; x (N,C,H,W), gy (N,O,OH,OW), gw (O,C,KH,KW).
    /// Each chunk computes the transpose, im2col(x) @ gy^T of shape (C*KH*KW, O): with the long
    /// C*KH*KW side as the GEMM's rows the micro-tiles are full, which measured 1.2-1.7x faster.</summary>
    public static void BackwardWeight<T>(T[] x, T[] gy, T[] gw, ConvGeometry g) where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvFewChannels.Applies(g))
        {
            ConvFewChannels.BackwardWeight((float[])(object)x, (float[])(object)gy, (float[])(object)gw, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvChannelsLast.AppliesToWeightGradient(g))
        {
            ConvChannelsLast.BackwardWeight((float[])(object)x, (float[])(object)gy, (float[])(object)gw, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric && !ForceIm2Col && ConvDirect.Applies(g))
        {
            ConvDirect.BackwardWeight((float[])(object)x, (float[])(object)gy, (float[])(object)gw, g);
            return;
        }
        if (typeof(T) == typeof(float) && !ForceGeneric)
        {
            ConvPacked.BackwardWeight((float[])(object)x, (float[])(object)gy, (float[])(object)gw, g);
            return;
        }
        var map = UseMap(g) ? BuildMap(g) : null;
        var gs = g.GroupSize;
        var groups = (g.N + gs - 1) / gs;
        var chunks = Math.Min(groups, WeightGradChunks);
        var wsize = g.O * g.Ckk;
        var partials = new T[chunks][];
        var inner = chunks < 2;
        CpuParallel.ForEach(chunks, ci =>
        {
            var g0 = (int)((long)groups * ci / chunks);
            var g1 = (int)((long)groups * (ci + 1) / chunks);
            var acc = new T[wsize]; // (C*KH*KW, O)
            partials[ci] = acc;
            var first = true;
            for (var gi = g0; gi < g1; gi++)
            {
                var n0 = gi * gs;
                var cnt = Math.Min(gs, g.N - n0);
                var ld = cnt * g.Ohw;
                var cols = BufferPool.Rent<T>(g.Ckk * ld);
                var gyBuf = BufferPool.Rent<T>(g.O * ld);
                for (var i = 0; i < cnt; i++)
                {
                    Im2Col<T>(x.AsSpan((n0 + i) * g.C * g.Hw, g.C * g.Hw), g, cols, ld, i * g.Ohw, map);
                }
                NchwToGroup<T>(gy, gyBuf, g, n0, cnt);
                Gemm.Run(false, true, g.Ckk, g.O, ld, T.One, cols.AsSpan(0, g.Ckk * ld), ld, gyBuf.AsSpan(0, g.O * ld), ld, first ? T.Zero : T.One, acc.AsSpan(0, wsize), g.O, inner);
                first = false;
                BufferPool.Return(cols);
                BufferPool.Return(gyBuf);
            }
        });
        // Sum the chunks in order and transpose (C*KH*KW, O) -> (O, C*KH*KW).
        for (var o = 0; o < g.O; o++)
        {
            for (var r = 0; r < g.Ckk; r++)
            {
                var v = T.Zero;
                for (var ci = 0; ci < chunks; ci++)
                {
                    v += partials[ci][(r * g.O) + o];
                }
                gw[(o * g.Ckk) + r] = v;
            }
        }
    }
}
