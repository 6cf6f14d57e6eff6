using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rebalance.Tensors.Kernels;

/// <summary>Which micro-kernel the float32 GEMM uses.</summary>
internal enum GemmKernel
{
    Scalar,
    Avx2,
    Avx512,
}

/// <summary>
/// General matrix multiply, row-major: C = alpha * op(A) * op(B) + beta * C, op = identity or transpose.
/// float32 runs the packed, cache-blocked algorithm of Goto and van de Geijn: B is packed in
/// (KC x NR) panels and A in (MR x KC) panels, and a register-tiled micro-kernel chosen at run time
/// (AVX-512, AVX2, scalar) computes each MR x NR tile. float64 (tests, statistics) runs a plain loop.
/// With beta == 0, C is never read, so stale NaN in C does not leak into the result.
/// </summary>
internal static unsafe class Gemm
{
    private const int Kc = 256;
    private const int McBlocks = 10; // MC = McBlocks * MR rows of A per packed block (120 rows for AVX-512)
    private const int Nc = 4096;

    [ThreadStatic]
    private static float[]? t_packA;

    [ThreadStatic]
    private static float[]? t_packB;

    /// <summary>The kernel this machine supports.</summary>
    public static GemmKernel ActiveKernel { get; } =
        Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? GemmKernel.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? GemmKernel.Avx2
        : GemmKernel.Scalar;

    /// <summary>Tests force a lower kernel to check it against the reference; null means <see cref="ActiveKernel"/>.</summary>
    internal static GemmKernel? ForcedKernel { get; set; }

    private static GemmKernel Kernel => ForcedKernel is { } k && k <= ActiveKernel ? k : ActiveKernel;

    /// <summary>The kernel in use: <see cref="ActiveKernel"/>, or the lower one a test forced. The convolution
    /// kernels take their instruction set from it, so forcing AVX2 on an AVX-512 machine tests their AVX2 paths.</summary>
    internal static GemmKernel Current => Kernel;

    /// <summary>Typed entry point: float32 takes the packed path, float64 the plain one.</summary>
    public static void Run<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc, bool parallel = true)
        where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float))
        {
            Sgemm(transA, transB, m, n, k, (float)(object)alpha, MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(b), ldb, (float)(object)beta, MemoryMarshal.Cast<T, float>(c), ldc, parallel);
        }
        else
        {
            Plain(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }

    /// <summary>float32 GEMM. Spans must cover the strided matrices; they are checked once here.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, bool parallel = true)
    {
        if (m == 0 || n == 0)
        {
            return;
        }
        CheckExtent("A", a.Length, transA ? k : m, transA ? m : k, lda);
        CheckExtent("B", b.Length, transB ? n : k, transB ? k : n, ldb);
        CheckExtent("C", c.Length, m, n, ldc);
        if (k == 0 || alpha == 0f)
        {
            ScaleC(c, m, n, ldc, beta);
            return;
        }
        if (n == 1 || m == 1)
        {
            Gemv(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel);
            return;
        }
        if (k == 1)
        {
            Outer(transA, transB, m, n, alpha, a, lda, b, ldb, beta, c, ldc, parallel);
            return;
        }

        fixed (float* pa = a, pb = b, pc = c)
        {
            var ap = pa;
            var bp = pb;
            var cp = pc;
            var kernel = Kernel;
            var (mr, nr) = TileOf(kernel);
            var threads = parallel ? Engine.NumThreads : 1;
            // Each thread takes a stripe of C; every C element is still summed over k in the same
            // order, so the result does not depend on the thread count.
            var work = (double)m * n * k;
            if (threads <= 1 || work < 2e6)
            {
                Serial(kernel, transA, transB, 0, m, 0, n, k, alpha, ap, lda, bp, ldb, beta, cp, ldc);
                return;
            }
            // Each stripe packs the whole of the operand it does not split: splitting the rows of C makes
            // every thread pack all of B (k x n), splitting the columns all of A (m x k). Split the longer
            // side, so the smaller operand is the one packed twice (a convolution's 128 x 3136 x 1152 spent
            // more time packing B on both threads than multiplying when its 128 rows were split).
            if (m >= n)
            {
                var stripes = Math.Min(threads, (m + mr - 1) / mr);
                CpuParallel.ForEach(stripes, s =>
                {
                    var (i0, i1) = Stripe(m, mr, stripes, s);
                    Serial(kernel, transA, transB, i0, i1, 0, n, k, alpha, ap, lda, bp, ldb, beta, cp, ldc);
                });
            }
            else
            {
                var stripes = Math.Min(threads, (n + nr - 1) / nr);
                CpuParallel.ForEach(stripes, s =>
                {
                    var (j0, j1) = Stripe(n, nr, stripes, s);
                    Serial(kernel, transA, transB, 0, m, j0, j1, k, alpha, ap, lda, bp, ldb, beta, cp, ldc);
                });
            }
        }
    }

    /// <summary>
    /// A GEMM with one output column (n == 1) or row (m == 1): a matrix-vector product. Packing a 32-wide
    /// panel around a single column cost 30x the arithmetic (a discriminator's last linear layer, 6,272
    /// features to one logit, took 0.7 ms). Each output is a dot product of two contiguous vectors, or
    /// the outputs are built by scaled row additions when the matrix is stored the other way; a strided
    /// vector operand is gathered first. Every output is summed on one thread in a fixed order.
    /// </summary>
    private static void Gemv(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, bool parallel)
    {
        // As y (len outputs at stride ys) = alpha * M v + beta * y. With dotRows, output o is the dot product
        // of M's row o (contiguous) with v; otherwise M's row p runs along the outputs and is added in,
        // scaled by v[p].
        float[] v;
        int len;
        bool dotRows;
        int mStride;
        ReadOnlySpan<float> mat;
        int ys;
        if (n == 1)
        {
            // c[i] = sum_p opA(i, p) opB(p, 0)
            len = m;
            ys = ldc;
            v = GatherVector(b, transB ? 1 : ldb, k);
            mat = a;
            mStride = lda;
            dotRows = !transA; // !transA: row i of A is contiguous over p; transA: row p of A is contiguous over i
        }
        else
        {
            // c[j] = sum_p opA(0, p) opB(p, j)
            len = n;
            ys = 1;
            v = GatherVector(a, transA ? lda : 1, k);
            mat = b;
            mStride = ldb;
            dotRows = transB; // transB: row j of B is contiguous over p; !transB: row p of B is contiguous over j
        }
        var acc = BufferPool.Rent<float>(len);
        var threads = parallel && (double)len * k >= 1e5 ? Engine.NumThreads : 1;
        var chunks = Math.Max(1, Math.Min(threads, len / 16));
        fixed (float* pm = mat)
        {
            var pmat = pm;
            CpuParallel.ForEach(chunks, ci =>
            {
                var o0 = (int)((long)len * ci / chunks);
                var o1 = (int)((long)len * (ci + 1) / chunks);
                var outs = acc.AsSpan(o0, o1 - o0);
                var vv = v.AsSpan(0, k);
                if (dotRows)
                {
                    for (var o = o0; o < o1; o++)
                    {
                        outs[o - o0] = System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(pmat + ((long)o * mStride), k), vv);
                    }
                }
                else
                {
                    outs.Clear();
                    for (var p = 0; p < k; p++)
                    {
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(pmat + ((long)p * mStride) + o0, o1 - o0), vv[p], outs, outs);
                    }
                }
            });
        }
        for (var o = 0; o < len; o++)
        {
            var r = alpha * acc[o];
            c[o * ys] = beta == 0f ? r : r + (beta * c[o * ys]);
        }
        BufferPool.Return(acc);
        BufferPool.Return(v);
    }

    /// <summary>
    /// A GEMM with k == 1, the outer product C = alpha * a b^T + beta * C (the input gradient of a linear
    /// layer with one output): each row of C is the row of B scaled by alpha * a[i], written straight
    /// into C instead of through 32-wide packed panels and 1-deep micro-tiles.
    /// </summary>
    private static void Outer(bool transA, bool transB, int m, int n, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, bool parallel)
    {
        var col = GatherVector(a, transA ? 1 : lda, m);   // op(A)(i, 0)
        var row = GatherVector(b, transB ? ldb : 1, n);   // op(B)(0, j)
        var threads = parallel && (double)m * n >= 1e5 ? Engine.NumThreads : 1;
        var chunks = Math.Max(1, Math.Min(threads, m));
        fixed (float* pc = c)
        {
            var cp = pc;
            CpuParallel.ForEach(chunks, ci =>
            {
                var i0 = (int)((long)m * ci / chunks);
                var i1 = (int)((long)m * (ci + 1) / chunks);
                var r = row.AsSpan(0, n);
                for (var i = i0; i < i1; i++)
                {
                    var dst = new Span<float>(cp + ((long)i * ldc), n);
                    var scale = alpha * col[i];
                    if (beta == 0f)
                    {
                        System.Numerics.Tensors.TensorPrimitives.Multiply(r, scale, dst);
                    }
                    else
                    {
                        System.Numerics.Tensors.TensorPrimitives.Multiply(dst, beta, dst);
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(r, scale, dst, dst);
                    }
                }
            });
        }
        BufferPool.Return(row);
        BufferPool.Return(col);
    }

    /// <summary>A pooled contiguous copy of count values at the given stride.</summary>
    private static float[] GatherVector(ReadOnlySpan<float> src, int stride, int count)
    {
        var v = BufferPool.Rent<float>(count);
        for (var p = 0; p < count; p++)
        {
            v[p] = src[p * stride];
        }
        return v;
    }

    private static (int Start, int End) Stripe(int extent, int unit, int stripes, int s)
    {
        var units = (extent + unit - 1) / unit;
        var u0 = (int)((long)units * s / stripes);
        var u1 = (int)((long)units * (s + 1) / stripes);
        return (u0 * unit, Math.Min(extent, u1 * unit));
    }

    internal static (int Mr, int Nr) TileOf(GemmKernel kernel) => kernel switch
    {
        GemmKernel.Avx512 => (GemmMicroKernels.Mr512, GemmMicroKernels.Nr512),
        GemmKernel.Avx2 => (GemmMicroKernels.Mr256, GemmMicroKernels.Nr256),
        _ => (GemmMicroKernels.MrScalar, GemmMicroKernels.NrScalar),
    };

    /// <summary>
    /// Rows [i0, i1) and columns [j0, j1) of C on the calling thread. With the vector kernels, B is packed panel
    /// by panel as the first block of rows reaches it, not all at once before: each panel is then written and read
    /// back while in cache, and when B is stored row by row the first tile of each panel reads B straight from
    /// the matrix and stores the packed copy as it goes (<see cref="GemmMicroKernels.Kernel256PackB"/>,
    /// <see cref="GemmMicroKernels.Kernel512PackB"/>), which also prefetches the next panel. Packing a whole
    /// KC x NC block first, 1.6-3.2 MB for a convolution's 128 x 3136 x 1152, left it in L3 and put every cache
    /// miss of reading B in a phase with no arithmetic to hide it. Packing is a copy, so the sums and their bits
    /// are the same either way. The scalar kernel keeps the block packing.
    /// </summary>
    private static void Serial(GemmKernel kernel, bool transA, bool transB, int i0, int i1, int j0, int j1, int k, float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        var (mr, nr) = TileOf(kernel);
        var mc = McBlocks * mr;
        var packA = Scratch(ref t_packA, mc * Kc);
        var packB = Scratch(ref t_packB, Kc * (Math.Min(Nc, j1 - j0) + nr));
        var tile = stackalloc float[GemmMicroKernels.Mr512 * GemmMicroKernels.Nr512];
        var panelwise = kernel != GemmKernel.Scalar;
        fixed (float* pA = packA, pB = packB)
        {
            for (var jc = j0; jc < j1; jc += Nc)
            {
                var nc = Math.Min(Nc, j1 - jc);
                for (var pc = 0; pc < k; pc += Kc)
                {
                    var kc = Math.Min(Kc, k - pc);
                    var betaBlock = pc == 0 ? beta : 1f;
                    if (!panelwise)
                    {
                        PackB(transB, b, ldb, pc, kc, jc, nc, nr, pB);
                    }
                    for (var ic = i0; ic < i1; ic += mc)
                    {
                        var mcb = Math.Min(mc, i1 - ic);
                        PackA(transA, a, lda, ic, mcb, pc, kc, mr, pA);
                        for (var jr = 0; jr < nc; jr += nr)
                        {
                            var nrb = Math.Min(nr, nc - jr);
                            var bPanel = pB + (jr * kc);
                            var ir = 0;
                            if (panelwise && ic == i0)
                            {
                                if (!transB && nrb == nr)
                                {
                                    // The first tile packs the panel while it computes.
                                    var mrb = Math.Min(mr, mcb);
                                    var cTile = c + ((long)ic * ldc) + jc + jr;
                                    var direct = mrb == mr && (betaBlock == 0f || betaBlock == 1f);
                                    if (kernel == GemmKernel.Avx512)
                                    {
                                        GemmMicroKernels.Kernel512PackB(kc, pA, b + ((long)pc * ldb) + jc + jr, direct ? cTile : tile, direct ? ldc : nr, alpha, direct && betaBlock == 1f, ldb, bPanel);
                                    }
                                    else
                                    {
                                        GemmMicroKernels.Kernel256PackB(kc, pA, b + ((long)pc * ldb) + jc + jr, direct ? cTile : tile, direct ? ldc : nr, alpha, direct && betaBlock == 1f, ldb, bPanel);
                                    }
                                    if (!direct)
                                    {
                                        BlendTile(tile, nr, cTile, ldc, betaBlock, mrb, nrb);
                                    }
                                    ir = mr;
                                }
                                else
                                {
                                    PackBPanel(transB, b, ldb, pc, kc, jc + jr, nrb, nr, bPanel);
                                }
                            }
                            for (; ir < mcb; ir += mr)
                            {
                                var mrb = Math.Min(mr, mcb - ir);
                                var cTile = c + ((long)(ic + ir) * ldc) + jc + jr;
                                RunTile(kernel, kc, pA + (ir * kc), bPanel, cTile, ldc, alpha, betaBlock, mrb, nrb, tile);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// One mr x nr tile of C (mr, nr at most the kernel's tile). Full tiles with beta 0 or 1 go straight to
    /// C; partial tiles and other betas go through the scratch tile and are blended in.
    /// </summary>
    private static void RunTile(GemmKernel kernel, int kc, float* aPanel, float* bPanel, float* cTile, int ldc, float alpha, float beta, int mrb, int nrb, float* scratch)
    {
        var (mr, nr) = TileOf(kernel);
        var direct = mrb == mr && nrb == nr && (beta == 0f || beta == 1f);
        var target = direct ? cTile : scratch;
        var ldt = direct ? ldc : nr;
        var accumulate = direct && beta == 1f;
        switch (kernel)
        {
            case GemmKernel.Avx512: GemmMicroKernels.Kernel512(kc, aPanel, bPanel, target, ldt, alpha, accumulate); break;
            case GemmKernel.Avx2: GemmMicroKernels.Kernel256(kc, aPanel, bPanel, target, ldt, alpha, accumulate); break;
            default: GemmMicroKernels.KernelScalar(kc, aPanel, bPanel, target, ldt, alpha, accumulate); break;
        }
        if (!direct)
        {
            BlendTile(scratch, nr, cTile, ldc, beta, mrb, nrb);
        }
    }

    /// <summary>C = tile + beta * C over the valid mr x nr part; beta 0 never reads C (stale NaN stays out).</summary>
    private static void BlendTile(float* tile, int ldt, float* c, int ldc, float beta, int mr, int nr)
    {
        for (var i = 0; i < mr; i++)
        {
            for (var j = 0; j < nr; j++)
            {
                var v = tile[(i * ldt) + j];
                c[(i * ldc) + j] = beta == 0f ? v : v + (beta * c[(i * ldc) + j]);
            }
        }
    }

    // ---- prepacked operands ---------------------------------------------------------------------
    // Packed A: for each KC block of k (starting at pc), the rows padded to a multiple of MR in panels of
    // MR rows: element (i, p) at mPad * pc + (i / MR) * MR * kc + (p - pc) * MR + i % MR.
    // Packed B: for each KC block, the columns padded to a multiple of NR in panels of NR columns:
    // element (p, j) at nPad * pc + (j / NR) * NR * kc + (p - pc) * NR + j % NR.
    // Callers that can produce an operand straight in this layout (convolution's im2col) skip a pass.

    /// <summary>Block size of k in the packed layouts.</summary>
    public const int KBlock = Kc;

    /// <summary>The micro-tile of the float32 kernel in use.</summary>
    public static (int Mr, int Nr) Tile => TileOf(Kernel);

    /// <summary>Rounds up to a multiple of the tile size.</summary>
    public static int Pad(int extent, int tile) => (extent + tile - 1) / tile * tile;

    /// <summary>Packs all of op(A) (m x k) into the packed-A layout (length Pad(m, Mr) * k).</summary>
    public static void PackAFull(bool transA, float* a, int lda, int m, int k, float* dst)
    {
        var mr = Tile.Mr;
        var mPad = Pad(m, mr);
        for (var pc = 0; pc < k; pc += Kc)
        {
            PackA(transA, a, lda, 0, m, pc, Math.Min(Kc, k - pc), mr, dst + ((long)mPad * pc));
        }
    }

    /// <summary>Packs all of op(B) (k x n) into the packed-B layout (length k * Pad(n, Nr)).</summary>
    public static void PackBFull(bool transB, float* b, int ldb, int k, int n, float* dst)
    {
        var nr = Tile.Nr;
        var nPad = Pad(n, nr);
        for (var pc = 0; pc < k; pc += Kc)
        {
            PackB(transB, b, ldb, pc, Math.Min(Kc, k - pc), 0, n, nr, dst + ((long)nPad * pc));
        }
    }

    /// <summary>C = alpha * A * B + beta * C from prepacked operands, on the calling thread.</summary>
    public static void SgemmPacked(int m, int n, int k, float alpha, float* packedA, float* packedB, float beta, float* c, int ldc)
    {
        if (m == 0 || n == 0)
        {
            return;
        }
        if (k == 0)
        {
            ScaleC(new Span<float>(c, ((m - 1) * ldc) + n), m, n, ldc, beta);
            return;
        }
        var kernel = Kernel;
        var (mr, nr) = TileOf(kernel);
        var mPad = Pad(m, mr);
        var nPad = Pad(n, nr);
        var tile = stackalloc float[GemmMicroKernels.Mr512 * GemmMicroKernels.Nr512];
        for (var pc = 0; pc < k; pc += Kc)
        {
            var kc = Math.Min(Kc, k - pc);
            var betaBlock = pc == 0 ? beta : 1f;
            var aBlock = packedA + ((long)mPad * pc);
            var bBlock = packedB + ((long)nPad * pc);
            for (var jr = 0; jr < n; jr += nr)
            {
                var nrb = Math.Min(nr, n - jr);
                var bPanel = bBlock + ((long)jr * kc);
                for (var ir = 0; ir < m; ir += mr)
                {
                    var mrb = Math.Min(mr, m - ir);
                    RunTile(kernel, kc, aBlock + ((long)ir * kc), bPanel, c + ((long)ir * ldc) + jr, ldc, alpha, betaBlock, mrb, nrb, tile);
                }
            }
        }
    }

    private static float[] Scratch(ref float[]? slot, int length)
    {
        if (slot is null || slot.Length < length)
        {
            slot = GC.AllocateUninitializedArray<float>(length, pinned: true);
        }
        return slot;
    }

    /// <summary>
    /// Packs rows [ic, ic+mc) x columns [pc, pc+kc) of op(A) into panels of mr rows: panel r holds, for each
    /// p, the mr values A(ic + r*mr + i, pc + p). Rows past the matrix are zero.
    /// </summary>
    private static void PackA(bool transA, float* a, int lda, int ic, int mc, int pc, int kc, int mr, float* dst)
    {
        for (var r = 0; r < mc; r += mr)
        {
            var rows = Math.Min(mr, mc - r);
            var panel = dst + (r * kc);
            if (rows == 6 && mr == 6 && Avx.IsSupported)
            {
                if (transA)
                {
                    PackA6Rows(a + ((long)pc * lda) + ic + r, lda, kc, panel);
                }
                else
                {
                    PackA6Columns(a + ((long)(ic + r) * lda) + pc, lda, kc, panel);
                }
                continue;
            }
            if (transA)
            {
                // A(i, p) = a[p * lda + i]: the mr values of one p are contiguous.
                for (var p = 0; p < kc; p++)
                {
                    var src = a + ((long)(pc + p) * lda) + ic + r;
                    var d = panel + (p * mr);
                    var i = 0;
                    for (; i < rows; i++)
                    {
                        d[i] = src[i];
                    }
                    for (; i < mr; i++)
                    {
                        d[i] = 0f;
                    }
                }
            }
            else
            {
                for (var i = 0; i < rows; i++)
                {
                    var src = a + ((long)(ic + r + i) * lda) + pc;
                    var d = panel + i;
                    for (var p = 0; p < kc; p++)
                    {
                        d[p * mr] = src[p];
                    }
                }
                for (var i = rows; i < mr; i++)
                {
                    for (var p = 0; p < kc; p++)
                    {
                        panel[(p * mr) + i] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>
    /// One full 6-row panel of A stored row by row (A(i, p) = src[i * lda + p]): eight values of each of the six
    /// rows are loaded at once and transposed in registers into eight groups of six, each written as one
    /// 8-float store that the next group's store partly overwrites. The strided scalar stores this replaces
    /// took a twelfth of a 1024-cubed GEMM on one AVX2 core. The last groups, whose spill would leave the panel,
    /// are copied one by one.
    /// </summary>
    private static void PackA6Columns(float* src, int lda, int kc, float* panel)
    {
        var r0 = src;
        var r1 = src + lda;
        var r2 = src + (2L * lda);
        var r3 = src + (3L * lda);
        var r4 = src + (4L * lda);
        var r5 = src + (5L * lda);
        var p = 0;
        for (; p + 9 <= kc; p += 8)
        {
            var v0 = Avx.LoadVector256(r0 + p);
            var v1 = Avx.LoadVector256(r1 + p);
            var v2 = Avx.LoadVector256(r2 + p);
            var v3 = Avx.LoadVector256(r3 + p);
            var v4 = Avx.LoadVector256(r4 + p);
            var v5 = Avx.LoadVector256(r5 + p);
            var t0 = Avx.UnpackLow(v0, v1);   // a0 b0 a1 b1 | a4 b4 a5 b5
            var t1 = Avx.UnpackHigh(v0, v1);  // a2 b2 a3 b3 | a6 b6 a7 b7
            var t2 = Avx.UnpackLow(v2, v3);
            var t3 = Avx.UnpackHigh(v2, v3);
            var t4 = Avx.UnpackLow(v4, v5);
            var t5 = Avx.UnpackHigh(v4, v5);
            var s0 = Avx.Shuffle(t0, t2, 0x44); // a0 b0 c0 d0 | a4 b4 c4 d4
            var s1 = Avx.Shuffle(t0, t2, 0xEE); // a1 b1 c1 d1 | a5 b5 c5 d5
            var s2 = Avx.Shuffle(t1, t3, 0x44);
            var s3 = Avx.Shuffle(t1, t3, 0xEE);
            var s4 = Avx.Shuffle(t4, t4, 0x44); // e0 f0 e0 f0 | e4 f4 e4 f4
            var s5 = Avx.Shuffle(t4, t4, 0xEE);
            var s6 = Avx.Shuffle(t5, t5, 0x44);
            var s7 = Avx.Shuffle(t5, t5, 0xEE);
            var d = panel + (p * 6);
            Avx.Store(d, Avx.Permute2x128(s0, s4, 0x20));      // a0 b0 c0 d0 e0 f0 (e0 f0 overwritten next)
            Avx.Store(d + 6, Avx.Permute2x128(s1, s5, 0x20));
            Avx.Store(d + 12, Avx.Permute2x128(s2, s6, 0x20));
            Avx.Store(d + 18, Avx.Permute2x128(s3, s7, 0x20));
            Avx.Store(d + 24, Avx.Permute2x128(s0, s4, 0x31));
            Avx.Store(d + 30, Avx.Permute2x128(s1, s5, 0x31));
            Avx.Store(d + 36, Avx.Permute2x128(s2, s6, 0x31));
            Avx.Store(d + 42, Avx.Permute2x128(s3, s7, 0x31));
        }
        for (; p < kc; p++)
        {
            var d = panel + (p * 6);
            d[0] = r0[p];
            d[1] = r1[p];
            d[2] = r2[p];
            d[3] = r3[p];
            d[4] = r4[p];
            d[5] = r5[p];
        }
    }

    /// <summary>One full 6-row panel of A stored transposed (A(i, p) = src[p * lda + i]): each k step's six
    /// values are contiguous and go over as one 4-float and one 2-float move.</summary>
    private static void PackA6Rows(float* src, int lda, int kc, float* panel)
    {
        for (var p = 0; p < kc; p++)
        {
            var s = src + ((long)p * lda);
            var d = panel + (p * 6);
            Sse.Store(d, Sse.LoadVector128(s));
            *(long*)(d + 4) = *(long*)(s + 4);
        }
    }

    /// <summary>
    /// Packs one panel of op(B), rows [pc, pc+kc) and columns [j, j+cols) with cols at most nr, padded with zero
    /// columns to nr: the panels that <see cref="GemmMicroKernels.Kernel256PackB"/> does not pack as it computes
    /// (B stored transposed, and the last, partial panel), and those that <see cref="PackB"/> does not deal out
    /// row by row.
    /// </summary>
    private static void PackBPanel(bool transB, float* b, int ldb, int pc, int kc, int j, int cols, int nr, float* panel)
    {
        if (!transB)
        {
            for (var p = 0; p < kc; p++)
            {
                var src = b + ((long)(pc + p) * ldb) + j;
                var d = panel + (p * nr);
                var q = 0;
                for (; q < cols; q++)
                {
                    d[q] = src[q];
                }
                for (; q < nr; q++)
                {
                    d[q] = 0f;
                }
            }
            return;
        }
        // B(p, j) = b[j * ldb + p]: each column of B is contiguous, so the panel is its transpose (8x8 blocks
        // in registers where there are eight columns and eight k steps).
        Transpose.Run(b + ((long)j * ldb) + pc, ldb, panel, nr, cols, kc);
        for (var q = cols; q < nr; q++)
        {
            for (var p = 0; p < kc; p++)
            {
                panel[(p * nr) + q] = 0f;
            }
        }
    }

    /// <summary>
    /// Packs rows [pc, pc+kc) x columns [jc, jc+nc) of op(B) into panels of nr columns: panel s holds, for
    /// each p, the nr values B(pc + p, jc + s*nr + j). Columns past the matrix are zero.
    /// </summary>
    private static void PackB(bool transB, float* b, int ldb, int pc, int kc, int jc, int nc, int nr, float* dst)
    {
        if (!transB)
        {
            // Full panels: each row of B is read once, front to back, and dealt out to the panels NR floats at
            // a time (reading panel by panel touched kc rows far apart for every NR floats).
            var full = nc / nr * nr;
            for (var p = 0; p < kc; p++)
            {
                var src = b + ((long)(pc + p) * ldb) + jc;
                var d = dst + (p * nr);
                for (var s = 0; s < full; s += nr)
                {
                    Unsafe.CopyBlockUnaligned(d + (s * kc), src + s, (uint)(nr * sizeof(float)));
                }
            }
        }
        for (var s = 0; s < nc; s += nr)
        {
            var cols = Math.Min(nr, nc - s);
            if (!transB && cols == nr)
            {
                continue; // full panels were dealt out row by row above
            }
            PackBPanel(transB, b, ldb, pc, kc, jc + s, cols, nr, dst + (s * kc));
        }
    }

    private static void ScaleC(Span<float> c, int m, int n, int ldc, float beta)
    {
        for (var i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0f)
            {
                row.Clear();
            }
            else if (beta != 1f)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            }
        }
    }

    private static void CheckExtent(string name, int length, int rows, int cols, int ld)
    {
        if (rows < 0 || cols < 0 || ld < Math.Max(1, cols))
        {
            throw new ArgumentException($"gemm: matrix {name} of {rows}x{cols} with leading dimension {ld} is malformed");
        }
        if (rows > 0 && cols > 0 && ((long)(rows - 1) * ld) + cols > length)
        {
            throw new ArgumentException($"gemm: matrix {name} of {rows}x{cols} (ld {ld}) needs {((long)(rows - 1) * ld) + cols} values, span has {length}");
        }
    }

    /// <summary>Straightforward i-p-j loop for float64; vectorised along rows of B when B is not transposed.</summary>
    private static void Plain<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, INumber<T>
    {
        var row = new T[n];
        for (var i = 0; i < m; i++)
        {
            System.Array.Clear(row);
            for (var p = 0; p < k; p++)
            {
                var aip = transA ? a[(p * lda) + i] : a[(i * lda) + p];
                if (aip == T.Zero)
                {
                    continue;
                }
                if (!transB)
                {
                    var brow = b.Slice(p * ldb, n);
                    for (var j = 0; j < n; j++)
                    {
                        row[j] += aip * brow[j];
                    }
                }
                else
                {
                    for (var j = 0; j < n; j++)
                    {
                        row[j] += aip * b[(j * ldb) + p];
                    }
                }
            }
            var crow = c.Slice(i * ldc, n);
            for (var j = 0; j < n; j++)
            {
                crow[j] = beta == T.Zero ? alpha * row[j] : (alpha * row[j]) + (beta * crow[j]);
            }
        }
    }
}
