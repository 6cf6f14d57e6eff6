using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Strided float32 matrix transposes, for layout changes between channels-first and channels-last.
/// Full 16x16 blocks (and 8x8 ones for 8-row edges) go through registers (AVX-512: butterfly stages of two-source permutes, each
/// swapping one bit of the row index with the same bit of the column index); on machines with AVX but not
/// AVX-512, 8x8 blocks go through the unpack, shuffle and lane-swap transpose; the edges take the scalar loop.
/// </summary>
internal static unsafe class Transpose
{
    private const int B = 16;

    /// <summary>Tests force the scalar loop to check the vector one against it.</summary>
    internal static bool ForceScalar { get; set; }

    // Per stage d = 8, 4, 2, 1: lower row i (bit d clear) takes its own columns with bit d clear and row
    // i + d's columns shifted down by d; upper row i + d takes row i's columns shifted up by d and its own
    // columns with bit d set. Indices 16..31 select from the second operand (row i + d).
    private static readonly int[] s_lower = BuildControl(upper: false);
    private static readonly int[] s_upper = BuildControl(upper: true);

    private static readonly int[] s_lower8 = BuildControl(upper: false, 8);
    private static readonly int[] s_upper8 = BuildControl(upper: true, 8);

    private static int[] BuildControl(bool upper, int size = B)
    {
        var stages = System.Numerics.BitOperations.Log2((uint)size);
        var control = new int[stages * size];
        for (var s = 0; s < stages; s++)
        {
            var d = size >> (s + 1);
            for (var c = 0; c < size; c++)
            {
                control[(s * size) + c] = upper
                    ? ((c & d) != 0 ? size + c : c + d)
                    : ((c & d) == 0 ? c : size + (c - d));
            }
        }
        return control;
    }

    /// <summary>dst[j * dstLd + i] = src[i * srcLd + j] for i &lt; rows, j &lt; cols.</summary>
    public static void Run(float* src, long srcLd, float* dst, long dstLd, int rows, int cols)
    {
        var i = 0;
        if (!ForceScalar && Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
        {
            for (; i + B <= rows; i += B)
            {
                var j = 0;
                for (; j + B <= cols; j += B)
                {
                    Block16(src + (i * srcLd) + j, srcLd, dst + (j * dstLd) + i, dstLd);
                }
                Scalar(src + (i * srcLd) + j, srcLd, dst + (j * dstLd) + i, dstLd, B, cols - j);
            }
        }
        if (!ForceScalar && Avx512F.VL.IsSupported)
        {
            // Blocks of 8 rows (an 8-channel layer's planes) through 256-bit registers.
            for (; i + 8 <= rows; i += 8)
            {
                var j = 0;
                for (; j + 8 <= cols; j += 8)
                {
                    Block8(src + (i * srcLd) + j, srcLd, dst + (j * dstLd) + i, dstLd);
                }
                Scalar(src + (i * srcLd) + j, srcLd, dst + (j * dstLd) + i, dstLd, 8, cols - j);
            }
        }
        else if (!ForceScalar && Avx.IsSupported)
        {
            for (; i + 8 <= rows; i += 8)
            {
                var j = 0;
                for (; j + 8 <= cols; j += 8)
                {
                    Block8Avx(src + (i * srcLd) + j, srcLd, dst + (j * dstLd) + i, dstLd);
                }
                Scalar(src + (i * srcLd) + j, srcLd, dst + (j * dstLd) + i, dstLd, 8, cols - j);
            }
        }
        Scalar(src + (i * srcLd), srcLd, dst + i, dstLd, rows - i, cols);
    }

    /// <summary>
    /// An 8x8 block with AVX: unpacking pairs of rows interleaves their elements two by two, shuffles
    /// then gather four rows' elements per 128-bit lane, and the lane swap puts each column's two halves
    /// together.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block8Avx(float* src, long srcLd, float* dst, long dstLd)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + srcLd);
        var r2 = Avx.LoadVector256(src + (2 * srcLd));
        var r3 = Avx.LoadVector256(src + (3 * srcLd));
        var r4 = Avx.LoadVector256(src + (4 * srcLd));
        var r5 = Avx.LoadVector256(src + (5 * srcLd));
        var r6 = Avx.LoadVector256(src + (6 * srcLd));
        var r7 = Avx.LoadVector256(src + (7 * srcLd));
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44);
        var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44);
        var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44);
        var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44);
        var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + dstLd, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + (2 * dstLd), Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + (3 * dstLd), Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + (4 * dstLd), Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + (5 * dstLd), Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + (6 * dstLd), Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + (7 * dstLd), Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>The plain loop: the reference for the vector path and the edge handler.</summary>
    public static void Scalar(float* src, long srcLd, float* dst, long dstLd, int rows, int cols)
    {
        for (var i = 0; i < rows; i++)
        {
            var s = src + (i * srcLd);
            var d = dst + i;
            for (var j = 0; j < cols; j++)
            {
                d[j * dstLd] = s[j];
            }
        }
    }

    // Unrolled so the sixteen rows stay in registers (a loop over a stack array of vectors went through memory).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block16(float* src, long srcLd, float* dst, long dstLd)
    {
        var r0 = Vector512.Load(src + (0 * srcLd));
        var r1 = Vector512.Load(src + (1 * srcLd));
        var r2 = Vector512.Load(src + (2 * srcLd));
        var r3 = Vector512.Load(src + (3 * srcLd));
        var r4 = Vector512.Load(src + (4 * srcLd));
        var r5 = Vector512.Load(src + (5 * srcLd));
        var r6 = Vector512.Load(src + (6 * srcLd));
        var r7 = Vector512.Load(src + (7 * srcLd));
        var r8 = Vector512.Load(src + (8 * srcLd));
        var r9 = Vector512.Load(src + (9 * srcLd));
        var r10 = Vector512.Load(src + (10 * srcLd));
        var r11 = Vector512.Load(src + (11 * srcLd));
        var r12 = Vector512.Load(src + (12 * srcLd));
        var r13 = Vector512.Load(src + (13 * srcLd));
        var r14 = Vector512.Load(src + (14 * srcLd));
        var r15 = Vector512.Load(src + (15 * srcLd));
        fixed (int* pl = s_lower, pu = s_upper)
        {
            var lo0 = Vector512.Load(pl + 0);
            var hi0 = Vector512.Load(pu + 0);
            var t0_0 = Avx512F.PermuteVar16x32x2(r0, lo0, r8);
            r8 = Avx512F.PermuteVar16x32x2(r0, hi0, r8);
            r0 = t0_0;
            var t0_1 = Avx512F.PermuteVar16x32x2(r1, lo0, r9);
            r9 = Avx512F.PermuteVar16x32x2(r1, hi0, r9);
            r1 = t0_1;
            var t0_2 = Avx512F.PermuteVar16x32x2(r2, lo0, r10);
            r10 = Avx512F.PermuteVar16x32x2(r2, hi0, r10);
            r2 = t0_2;
            var t0_3 = Avx512F.PermuteVar16x32x2(r3, lo0, r11);
            r11 = Avx512F.PermuteVar16x32x2(r3, hi0, r11);
            r3 = t0_3;
            var t0_4 = Avx512F.PermuteVar16x32x2(r4, lo0, r12);
            r12 = Avx512F.PermuteVar16x32x2(r4, hi0, r12);
            r4 = t0_4;
            var t0_5 = Avx512F.PermuteVar16x32x2(r5, lo0, r13);
            r13 = Avx512F.PermuteVar16x32x2(r5, hi0, r13);
            r5 = t0_5;
            var t0_6 = Avx512F.PermuteVar16x32x2(r6, lo0, r14);
            r14 = Avx512F.PermuteVar16x32x2(r6, hi0, r14);
            r6 = t0_6;
            var t0_7 = Avx512F.PermuteVar16x32x2(r7, lo0, r15);
            r15 = Avx512F.PermuteVar16x32x2(r7, hi0, r15);
            r7 = t0_7;
            var lo1 = Vector512.Load(pl + 16);
            var hi1 = Vector512.Load(pu + 16);
            var t1_0 = Avx512F.PermuteVar16x32x2(r0, lo1, r4);
            r4 = Avx512F.PermuteVar16x32x2(r0, hi1, r4);
            r0 = t1_0;
            var t1_1 = Avx512F.PermuteVar16x32x2(r1, lo1, r5);
            r5 = Avx512F.PermuteVar16x32x2(r1, hi1, r5);
            r1 = t1_1;
            var t1_2 = Avx512F.PermuteVar16x32x2(r2, lo1, r6);
            r6 = Avx512F.PermuteVar16x32x2(r2, hi1, r6);
            r2 = t1_2;
            var t1_3 = Avx512F.PermuteVar16x32x2(r3, lo1, r7);
            r7 = Avx512F.PermuteVar16x32x2(r3, hi1, r7);
            r3 = t1_3;
            var t1_8 = Avx512F.PermuteVar16x32x2(r8, lo1, r12);
            r12 = Avx512F.PermuteVar16x32x2(r8, hi1, r12);
            r8 = t1_8;
            var t1_9 = Avx512F.PermuteVar16x32x2(r9, lo1, r13);
            r13 = Avx512F.PermuteVar16x32x2(r9, hi1, r13);
            r9 = t1_9;
            var t1_10 = Avx512F.PermuteVar16x32x2(r10, lo1, r14);
            r14 = Avx512F.PermuteVar16x32x2(r10, hi1, r14);
            r10 = t1_10;
            var t1_11 = Avx512F.PermuteVar16x32x2(r11, lo1, r15);
            r15 = Avx512F.PermuteVar16x32x2(r11, hi1, r15);
            r11 = t1_11;
            var lo2 = Vector512.Load(pl + 32);
            var hi2 = Vector512.Load(pu + 32);
            var t2_0 = Avx512F.PermuteVar16x32x2(r0, lo2, r2);
            r2 = Avx512F.PermuteVar16x32x2(r0, hi2, r2);
            r0 = t2_0;
            var t2_1 = Avx512F.PermuteVar16x32x2(r1, lo2, r3);
            r3 = Avx512F.PermuteVar16x32x2(r1, hi2, r3);
            r1 = t2_1;
            var t2_4 = Avx512F.PermuteVar16x32x2(r4, lo2, r6);
            r6 = Avx512F.PermuteVar16x32x2(r4, hi2, r6);
            r4 = t2_4;
            var t2_5 = Avx512F.PermuteVar16x32x2(r5, lo2, r7);
            r7 = Avx512F.PermuteVar16x32x2(r5, hi2, r7);
            r5 = t2_5;
            var t2_8 = Avx512F.PermuteVar16x32x2(r8, lo2, r10);
            r10 = Avx512F.PermuteVar16x32x2(r8, hi2, r10);
            r8 = t2_8;
            var t2_9 = Avx512F.PermuteVar16x32x2(r9, lo2, r11);
            r11 = Avx512F.PermuteVar16x32x2(r9, hi2, r11);
            r9 = t2_9;
            var t2_12 = Avx512F.PermuteVar16x32x2(r12, lo2, r14);
            r14 = Avx512F.PermuteVar16x32x2(r12, hi2, r14);
            r12 = t2_12;
            var t2_13 = Avx512F.PermuteVar16x32x2(r13, lo2, r15);
            r15 = Avx512F.PermuteVar16x32x2(r13, hi2, r15);
            r13 = t2_13;
            var lo3 = Vector512.Load(pl + 48);
            var hi3 = Vector512.Load(pu + 48);
            var t3_0 = Avx512F.PermuteVar16x32x2(r0, lo3, r1);
            r1 = Avx512F.PermuteVar16x32x2(r0, hi3, r1);
            r0 = t3_0;
            var t3_2 = Avx512F.PermuteVar16x32x2(r2, lo3, r3);
            r3 = Avx512F.PermuteVar16x32x2(r2, hi3, r3);
            r2 = t3_2;
            var t3_4 = Avx512F.PermuteVar16x32x2(r4, lo3, r5);
            r5 = Avx512F.PermuteVar16x32x2(r4, hi3, r5);
            r4 = t3_4;
            var t3_6 = Avx512F.PermuteVar16x32x2(r6, lo3, r7);
            r7 = Avx512F.PermuteVar16x32x2(r6, hi3, r7);
            r6 = t3_6;
            var t3_8 = Avx512F.PermuteVar16x32x2(r8, lo3, r9);
            r9 = Avx512F.PermuteVar16x32x2(r8, hi3, r9);
            r8 = t3_8;
            var t3_10 = Avx512F.PermuteVar16x32x2(r10, lo3, r11);
            r11 = Avx512F.PermuteVar16x32x2(r10, hi3, r11);
            r10 = t3_10;
            var t3_12 = Avx512F.PermuteVar16x32x2(r12, lo3, r13);
            r13 = Avx512F.PermuteVar16x32x2(r12, hi3, r13);
            r12 = t3_12;
            var t3_14 = Avx512F.PermuteVar16x32x2(r14, lo3, r15);
            r15 = Avx512F.PermuteVar16x32x2(r14, hi3, r15);
            r14 = t3_14;
        }
        Vector512.Store(r0, dst + (0 * dstLd));
        Vector512.Store(r1, dst + (1 * dstLd));
        Vector512.Store(r2, dst + (2 * dstLd));
        Vector512.Store(r3, dst + (3 * dstLd));
        Vector512.Store(r4, dst + (4 * dstLd));
        Vector512.Store(r5, dst + (5 * dstLd));
        Vector512.Store(r6, dst + (6 * dstLd));
        Vector512.Store(r7, dst + (7 * dstLd));
        Vector512.Store(r8, dst + (8 * dstLd));
        Vector512.Store(r9, dst + (9 * dstLd));
        Vector512.Store(r10, dst + (10 * dstLd));
        Vector512.Store(r11, dst + (11 * dstLd));
        Vector512.Store(r12, dst + (12 * dstLd));
        Vector512.Store(r13, dst + (13 * dstLd));
        Vector512.Store(r14, dst + (14 * dstLd));
        Vector512.Store(r15, dst + (15 * dstLd));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block8(float* src, long srcLd, float* dst, long dstLd)
    {
        var r0 = Vector256.Load(src + (0 * srcLd));
        var r1 = Vector256.Load(src + (1 * srcLd));
        var r2 = Vector256.Load(src + (2 * srcLd));
        var r3 = Vector256.Load(src + (3 * srcLd));
        var r4 = Vector256.Load(src + (4 * srcLd));
        var r5 = Vector256.Load(src + (5 * srcLd));
        var r6 = Vector256.Load(src + (6 * srcLd));
        var r7 = Vector256.Load(src + (7 * srcLd));
        fixed (int* pl = s_lower8, pu = s_upper8)
        {
            var lo0 = Vector256.Load(pl + 0);
            var hi0 = Vector256.Load(pu + 0);
            var t0_0 = Avx512F.VL.PermuteVar8x32x2(r0, lo0, r4);
            r4 = Avx512F.VL.PermuteVar8x32x2(r0, hi0, r4);
            r0 = t0_0;
            var t0_1 = Avx512F.VL.PermuteVar8x32x2(r1, lo0, r5);
            r5 = Avx512F.VL.PermuteVar8x32x2(r1, hi0, r5);
            r1 = t0_1;
            var t0_2 = Avx512F.VL.PermuteVar8x32x2(r2, lo0, r6);
            r6 = Avx512F.VL.PermuteVar8x32x2(r2, hi0, r6);
            r2 = t0_2;
            var t0_3 = Avx512F.VL.PermuteVar8x32x2(r3, lo0, r7);
            r7 = Avx512F.VL.PermuteVar8x32x2(r3, hi0, r7);
            r3 = t0_3;
            var lo1 = Vector256.Load(pl + 8);
            var hi1 = Vector256.Load(pu + 8);
            var t1_0 = Avx512F.VL.PermuteVar8x32x2(r0, lo1, r2);
            r2 = Avx512F.VL.PermuteVar8x32x2(r0, hi1, r2);
            r0 = t1_0;
            var t1_1 = Avx512F.VL.PermuteVar8x32x2(r1, lo1, r3);
            r3 = Avx512F.VL.PermuteVar8x32x2(r1, hi1, r3);
            r1 = t1_1;
            var t1_4 = Avx512F.VL.PermuteVar8x32x2(r4, lo1, r6);
            r6 = Avx512F.VL.PermuteVar8x32x2(r4, hi1, r6);
            r4 = t1_4;
            var t1_5 = Avx512F.VL.PermuteVar8x32x2(r5, lo1, r7);
            r7 = Avx512F.VL.PermuteVar8x32x2(r5, hi1, r7);
            r5 = t1_5;
            var lo2 = Vector256.Load(pl + 16);
            var hi2 = Vector256.Load(pu + 16);
            var t2_0 = Avx512F.VL.PermuteVar8x32x2(r0, lo2, r1);
            r1 = Avx512F.VL.PermuteVar8x32x2(r0, hi2, r1);
            r0 = t2_0;
            var t2_2 = Avx512F.VL.PermuteVar8x32x2(r2, lo2, r3);
            r3 = Avx512F.VL.PermuteVar8x32x2(r2, hi2, r3);
            r2 = t2_2;
            var t2_4 = Avx512F.VL.PermuteVar8x32x2(r4, lo2, r5);
            r5 = Avx512F.VL.PermuteVar8x32x2(r4, hi2, r5);
            r4 = t2_4;
            var t2_6 = Avx512F.VL.PermuteVar8x32x2(r6, lo2, r7);
            r7 = Avx512F.VL.PermuteVar8x32x2(r6, hi2, r7);
            r6 = t2_6;
        }
        Vector256.Store(r0, dst + (0 * dstLd));
        Vector256.Store(r1, dst + (1 * dstLd));
        Vector256.Store(r2, dst + (2 * dstLd));
        Vector256.Store(r3, dst + (3 * dstLd));
        Vector256.Store(r4, dst + (4 * dstLd));
        Vector256.Store(r5, dst + (5 * dstLd));
        Vector256.Store(r6, dst + (6 * dstLd));
        Vector256.Store(r7, dst + (7 * dstLd));
    }
}
