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

    // col: (C*KH*KW, ld) where this image's columns start at colOffset; x: one image (C, H, W).
    public static void Im2Col<T>(ReadOnlySpan<T> x, in ConvGeometry g, Span<T> col, int ld, int colOffset) where T : unmanaged, INumber<T>
    {
        for (var c = 0; c < g.C; c++)
        {
            for (var kh = 0; kh < g.KH; kh++)
            {
                for (var kw = 0; kw < g.KW; kw++)
                {
                    var row = col.Slice((((c * g.KH) + kh) * g.KW + kw) * ld + colOffset, g.Ohw);
                    var dx = (kw * g.DW) - g.PW;
                    for (var oh = 0; oh < g.OH; oh++)
                    {
                        var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                        var dst = row.Slice(oh * g.OW, g.OW);
                        if ((uint)ih >= (uint)g.H)
                        {
                            dst.Clear();
                            continue;
                        }
                        var src = x.Slice((c * g.Hw) + (ih * g.W), g.W);
                        if (g.SW == 1)
                        {
                            // Valid ow satisfy 0 <= ow + dx < W.
                            var lo = Math.Clamp(-dx, 0, g.OW);
                            var hi = Math.Clamp(g.W - dx, lo, g.OW);
                            dst[..lo].Clear();
                            src.Slice(lo + dx, hi - lo).CopyTo(dst[lo..hi]);
                            dst[hi..].Clear();
                        }
                        else
                        {
                            for (var ow = 0; ow < g.OW; ow++)
                            {
                                var iw = (ow * g.SW) + dx;
                                dst[ow] = (uint)iw < (uint)g.W ? src[iw] : T.Zero;
                            }
                        }
                    }
                }
            }
        }
    }

    // The adjoint of Im2Col: adds each column entry back to the pixel it came from. x is cleared first.
    public static void Col2Im<T>(ReadOnlySpan<T> col, int ld, int colOffset, in ConvGeometry g, Span<T> x) where T : unmanaged, INumber<T>
    {
        x.Clear();
        for (var c = 0; c < g.C; c++)
        {
            for (var kh = 0; kh < g.KH; kh++)
            {
                for (var kw = 0; kw < g.KW; kw++)
                {
                    var row = col.Slice((((c * g.KH) + kh) * g.KW + kw) * ld + colOffset, g.Ohw);
                    var dx = (kw * g.DW) - g.PW;
                    for (var oh = 0; oh < g.OH; oh++)
                    {
                        var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                        if ((uint)ih >= (uint)g.H)
                        {
                            continue;
                        }
                        var src = row.Slice(oh * g.OW, g.OW);
                        var dst = x.Slice((c * g.Hw) + (ih * g.W), g.W);
                        if (g.SW == 1)
                        {
                            var lo = Math.Clamp(-dx, 0, g.OW);
                            var hi = Math.Clamp(g.W - dx, lo, g.OW);
                            var d = dst.Slice(lo + dx, hi - lo);
                            var s = src[lo..hi];
                            for (var i = 0; i < d.Length; i++)
                            {
                                d[i] += s[i];
                            }
                        }
                        else
                        {
                            for (var ow = 0; ow < g.OW; ow++)
                            {
                                var iw = (ow * g.SW) + dx;
                                if ((uint)iw < (uint)g.W)
                                {
                                    dst[iw] += src[ow];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>y = conv(x, w); x (N,C,H,W), w (O,C,KH,KW), y (N,O,OH,OW).</summary>
    public static void Forward<T>(T[] x, T[] w, T[] y, ConvGeometry g) where T : unmanaged, INumber<T>
    {
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
                    Im2Col<T>(x.AsSpan(n0 * g.C * g.Hw, g.C * g.Hw), g, col, ld, 0);
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
                Im2Col<T>(x.AsSpan((n0 + i) * g.C * g.Hw, g.C * g.Hw), g, cols, ld, i * g.Ohw);
            }
            Gemm.Run(false, false, g.O, ld, g.Ckk, T.One, w, g.Ckk, cols.AsSpan(0, g.Ckk * ld), ld, T.Zero, outBuf.AsSpan(0, g.O * ld), ld, inner);
            // (O, cnt, OHW) -> (cnt, O, OHW)
            for (var o = 0; o < g.O; o++)
            {
                for (var i = 0; i < cnt; i++)
                {
                    outBuf.AsSpan((o * ld) + (i * g.Ohw), g.Ohw).CopyTo(y.AsSpan((((n0 + i) * g.O) + o) * g.Ohw, g.Ohw));
                }
            }
            BufferPool.Return(cols);
            BufferPool.Return(outBuf);
        });
    }

    /// <summary>gx = conv^T(gy, w): the gradient of a convolution toward its input, which is also the
    /// forward pass of a transposed convolution. gy (N,O,OH,OW), w (O,C,KH,KW), gx (N,C,H,W).</summary>
    public static void BackwardData<T>(T[] gy, T[] w, T[] gx, ConvGeometry g) where T : unmanaged, INumber<T>
    {
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
                for (var o = 0; o < g.O; o++)
                {
                    for (var i = 0; i < cnt; i++)
                    {
                        gy.AsSpan((((n0 + i) * g.O) + o) * g.Ohw, g.Ohw).CopyTo(gyBuf.AsSpan((o * ld) + (i * g.Ohw), g.Ohw));
                    }
                }
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
                Col2Im<T>(cols, ld, i * g.Ohw, g, gx.AsSpan((n0 + i) * g.C * g.Hw, g.C * g.Hw));
            }
            BufferPool.Return(cols);
            if (gyBuf is not null)
            {
                BufferPool.Return(gyBuf);
            }
        });
    }

    /// <summary>gw = sum over images of gy[n] @ im2col(x[n])^T; x (N,C,H,W), gy (N,O,OH,OW), gw (O,C,KH,KW).</summary>
    public static void BackwardWeight<T>(T[] x, T[] gy, T[] gw, ConvGeometry g) where T : unmanaged, INumber<T>
    {
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
            var acc = ci == 0 ? gw : new T[wsize];
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
                    Im2Col<T>(x.AsSpan((n0 + i) * g.C * g.Hw, g.C * g.Hw), g, cols, ld, i * g.Ohw);
                }
                for (var o = 0; o < g.O; o++)
                {
                    for (var i = 0; i < cnt; i++)
                    {
                        gy.AsSpan((((n0 + i) * g.O) + o) * g.Ohw, g.Ohw).CopyTo(gyBuf.AsSpan((o * ld) + (i * g.Ohw), g.Ohw));
                    }
                }
                Gemm.Run(false, true, g.O, g.Ckk, ld, T.One, gyBuf.AsSpan(0, g.O * ld), ld, cols.AsSpan(0, g.Ckk * ld), ld, first ? T.Zero : T.One, acc.AsSpan(0, wsize), g.Ckk, inner);
                first = false;
                BufferPool.Return(cols);
                BufferPool.Return(gyBuf);
            }
            if (first)
            {
                acc.AsSpan(0, wsize).Clear();
            }
        });
        for (var ci = 1; ci < chunks; ci++)
        {
            var p = partials[ci];
            for (var i = 0; i < wsize; i++)
            {
                gw[i] += p[i];
            }
        }
        if (groups == 0)
        {
            gw.AsSpan(0, wsize).Clear();
        }
    }
}
