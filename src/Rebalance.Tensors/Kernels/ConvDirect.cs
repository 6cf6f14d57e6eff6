using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Direct float32 convolution for stride 1 and dilation 1 with AVX-512, used where im2col would
/// multiply the input by KH*KW (small channel counts, 3x3 and 5x5 kernels) and the gather dominates.
/// Each image is copied once into a zero-bordered buffer, so taps need no bounds checks. The register
/// tile is 8 output channels x 2 output rows x 16 output columns: per tap, two row loads and eight weight
/// broadcasts feed sixteen FMAs. Output columns past OW are computed on border zeros and discarded.
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
        if (!Vector512.IsHardwareAccelerated || !Avx512F.IsSupported || g.SH != 1 || g.SW != 1 || g.DH != 1 || g.DW != 1 || g.KH > 7 || g.KW > 7)
        {
            return false;
        }
        // The input gradient runs the same kernel over the input's width, so both widths must fill the lanes.
        return Utilisation(g.OW) >= 0.75 && Utilisation(g.W) >= 0.75;
    }

    private static double Utilisation(int width) => width / (double)(((width + Lanes - 1) / Lanes) * Lanes);

    /// <summary>y = conv(x, w) for stride 1, dilation 1.</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeometry g) => Run(x, PackWeights(w, g.O, g.C, g.KH, g.KW, flip: false), y, g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.PH, g.PW, g.OH, g.OW);

    /// <summary>gx = conv^T(gy, w) for stride 1, dilation 1: a convolution of gy with flipped, transposed weights and padding K-1-P.</summary>
    public static void BackwardData(float[] gy, float[] w, float[] gx, ConvGeometry g) =>
        Run(gy, PackWeights(w, g.O, g.C, g.KH, g.KW, flip: true), gx, g.N, g.O, g.OH, g.OW, g.C, g.KH, g.KW, g.KH - 1 - g.PH, g.KW - 1 - g.PW, g.H, g.W);

    /// <summary>
    /// Weights as [O / 8 blocks][C][KH][KW][8], zero-padded in the last block. With flip, the result is the
    /// kernel of the adjoint: out channel = input channel c of w, in channel = o, taps reversed.
    /// </summary>
    private static float[] PackWeights(float[] w, int o, int c, int kh, int kw, bool flip)
    {
        var outC = flip ? c : o;
        var inC = flip ? o : c;
        var blocks = (outC + Ob - 1) / Ob;
        var packed = new float[blocks * inC * kh * kw * Ob];
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
        CpuParallel.ForEach(n, img =>
        {
            var pad = BufferPool.Rent<float>((c * planeP) + Lanes);
            var tile = stackalloc float[2 * Ob * Lanes];
            pad.AsSpan(0, (c * planeP) + Lanes).Clear();
            for (var ch = 0; ch < c; ch++)
            {
                for (var r = 0; r < h; r++)
                {
                    x.AsSpan((((img * c) + ch) * h * w) + (r * w), w).CopyTo(pad.AsSpan((ch * planeP) + ((r + ph) * pW) + pw, w));
                }
            }
            fixed (float* px = pad, pwt = wp, py = y)
            {
                for (var b = 0; b < blocks; b++)
                {
                    var wb = pwt + ((long)b * c * kh * kw * Ob);
                    var oCount = Math.Min(Ob, o - (b * Ob));
                    for (var r = 0; r < oh; r += 2)
                    {
                        for (var v = 0; v < vecs; v++)
                        {
                            Tile(px + (r * pW) + (v * Lanes), pW, planeP, c, kh, kw, wb, tile);
                            var cols = Math.Min(Lanes, ow - (v * Lanes));
                            for (var oo = 0; oo < oCount; oo++)
                            {
                                var dst = py + ((((long)img * o) + (b * Ob) + oo) * oh * ow) + (r * ow) + (v * Lanes);
                                new ReadOnlySpan<float>(tile + (oo * Lanes), cols).CopyTo(new Span<float>(dst, cols));
                                if (r + 1 < oh)
                                {
                                    new ReadOnlySpan<float>(tile + ((Ob + oo) * Lanes), cols).CopyTo(new Span<float>(dst + ow, cols));
                                }
                            }
                        }
                    }
                }
            }
            BufferPool.Return(pad);
        });
    }

    // tile[row * 8 + o][0..16) = sum over (ch, i, j) of wb[ch, i, j, o] * src[ch, row + i, j..j+16)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* src, int pW, int planeP, int c, int kh, int kw, float* wb, float* tile)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (var ch = 0; ch < c; ch++)
        {
            var plane = src + ((long)ch * planeP);
            for (var i = 0; i < kh; i++)
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
}
