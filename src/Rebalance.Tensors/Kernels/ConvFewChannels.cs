using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Input and weight gradients of convolutions with few input channels (at most 4, as in the first layer
/// of a discriminator or the last of a generator on grey or RGB images) and output channels in multiples
/// of 16, any stride, padding and dilation. The output gradient of each image is transposed to
/// (pixel, channel) so that every kernel tap becomes contiguous 16-channel vector work; im2col would
/// instead spread C*KH*KW (here 16) short rows over memory. Tap tables are built once per call, and a
/// zero slot after each input plane stands in for the padding, so the loops have no bounds checks.
/// </summary>
internal static unsafe class ConvFewChannels
{
    private const int Lanes = 16;
    private const int WeightGradChunks = 8;

    public static bool Applies(in ConvGeometry g) =>
        Gemm.Current >= GemmKernel.Avx2 && g.C <= 4 && g.O % Lanes == 0 && g.O <= 512 && g.KH * g.KW <= 49;

    /// <summary>AVX-512 where the GEMM runs its AVX-512 kernel; AVX2 + FMA with 8-lane halves elsewhere. The
    /// weight gradient's sums are the same on both (each lane's sum runs in the same order); the input gradient's
    /// final reduction of a pixel's vector differs in order, so the two paths agree to rounding there.
    /// Follows <see cref="Gemm.Current"/>, so tests can force the AVX2 path on an AVX-512 machine.</summary>
    private static bool Wide => Gemm.Current == GemmKernel.Avx512;

    // gyT (OHW, O) of one image from gy (O, OHW).
    private static void Transpose(float* src, int rows, int cols, float* dst) => Kernels.Transpose.Run(src, cols, dst, rows, rows, cols);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, (int[] Start, int[] TapOf, int[] PosOf)> s_dataTables = new();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, int[]> s_weightTables = new();

    /// <summary>For each input pixel, the (tap, output position) pairs that read it (depends on the shape only; cached).</summary>
    private static (int[] Start, int[] TapOf, int[] PosOf) DataTables(ConvGeometry g)
    {
        var start = new int[g.Hw + 1];
        var pairs = new List<(int Tap, int Pos)>();
        for (var h = 0; h < g.H; h++)
        {
            for (var x = 0; x < g.W; x++)
            {
                start[(h * g.W) + x] = pairs.Count;
                for (var i = 0; i < g.KH; i++)
                {
                    var ohNum = h + g.PH - (i * g.DH);
                    if (ohNum < 0 || ohNum % g.SH != 0 || ohNum / g.SH >= g.OH)
                    {
                        continue;
                    }
                    for (var j = 0; j < g.KW; j++)
                    {
                        var owNum = x + g.PW - (j * g.DW);
                        if (owNum < 0 || owNum % g.SW != 0 || owNum / g.SW >= g.OW)
                        {
                            continue;
                        }
                        pairs.Add(((i * g.KW) + j, ((ohNum / g.SH) * g.OW) + (owNum / g.SW)));
                    }
                }
            }
        }
        start[g.Hw] = pairs.Count;
        var tapOf = pairs.Select(p => p.Tap * g.O).ToArray();
        var posOf = pairs.Select(p => p.Pos * g.O).ToArray();
        return (start, tapOf, posOf);
    }

    private static int[] WeightTable(ConvGeometry g)
    {
        var kk = g.KH * g.KW;
        var taps = g.C * kk;
        var stride = g.Hw + 1;
        // off[pos][t]: offset of tap t of output position pos in the padded planes (channel c adds c * stride).
        var off = new int[g.Ohw * taps];
        for (var oh = 0; oh < g.OH; oh++)
        {
            for (var ow = 0; ow < g.OW; ow++)
            {
                var pos = (oh * g.OW) + ow;
                for (var c = 0; c < g.C; c++)
                {
                    for (var i = 0; i < g.KH; i++)
                    {
                        for (var j = 0; j < g.KW; j++)
                        {
                            var ih = (oh * g.SH) - g.PH + (i * g.DH);
                            var iw = (ow * g.SW) - g.PW + (j * g.DW);
                            var inside = (uint)ih < (uint)g.H && (uint)iw < (uint)g.W;
                            off[(pos * taps) + (c * kk) + (i * g.KW) + j] = (c * stride) + (inside ? (ih * g.W) + iw : g.Hw);
                        }
                    }
                }
            }
        }
        return off;
    }

    /// <summary>gx (N, C, H, W) = conv^T(gy, w).</summary>
    public static void BackwardData(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        var kk = g.KH * g.KW;
        // wT[c][t][o] = w[o][c][t]
        var wT = new float[g.C * kk * g.O];
        for (var o = 0; o < g.O; o++)
        {
            for (var r = 0; r < g.C * kk; r++)
            {
                wT[(r * g.O) + o] = w[(o * g.C * kk) + r];
            }
        }
        var (start, tapOf, posOf) = s_dataTables.GetOrAdd(g with { N = 0 }, static key => DataTables(key));
        var vecs = g.O / Lanes;
        var wide = Wide;
        CpuParallel.ForEach(g.N, img =>
        {
            var gyT = BufferPool.Rent<float>(g.Ohw * g.O);
            fixed (float* pgy = gy, pT = gyT, pw = wT, pgx = gx)
            fixed (int* ps = start, pt = tapOf, pp = posOf)
            {
                Transpose(pgy + ((long)img * g.O * g.Ohw), g.O, g.Ohw, pT);
                for (var c = 0; c < g.C; c++)
                {
                    var wc = pw + ((long)c * kk * g.O);
                    var dst = pgx + ((((long)img * g.C) + c) * g.Hw);
                    for (var p = 0; p < g.Hw; p++)
                    {
                        dst[p] = wide ? Pixel(wc, pT, pt, pp, ps[p], ps[p + 1], vecs) : Pixel256(wc, pT, pt, pp, ps[p], ps[p + 1], 2 * vecs);
                    }
                }
            }
            BufferPool.Return(gyT);
        });
    }

    // sum over pairs k in [k0, k1) and channel vectors v of wc[tap_k + v] * gyT[pos_k + v]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Pixel(float* wc, float* gyT, int* tap, int* pos, int k0, int k1, int vecs)
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        for (var k = k0; k < k1; k++)
        {
            var wp = wc + tap[k];
            var gp = gyT + pos[k];
            var v = 0;
            for (; v + 1 < vecs; v += 2)
            {
                acc0 = Avx512F.FusedMultiplyAdd(Vector512.Load(wp + (v * Lanes)), Vector512.Load(gp + (v * Lanes)), acc0);
                acc1 = Avx512F.FusedMultiplyAdd(Vector512.Load(wp + ((v + 1) * Lanes)), Vector512.Load(gp + ((v + 1) * Lanes)), acc1);
            }
            if (v < vecs)
            {
                acc0 = Avx512F.FusedMultiplyAdd(Vector512.Load(wp + (v * Lanes)), Vector512.Load(gp + (v * Lanes)), acc0);
            }
        }
        return Vector512.Sum(acc0 + acc1);
    }

    // Pixel with AVX2 + FMA over halves of 8 channels.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Pixel256(float* wc, float* gyT, int* tap, int* pos, int k0, int k1, int halves)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        for (var k = k0; k < k1; k++)
        {
            var wp = wc + tap[k];
            var gp = gyT + pos[k];
            for (var h = 0; h < halves; h += 2)
            {
                acc0 = Fma.MultiplyAdd(Vector256.Load(wp + (h * 8)), Vector256.Load(gp + (h * 8)), acc0);
                acc1 = Fma.MultiplyAdd(Vector256.Load(wp + (h * 8) + 8), Vector256.Load(gp + (h * 8) + 8), acc1);
            }
        }
        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>gw (O, C, KH, KW) = sum over images and positions of gy[o, pos] * x[c, tap(pos)].</summary>
    public static void BackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        var kk = g.KH * g.KW;
        var taps = g.C * kk;
        var stride = g.Hw + 1; // a zero slot after each plane for padding taps
        var off = s_weightTables.GetOrAdd(g with { N = 0 }, static key => WeightTable(key));
        var tapGroups = (taps + 3) / 4;
        var oBlocks = (g.O + 63) / 64; // 4 vectors of 16 channels per block
        var tile = 4 * 4 * Lanes;
        var accSize = tapGroups * oBlocks * tile;
        var chunks = Math.Min(g.N, WeightGradChunks);
        if (chunks == 0)
        {
            gw.AsSpan(0, g.O * taps).Clear();
            return;
        }
        var partials = new float[chunks][];
        var wide = Wide;
        CpuParallel.ForEach(chunks, ci =>
        {
            var n0 = (int)((long)g.N * ci / chunks);
            var n1 = (int)((long)g.N * (ci + 1) / chunks);
            var acc = BufferPool.Rent<float>(accSize);
            acc.AsSpan(0, accSize).Clear();
            partials[ci] = acc;
            var gyT = BufferPool.Rent<float>((g.Ohw * g.O) + (64 * Lanes));
            var pad = BufferPool.Rent<float>(g.C * stride);
            gyT.AsSpan(g.Ohw * g.O).Clear(); // slack past the last row for partial channel blocks
            fixed (float* pgy = gy, pT = gyT, px = pad, pa = acc)
            fixed (int* po = off)
            {
                for (var img = n0; img < n1; img++)
                {
                    Transpose(pgy + ((long)img * g.O * g.Ohw), g.O, g.Ohw, pT);
                    for (var c = 0; c < g.C; c++)
                    {
                        x.AsSpan((((img * g.C) + c) * g.Hw), g.Hw).CopyTo(pad.AsSpan(c * stride, g.Hw));
                        pad[(c * stride) + g.Hw] = 0f;
                    }
                    for (var tg = 0; tg < tapGroups; tg++)
                    {
                        for (var ob = 0; ob < oBlocks; ob++)
                        {
                            var vecs = Math.Min(4, (g.O - (ob * 64)) / Lanes);
                            var accTile = pa + ((long)((tg * oBlocks) + ob) * tile);
                            if (wide)
                            {
                                WeightTile(pT, g.O, ob * 64, vecs, px, po, taps, tg * 4, Math.Min(4, taps - (tg * 4)), g.Ohw, accTile);
                            }
                            else
                            {
                                for (var v = 0; v < vecs; v++)
                                {
                                    WeightTile256(pT, g.O, (ob * 64) + (v * Lanes), px, po, taps, tg * 4, Math.Min(4, taps - (tg * 4)), g.Ohw, accTile + (v * Lanes));
                                }
                            }
                        }
                    }
                }
            }
            BufferPool.Return(gyT);
            BufferPool.Return(pad);
        });
        var total = partials[0].AsSpan(0, accSize);
        for (var ci = 1; ci < chunks; ci++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(total, partials[ci].AsSpan(0, accSize), total);
        }
        for (var tg = 0; tg < tapGroups; tg++)
        {
            for (var ob = 0; ob < oBlocks; ob++)
            {
                var t0 = ((tg * oBlocks) + ob) * tile;
                for (var tt = 0; tt < 4 && (tg * 4) + tt < taps; tt++)
                {
                    for (var v = 0; v < 4 && (ob * 64) + (v * Lanes) < g.O; v++)
                    {
                        for (var l = 0; l < Lanes; l++)
                        {
                            var o = (ob * 64) + (v * Lanes) + l;
                            gw[(o * taps) + (tg * 4) + tt] = total[t0 + (((tt * 4) + v) * Lanes) + l];
                        }
                    }
                }
            }
        }
        foreach (var part in partials)
        {
            BufferPool.Return(part);
        }
    }

    // acc[t][v] += x[tap t of pos] * gyT[pos, o0 + 16 v ..] over all positions; 4 taps x up to 4 channel vectors.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightTile(float* gyT, int o, int o0, int vecs, float* x, int* off, int taps, int t0, int tcount, int positions, float* acc)
    {
        var a00 = Vector512.Load(acc); var a01 = Vector512.Load(acc + 16); var a02 = Vector512.Load(acc + 32); var a03 = Vector512.Load(acc + 48);
        var a10 = Vector512.Load(acc + 64); var a11 = Vector512.Load(acc + 80); var a12 = Vector512.Load(acc + 96); var a13 = Vector512.Load(acc + 112);
        var a20 = Vector512.Load(acc + 128); var a21 = Vector512.Load(acc + 144); var a22 = Vector512.Load(acc + 160); var a23 = Vector512.Load(acc + 176);
        var a30 = Vector512.Load(acc + 192); var a31 = Vector512.Load(acc + 208); var a32 = Vector512.Load(acc + 224); var a33 = Vector512.Load(acc + 240);
        // Taps past the end and channel vectors past O read valid memory (tap 0, the zero slack) and are never stored.
        int q0 = t0, q1 = t0 + Math.Min(1, tcount - 1), q2 = t0 + Math.Min(2, tcount - 1), q3 = t0 + Math.Min(3, tcount - 1);
        for (var p = 0; p < positions; p++)
        {
            var gp = gyT + ((long)p * o) + o0;
            var g0 = Vector512.Load(gp);
            var g1 = vecs > 1 ? Vector512.Load(gp + 16) : default;
            var g2 = vecs > 2 ? Vector512.Load(gp + 32) : default;
            var g3 = vecs > 3 ? Vector512.Load(gp + 48) : default;
            var po = off + ((long)p * taps);
            var x0 = Vector512.Create(x[po[q0]]);
            var x1 = Vector512.Create(x[po[q1]]);
            var x2 = Vector512.Create(x[po[q2]]);
            var x3 = Vector512.Create(x[po[q3]]);
            a00 = Avx512F.FusedMultiplyAdd(x0, g0, a00); a01 = Avx512F.FusedMultiplyAdd(x0, g1, a01); a02 = Avx512F.FusedMultiplyAdd(x0, g2, a02); a03 = Avx512F.FusedMultiplyAdd(x0, g3, a03);
            a10 = Avx512F.FusedMultiplyAdd(x1, g0, a10); a11 = Avx512F.FusedMultiplyAdd(x1, g1, a11); a12 = Avx512F.FusedMultiplyAdd(x1, g2, a12); a13 = Avx512F.FusedMultiplyAdd(x1, g3, a13);
            a20 = Avx512F.FusedMultiplyAdd(x2, g0, a20); a21 = Avx512F.FusedMultiplyAdd(x2, g1, a21); a22 = Avx512F.FusedMultiplyAdd(x2, g2, a22); a23 = Avx512F.FusedMultiplyAdd(x2, g3, a23);
            a30 = Avx512F.FusedMultiplyAdd(x3, g0, a30); a31 = Avx512F.FusedMultiplyAdd(x3, g1, a31); a32 = Avx512F.FusedMultiplyAdd(x3, g2, a32); a33 = Avx512F.FusedMultiplyAdd(x3, g3, a33);
        }
        a00.Store(acc); a01.Store(acc + 16); a02.Store(acc + 32); a03.Store(acc + 48);
        a10.Store(acc + 64); a11.Store(acc + 80); a12.Store(acc + 96); a13.Store(acc + 112);
        a20.Store(acc + 128); a21.Store(acc + 144); a22.Store(acc + 160); a23.Store(acc + 176);
        a30.Store(acc + 192); a31.Store(acc + 208); a32.Store(acc + 224); a33.Store(acc + 240);
    }

    // WeightTile for one vector of 16 channels with AVX2 + FMA: acc[t][v] (at acc + t * 64, as WeightTile lays
    // it out) += x[tap t of pos] * gyT[pos, o0 ..] over all positions, as two 8-lane halves, each lane's sum in
    // WeightTile's order.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightTile256(float* gyT, int o, int o0, float* x, int* off, int taps, int t0, int tcount, int positions, float* acc)
    {
        var a00 = Vector256.Load(acc); var a01 = Vector256.Load(acc + 8);
        var a10 = Vector256.Load(acc + 64); var a11 = Vector256.Load(acc + 72);
        var a20 = Vector256.Load(acc + 128); var a21 = Vector256.Load(acc + 136);
        var a30 = Vector256.Load(acc + 192); var a31 = Vector256.Load(acc + 200);
        int q0 = t0, q1 = t0 + Math.Min(1, tcount - 1), q2 = t0 + Math.Min(2, tcount - 1), q3 = t0 + Math.Min(3, tcount - 1);
        for (var p = 0; p < positions; p++)
        {
            var gp = gyT + ((long)p * o) + o0;
            var g0 = Vector256.Load(gp);
            var g1 = Vector256.Load(gp + 8);
            var po = off + ((long)p * taps);
            var x0 = Vector256.Create(x[po[q0]]);
            var x1 = Vector256.Create(x[po[q1]]);
            var x2 = Vector256.Create(x[po[q2]]);
            var x3 = Vector256.Create(x[po[q3]]);
            a00 = Fma.MultiplyAdd(x0, g0, a00); a01 = Fma.MultiplyAdd(x0, g1, a01);
            a10 = Fma.MultiplyAdd(x1, g0, a10); a11 = Fma.MultiplyAdd(x1, g1, a11);
            a20 = Fma.MultiplyAdd(x2, g0, a20); a21 = Fma.MultiplyAdd(x2, g1, a21);
            a30 = Fma.MultiplyAdd(x3, g0, a30); a31 = Fma.MultiplyAdd(x3, g1, a31);
        }
        a00.Store(acc); a01.Store(acc + 8);
        a10.Store(acc + 64); a11.Store(acc + 72);
        a20.Store(acc + 128); a21.Store(acc + 136);
        a30.Store(acc + 192); a31.Store(acc + 200);
    }
}
