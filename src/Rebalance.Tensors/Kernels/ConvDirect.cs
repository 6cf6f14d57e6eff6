using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Direct float32 convolution for stride 1 and dilation 1 with AVX-512 or AVX2 + FMA, used where im2col would
/// multiply the input by KH*KW (small channel counts, 3x3 and 5x5 kernels) and the gather dominates.
/// Each image is copied once into a zero-bordered buffer, so taps need no bounds checks; kernel rows that
/// read only the border for both rows of a pair are skipped. The register tile is 8 output channels x 2
/// output rows x 16 output columns: per tap, two row loads and eight weight broadcasts feed sixteen FMAs. Output columns past OW are computed on border zeros and discarded.
/// For stride 1 the input gradient is the same kernel applied to the output gradient with the weights
/// flipped and transposed.
/// </summary>
internal static unsafe class ConvDirect
{
    private const int Ob = 8;
    private const int Lanes = 16;

    /// <summary>
    /// Whether the direct kernel handles this geometry. It measured 2-7x faster than im2col when output
    /// rows fill at least three quarters of the 16-lane vectors (14x14, 28x28, 32x32 maps, 1 to 64
    /// channels), and slower on 7x7 and 8x8 maps with 128+ channels, where lanes go to waste
    /// (BENCHMARKS.md). The choice depends on the shape only, never on timing, so results are reproducible.
    /// </summary>
    public static bool Applies(in ConvGeometry g)
    {
        if (!Vectorised || g.SH != 1 || g.SW != 1 || g.DH != 1 || g.DW != 1 || g.KH > 7 || g.KW > 7)
        {
            return false;
        }
        // The input gradient runs the same kernel over the input's width, so both widths must fill the lanes,
        // and with padding K - 1 - P, which must not be negative.
        return Utilisation(g.OW) >= 0.75 && Utilisation(g.W) >= 0.75 && g.PH < g.KH && g.PW < g.KW;
    }

    /// <summary>The AVX-512 tile runs where the GEMM uses its AVX-512 kernel; elsewhere, with AVX2 + FMA, the same
    /// tile is computed as 8-lane halves with the same sums in the same order, so both paths give the same
    /// bits (tested). Follows <see cref="Gemm.Current"/>, so tests can force the AVX2 path on an AVX-512 machine.</summary>
    private static bool Wide => Gemm.Current == GemmKernel.Avx512;

    private static bool Vectorised => Gemm.Current >= GemmKernel.Avx2;

    private static double Utilisation(int width) => width / (double)(((width + Lanes - 1) / Lanes) * Lanes);

    /// <summary>y = conv(x, w) for stride 1, dilation 1.</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeometry g)
    {
        var packed = PackWeights(w, g.O, g.C, g.KH, g.KW, flip: false);
        Run(x, packed, y, g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.PH, g.PW, g.OH, g.OW);
        BufferPool.Return(packed);
    }

    /// <summary>gx = conv^T(gy, w) for stride 1, dilation 1: a convolution of gy with flipped, transposed weights and padding K-1-P.</summary>
    public static void BackwardData(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        var packed = PackWeights(w, g.O, g.C, g.KH, g.KW, flip: true);
        Run(gy, packed, gx, g.N, g.O, g.OH, g.OW, g.C, g.KH, g.KW, g.KH - 1 - g.PH, g.KW - 1 - g.PW, g.H, g.W);
        BufferPool.Return(packed);
    }

    /// <summary>
    /// Weights as [O / 8 blocks][C][KH][KW][8], zero-padded in the last block. With flip, the result is the
    /// kernel of the adjoint: out channel = input channel c of w, in channel = o, taps reversed.
    /// </summary>
    private static float[] PackWeights(float[] w, int o, int c, int kh, int kw, bool flip)
    {
        var outC = flip ? c : o;
        var inC = flip ? o : c;
        var blocks = (outC + Ob - 1) / Ob;
        var packed = BufferPool.Rent<float>(blocks * inC * kh * kw * Ob);
        packed.AsSpan(0, blocks * inC * kh * kw * Ob).Clear();
        for (var oc = 0; oc < outC; oc++)
        {
            for (var ic = 0; ic < inC; ic++)
            {
                for (var i = 0; i < kh; i++)
                {
                    for (var j = 0; j < kw; j++)
                    {
                        var v = flip ? w[(((ic * c) + oc) * kh * kw) + ((kh - 1 - i) * kw) + (kw - 1 - j)] : w[(((oc * c) + ic) * kh * kw) + (i * kw) + j];
                        packed[((((((oc / Ob) * inC) + ic) * kh) + i) * kw + j) * Ob + (oc % Ob)] = v;
                    }
                }
            }
        }
        return packed;
    }

    // x (N, C, H, W) -> y (N, O, OH, OW) = sum over c, i, j of wp[o, c, i, j] * x[c, oh + i - ph, ow + j - pw].
    private static void Run(float[] x, float[] wp, float[] y, int n, int c, int h, int w, int o, int kh, int kw, int ph, int pw, int oh, int ow)
    {
        var vecs = (ow + Lanes - 1) / Lanes;
        var pW = Math.Max(w + (2 * pw), (vecs * Lanes) + kw - 1); // room for full vectors at the right edge
        var pH = Math.Max(h + (2 * ph), oh + kh); // one spare row for the second row of a pair
        var planeP = pH * pW;
        var blocks = (o + Ob - 1) / Ob;
        var wide = Wide;
        CpuParallel.ForEach(n, img =>
        {
            var pad = BufferPool.Rent<float>((c * planeP) + Lanes);
            var tile = stackalloc float[2 * Ob * Lanes];
            pad.AsSpan(0, (c * planeP) + Lanes).Clear();
            fixed (float* px = pad, pwt = wp, py = y, pxs = x)
            {
                for (var ch = 0; ch < c; ch++)
                {
                    var from = pxs + ((((long)img * c) + ch) * h * w);
                    for (var r = 0; r < h; r++)
                    {
                        CopyRow(from + (r * w), px + ((long)ch * planeP) + ((r + ph) * pW) + pw, w);
                    }
                }
                for (var b = 0; b < blocks; b++)
                {
                    var wb = pwt + ((long)b * c * kh * kw * Ob);
                    var oCount = Math.Min(Ob, o - (b * Ob));
                    for (var r = 0; r < oh; r += 2)
                    {
                        // Kernel rows that read the zero border for both output rows of the pair are skipped:
                        // row r + 1 needs i >= ph - r - 1, row r needs i < h + ph - r.
                        var i0 = Math.Clamp(ph - r - 1, 0, kh);
                        var i1 = Math.Clamp(h + ph - r, i0, kh);
                        for (var v = 0; v < vecs; v++)
                        {
                            if (wide)
                            {
                                Tile(px + (r * pW) + (v * Lanes), pW, planeP, c, kh, kw, i0, i1, wb, tile);
                            }
                            else
                            {
                                for (var part = 0; part < 4; part++)
                                {
                                    // Lanes [8 * half, 8 * half + 8) of output channels [4 * group, 4 * group + 4).
                                    var (half, group) = (part & 1, part >> 1);
                                    if (4 * group >= oCount)
                                    {
                                        break; // a block's padding channels (one output channel: the input gradient of a grey first layer)
                                    }
                                    Tile256(px + (r * pW) + (v * Lanes) + (8 * half), pW, planeP, c, kh, kw, i0, i1, wb + (4 * group), tile + (4 * group * Lanes) + (8 * half));
                                }
                            }
                            var cols = Math.Min(Lanes, ow - (v * Lanes));
                            for (var oo = 0; oo < oCount; oo++)
                            {
                                var dst = py + ((((long)img * o) + (b * Ob) + oo) * oh * ow) + (r * ow) + (v * Lanes);
                                CopyRow(tile + (oo * Lanes), dst, cols);
                                if (r + 1 < oh)
                                {
                                    CopyRow(tile + ((Ob + oo) * Lanes), dst + ow, cols);
                                }
                            }
                        }
                    }
                }
            }
            BufferPool.Return(pad);
        });
    }

    /// <summary>
    /// Copies count floats. A row of 8 to 16 (a tile row, a 14-pixel image row) is two 8-float moves, the
    /// second ending at the last element and overlapping the first; a call into memmove per row cost 7% of
    /// cnn28's 14x14 5x5 layer's forward pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow(float* from, float* to, int count)
    {
        if (count < 8)
        {
            for (var i = 0; i < count; i++)
            {
                to[i] = from[i];
            }
            return;
        }
        var j = 0;
        for (; j + 8 <= count; j += 8)
        {
            Vector256.Store(Vector256.Load(from + j), to + j);
        }
        if (j < count)
        {
            Vector256.Store(Vector256.Load(from + count - 8), to + count - 8);
        }
    }

    private const int WeightGradChunks = 8;
    private const int Batch = 4;

    /// <summary>
    /// gw = sum over images and output positions of gy[n, o, r, q] * x[n, c, r + i - ph, q + j - pw], for
    /// stride 1 and dilation 1. The register tile is 4 output channels x 4 kernel taps; each step over an
    /// output row loads 4 gradient vectors and 4 shifted input vectors for 16 FMAs. Lanes hold partial sums
    /// per output column; they are kept as vectors per chunk of images, the chunks added in order and the
    /// lanes summed in order at the end, so the result is the same for any thread count.
    /// </summary>
    public static void BackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        const int oTile = 4, tTile = 4;
        var kk = g.KH * g.KW;
        var tapGroups = (kk + tTile - 1) / tTile;
        var oBlocks = (g.O + oTile - 1) / oTile;
        var vecs = (g.OW + Lanes - 1) / Lanes;
        var pW = Math.Max(g.W + (2 * g.PW), (vecs * Lanes) + g.KW - 1);
        var pH = Math.Max(g.H + (2 * g.PH), g.OH + g.KH);
        var planeP = pH * pW;
        var gyStride = vecs * Lanes;
        var tileFloats = oTile * tTile * Lanes;
        var accSize = oBlocks * g.C * tapGroups * tileFloats;
        var chunks = Math.Min(g.N, WeightGradChunks);
        if (chunks == 0)
        {
            gw.AsSpan(0, g.O * g.Ckk).Clear();
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
            // Images are taken Batch at a time so each tile's accumulators stay in registers over many rows.
            var xImage = g.C * planeP;
            var gyImage = oBlocks * oTile * g.OH * gyStride;
            var pad = BufferPool.Rent<float>((Batch * xImage) + Lanes);
            var gyPad = BufferPool.Rent<float>(Batch * gyImage);
            pad.AsSpan(0, (Batch * xImage) + Lanes).Clear();
            gyPad.AsSpan(0, Batch * gyImage).Clear();
            var taps = stackalloc int[tapGroups * tTile];
            for (var t = 0; t < tapGroups * tTile; t++)
            {
                // Taps past KH*KW repeat tap 0; their sums are discarded.
                var tt = t < kk ? t : 0;
                taps[t] = ((tt / g.KW) * pW) + (tt % g.KW);
            }
            for (var b0 = n0; b0 < n1; b0 += Batch)
            {
                var count = Math.Min(Batch, n1 - b0);
                fixed (float* px = pad, pg = gyPad, pa = acc, pxs = x, pgs = gy)
                {
                    for (var bi = 0; bi < count; bi++)
                    {
                        var img = b0 + bi;
                        for (var ch = 0; ch < g.C; ch++)
                        {
                            for (var r = 0; r < g.H; r++)
                            {
                                CopyRow(pxs + ((((long)img * g.C) + ch) * g.Hw) + (r * g.W), px + ((long)bi * xImage) + ((long)ch * planeP) + ((r + g.PH) * pW) + g.PW, g.W);
                            }
                        }
                        for (var o = 0; o < g.O; o++)
                        {
                            for (var r = 0; r < g.OH; r++)
                            {
                                CopyRow(pgs + ((((long)img * g.O) + o) * g.Ohw) + (r * g.OW), pg + ((long)bi * gyImage) + ((((long)o * g.OH) + r) * gyStride), g.OW);
                            }
                        }
                    }
                    for (var ob = 0; ob < oBlocks; ob++)
                    {
                        var gyBlock = pg + ((long)ob * oTile * g.OH * gyStride);
                        for (var ch = 0; ch < g.C; ch++)
                        {
                            var xc = px + ((long)ch * planeP);
                            for (var tg = 0; tg < tapGroups; tg++)
                            {
                                var tile = pa + ((((long)((ob * g.C) + ch) * tapGroups) + tg) * tileFloats);
                                if (wide)
                                {
                                    WeightTile(gyBlock, g.OH * gyStride, gyStride, gyImage, xc, pW, xImage, taps + (tg * tTile), g.OH, vecs, count, tile);
                                }
                                else
                                {
                                    for (var part = 0; part < 4; part++)
                                    {
                                        // Lanes [8 * half, 8 * half + 8) of output channels 2 * pair and 2 * pair + 1.
                                        var (half, pair) = (part & 1, part >> 1);
                                        WeightTile256(gyBlock + (2 * pair * g.OH * gyStride) + (8 * half), g.OH * gyStride, gyStride, gyImage, xc + (8 * half), pW, xImage, taps + (tg * tTile), g.OH, vecs, count, tile + (2 * pair * tTile * Lanes) + (8 * half));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            BufferPool.Return(pad);
            BufferPool.Return(gyPad);
        });
        var total = partials[0].AsSpan(0, accSize);
        for (var ci = 1; ci < chunks; ci++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(total, partials[ci].AsSpan(0, accSize), total);
        }
        for (var ob = 0; ob < oBlocks; ob++)
        {
            for (var ch = 0; ch < g.C; ch++)
            {
                for (var tg = 0; tg < tapGroups; tg++)
                {
                    var tile = ((((ob * g.C) + ch) * tapGroups) + tg) * tileFloats;
                    for (var oo = 0; oo < oTile; oo++)
                    {
                        var o = (ob * oTile) + oo;
                        for (var tt = 0; tt < tTile; tt++)
                        {
                            var t = (tg * tTile) + tt;
                            if (o >= g.O || t >= kk)
                            {
                                continue;
                            }
                            var lanes = total.Slice(tile + (((oo * tTile) + tt) * Lanes), Lanes);
                            var sum = 0f;
                            for (var l = 0; l < Lanes; l++)
                            {
                                sum += lanes[l];
                            }
                            gw[(((o * g.C) + ch) * kk) + t] = sum;
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

    // acc[o][t] (16 lanes each) += sum over rows r and vectors v of gy[o, r, v] * x[r + tap_t, v]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightTile(float* gy, int gyPlane, int gyStride, int gyImage, float* x, int pW, int xImage, int* taps, int oh, int vecs, int images, float* acc)
    {
        var a00 = Vector512.Load(acc); var a01 = Vector512.Load(acc + 16); var a02 = Vector512.Load(acc + 32); var a03 = Vector512.Load(acc + 48);
        var a10 = Vector512.Load(acc + 64); var a11 = Vector512.Load(acc + 80); var a12 = Vector512.Load(acc + 96); var a13 = Vector512.Load(acc + 112);
        var a20 = Vector512.Load(acc + 128); var a21 = Vector512.Load(acc + 144); var a22 = Vector512.Load(acc + 160); var a23 = Vector512.Load(acc + 176);
        var a30 = Vector512.Load(acc + 192); var a31 = Vector512.Load(acc + 208); var a32 = Vector512.Load(acc + 224); var a33 = Vector512.Load(acc + 240);
        int t0 = taps[0], t1 = taps[1], t2 = taps[2], t3 = taps[3];
        for (var img = 0; img < images; img++)
        {
            var gyImg = gy + ((long)img * gyImage);
            var xImg = x + ((long)img * xImage);
            for (var r = 0; r < oh; r++)
            {
                var grow = gyImg + (r * gyStride);
                var xrow = xImg + (r * pW);
                for (var v = 0; v < vecs; v++)
                {
                    var gp = grow + (v * Lanes);
                    var g0 = Vector512.Load(gp);
                    var g1 = Vector512.Load(gp + gyPlane);
                    var g2 = Vector512.Load(gp + (2 * gyPlane));
                    var g3 = Vector512.Load(gp + (3 * gyPlane));
                    var xp = xrow + (v * Lanes);
                    var x0 = Vector512.Load(xp + t0);
                    var x1 = Vector512.Load(xp + t1);
                    var x2 = Vector512.Load(xp + t2);
                    var x3 = Vector512.Load(xp + t3);
                    a00 = Avx512F.FusedMultiplyAdd(g0, x0, a00); a01 = Avx512F.FusedMultiplyAdd(g0, x1, a01); a02 = Avx512F.FusedMultiplyAdd(g0, x2, a02); a03 = Avx512F.FusedMultiplyAdd(g0, x3, a03);
                    a10 = Avx512F.FusedMultiplyAdd(g1, x0, a10); a11 = Avx512F.FusedMultiplyAdd(g1, x1, a11); a12 = Avx512F.FusedMultiplyAdd(g1, x2, a12); a13 = Avx512F.FusedMultiplyAdd(g1, x3, a13);
                    a20 = Avx512F.FusedMultiplyAdd(g2, x0, a20); a21 = Avx512F.FusedMultiplyAdd(g2, x1, a21); a22 = Avx512F.FusedMultiplyAdd(g2, x2, a22); a23 = Avx512F.FusedMultiplyAdd(g2, x3, a23);
                    a30 = Avx512F.FusedMultiplyAdd(g3, x0, a30); a31 = Avx512F.FusedMultiplyAdd(g3, x1, a31); a32 = Avx512F.FusedMultiplyAdd(g3, x2, a32); a33 = Avx512F.FusedMultiplyAdd(g3, x3, a33);
                }
            }
        }
        a00.Store(acc); a01.Store(acc + 16); a02.Store(acc + 32); a03.Store(acc + 48);
        a10.Store(acc + 64); a11.Store(acc + 80); a12.Store(acc + 96); a13.Store(acc + 112);
        a20.Store(acc + 128); a21.Store(acc + 144); a22.Store(acc + 160); a23.Store(acc + 176);
        a30.Store(acc + 192); a31.Store(acc + 208); a32.Store(acc + 224); a33.Store(acc + 240);
    }

    // tile[row * 8 + o][0..16) = sum over (ch, i, j) of wb[ch, i, j, o] * src[ch, row + i, j..j+16)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* src, int pW, int planeP, int c, int kh, int kw, int i0, int i1, float* weights, float* tile)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (var ch = 0; ch < c; ch++)
        {
            var plane = src + ((long)ch * planeP);
            var wb = weights + ((((long)ch * kh) + i0) * kw * Ob);
            for (var i = i0; i < i1; i++)
            {
                var row0 = plane + (i * pW);
                var row1 = row0 + pW;
                for (var j = 0; j < kw; j++)
                {
                    var x0 = Vector512.Load(row0 + j);
                    var x1 = Vector512.Load(row1 + j);
                    var wv = Vector512.Create(wb[0]);
                    a0 = Avx512F.FusedMultiplyAdd(wv, x0, a0);
                    b0 = Avx512F.FusedMultiplyAdd(wv, x1, b0);
                    wv = Vector512.Create(wb[1]);
                    a1 = Avx512F.FusedMultiplyAdd(wv, x0, a1);
                    b1 = Avx512F.FusedMultiplyAdd(wv, x1, b1);
                    wv = Vector512.Create(wb[2]);
                    a2 = Avx512F.FusedMultiplyAdd(wv, x0, a2);
                    b2 = Avx512F.FusedMultiplyAdd(wv, x1, b2);
                    wv = Vector512.Create(wb[3]);
                    a3 = Avx512F.FusedMultiplyAdd(wv, x0, a3);
                    b3 = Avx512F.FusedMultiplyAdd(wv, x1, b3);
                    wv = Vector512.Create(wb[4]);
                    a4 = Avx512F.FusedMultiplyAdd(wv, x0, a4);
                    b4 = Avx512F.FusedMultiplyAdd(wv, x1, b4);
                    wv = Vector512.Create(wb[5]);
                    a5 = Avx512F.FusedMultiplyAdd(wv, x0, a5);
                    b5 = Avx512F.FusedMultiplyAdd(wv, x1, b5);
                    wv = Vector512.Create(wb[6]);
                    a6 = Avx512F.FusedMultiplyAdd(wv, x0, a6);
                    b6 = Avx512F.FusedMultiplyAdd(wv, x1, b6);
                    wv = Vector512.Create(wb[7]);
                    a7 = Avx512F.FusedMultiplyAdd(wv, x0, a7);
                    b7 = Avx512F.FusedMultiplyAdd(wv, x1, b7);
                    wb += Ob;
                }
            }
        }
        a0.Store(tile);
        a1.Store(tile + 16);
        a2.Store(tile + 32);
        a3.Store(tile + 48);
        a4.Store(tile + 64);
        a5.Store(tile + 80);
        a6.Store(tile + 96);
        a7.Store(tile + 112);
        b0.Store(tile + 128);
        b1.Store(tile + 144);
        b2.Store(tile + 160);
        b3.Store(tile + 176);
        b4.Store(tile + 192);
        b5.Store(tile + 208);
        b6.Store(tile + 224);
        b7.Store(tile + 240);
    }

    // WeightTile's sums for 2 output channels and 8 lanes, AVX2 + FMA: acc[o][t] (lanes 0..8 of a 16-lane
    // slot) += gy[o, r, v] * x[r + tap_t, v] over the same images, rows and vectors in the same order.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightTile256(float* gy, int gyPlane, int gyStride, int gyImage, float* x, int pW, int xImage, int* taps, int oh, int vecs, int images, float* acc)
    {
        var a00 = Vector256.Load(acc); var a01 = Vector256.Load(acc + 16); var a02 = Vector256.Load(acc + 32); var a03 = Vector256.Load(acc + 48);
        var a10 = Vector256.Load(acc + 64); var a11 = Vector256.Load(acc + 80); var a12 = Vector256.Load(acc + 96); var a13 = Vector256.Load(acc + 112);
        int t0 = taps[0], t1 = taps[1], t2 = taps[2], t3 = taps[3];
        for (var img = 0; img < images; img++)
        {
            var gyImg = gy + ((long)img * gyImage);
            var xImg = x + ((long)img * xImage);
            for (var r = 0; r < oh; r++)
            {
                var grow = gyImg + (r * gyStride);
                var xrow = xImg + (r * pW);
                for (var v = 0; v < vecs; v++)
                {
                    var gp = grow + (v * Lanes);
                    var g0 = Vector256.Load(gp);
                    var g1 = Vector256.Load(gp + gyPlane);
                    var xp = xrow + (v * Lanes);
                    var x0 = Vector256.Load(xp + t0);
                    var x1 = Vector256.Load(xp + t1);
                    var x2 = Vector256.Load(xp + t2);
                    var x3 = Vector256.Load(xp + t3);
                    a00 = Fma.MultiplyAdd(g0, x0, a00); a01 = Fma.MultiplyAdd(g0, x1, a01); a02 = Fma.MultiplyAdd(g0, x2, a02); a03 = Fma.MultiplyAdd(g0, x3, a03);
                    a10 = Fma.MultiplyAdd(g1, x0, a10); a11 = Fma.MultiplyAdd(g1, x1, a11); a12 = Fma.MultiplyAdd(g1, x2, a12); a13 = Fma.MultiplyAdd(g1, x3, a13);
                }
            }
        }
        a00.Store(acc); a01.Store(acc + 16); a02.Store(acc + 32); a03.Store(acc + 48);
        a10.Store(acc + 64); a11.Store(acc + 80); a12.Store(acc + 96); a13.Store(acc + 112);
    }

    // Tile's sums for 4 output channels and 8 lanes, AVX2 + FMA: tile[row * 8 + o][0..8) = sum over (ch, i, j)
    // of weights[ch, i, j, o] * src[ch, row + i, j..j+8), in Tile's order. weights and tile point at the
    // channel group's first channel; the packed stride over taps stays 8.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(float* src, int pW, int planeP, int c, int kh, int kw, int i0, int i1, float* weights, float* tile)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (var ch = 0; ch < c; ch++)
        {
            var plane = src + ((long)ch * planeP);
            var wb = weights + ((((long)ch * kh) + i0) * kw * Ob);
            for (var i = i0; i < i1; i++)
            {
                var row0 = plane + (i * pW);
                var row1 = row0 + pW;
                for (var j = 0; j < kw; j++)
                {
                    var x0 = Vector256.Load(row0 + j);
                    var x1 = Vector256.Load(row1 + j);
                    var wv = Vector256.Create(wb[0]);
                    a0 = Fma.MultiplyAdd(wv, x0, a0);
                    b0 = Fma.MultiplyAdd(wv, x1, b0);
                    wv = Vector256.Create(wb[1]);
                    a1 = Fma.MultiplyAdd(wv, x0, a1);
                    b1 = Fma.MultiplyAdd(wv, x1, b1);
                    wv = Vector256.Create(wb[2]);
                    a2 = Fma.MultiplyAdd(wv, x0, a2);
                    b2 = Fma.MultiplyAdd(wv, x1, b2);
                    wv = Vector256.Create(wb[3]);
                    a3 = Fma.MultiplyAdd(wv, x0, a3);
                    b3 = Fma.MultiplyAdd(wv, x1, b3);
                    wb += Ob;
                }
            }
        }
        a0.Store(tile);
        a1.Store(tile + 16);
        a2.Store(tile + 32);
        a3.Store(tile + 48);
        b0.Store(tile + 128);
        b1.Store(tile + 144);
        b2.Store(tile + 160);
        b3.Store(tile + 176);
    }
}
