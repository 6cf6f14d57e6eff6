using System.Runtime.Intrinsics.X86;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors.Tests;

/// <summary>The channels-last convolution's building blocks against plain loops: the blocked transpose and
/// the row-pointer micro-kernels. The convolution itself is checked in <see cref="ConvKernelTests"/>.</summary>
public unsafe class ChannelsLastKernelTests
{
    private static readonly int[] Sizes = [0, 1, 7, 15, 16, 17, 33, 63, 64, 196];

    private static float[] Data(int n, int seed) => new Generator((ulong)seed).Normal([Math.Max(n, 1)]).ToFloatArray()[..n];

    [Fact]
    public void TransposeMatchesTheScalarLoopAtAwkwardSizes()
    {
        foreach (var rows in Sizes)
        {
            foreach (var cols in Sizes)
            {
                // Strides larger than the extents, so stray writes outside the block would show.
                var srcLd = cols + 3;
                var dstLd = rows + 5;
                var src = Data((rows * srcLd) + 1, (rows * 1000) + cols);
                if (src.Length > 2)
                {
                    src[1] = float.NaN;
                    src[2] = -0f;
                }
                var fast = Enumerable.Repeat(7f, (cols * dstLd) + 1).ToArray();
                var plain = Enumerable.Repeat(7f, (cols * dstLd) + 1).ToArray();
                fixed (float* s = src, f = fast, p = plain)
                {
                    Transpose.Run(s, srcLd, f, dstLd, rows, cols);
                    Transpose.Scalar(s, srcLd, p, dstLd, rows, cols);
                }
                for (var i = 0; i < plain.Length; i++)
                {
                    Assert.True(BitConverter.SingleToInt32Bits(plain[i]) == BitConverter.SingleToInt32Bits(fast[i]), $"{rows}x{cols}: element {i} is {fast[i]}, expected {plain[i]}");
                }
                for (var i = 0; i < rows; i++)
                {
                    for (var j = 0; j < cols; j++)
                    {
                        Assert.Equal(BitConverter.SingleToInt32Bits(src[(i * srcLd) + j]), BitConverter.SingleToInt32Bits(plain[(j * dstLd) + i]));
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(17, true)]
    [InlineData(256, false)]
    [InlineData(257, true)]
    public void RowPointerKernelsMatchPlainSums(int kc, bool accumulate)
    {
        if (!Avx512F.IsSupported)
        {
            return; // the kernels exist only on AVX-512; elsewhere the convolution takes the packed path
        }
        const int mr = IndirectMicroKernels.Mr;
        const int nr = IndirectMicroKernels.Nr;
        const int ldc = nr + 5;
        const int lda = mr + 3;
        var pool = Data((kc + 64) * 64, kc);
        var packedB = Data(kc * nr, kc + 1);
        var a = Data(kc * lda, kc + 2);
        var c0 = Data(mr * ldc, kc + 3);
        fixed (float* pp = pool, pb = packedB, pa = a)
        {
            // A by row pointers: twelve runs at scattered, overlapping places in the pool.
            var rows = stackalloc float*[mr];
            for (var i = 0; i < mr; i++)
            {
                rows[i] = pp + (i * 37 % 64 * 61);
            }
            const int aOff = 29;
            var c = (float[])c0.Clone();
            fixed (float* pc = c)
            {
                IndirectMicroKernels.RowsA512(kc, rows, aOff, pb, pc, ldc, accumulate);
            }
            for (var i = 0; i < mr; i++)
            {
                for (var j = 0; j < nr; j++)
                {
                    var e = accumulate ? (double)c0[(i * ldc) + j] : 0d;
                    for (var p = 0; p < kc; p++)
                    {
                        e += (double)rows[i][aOff + p] * pb[(p * nr) + j];
                    }
                    Assert.True(Math.Abs(e - c[(i * ldc) + j]) <= 1e-4 * (1 + Math.Abs(e)), $"RowsA512 kc {kc}: ({i}, {j}) is {c[(i * ldc) + j]}, expected {e}");
                }
                for (var j = nr; j < ldc; j++)
                {
                    Assert.Equal(c0[(i * ldc) + j], c[(i * ldc) + j]);
                }
            }

            // B by row pointers: one run per k, A strided.
            var bRows = new nint[kc];
            for (var p = 0; p < kc; p++)
            {
                bRows[p] = (nint)(pp + ((p * 53) % (kc + 1) * 64));
            }
            const int bOff = 3;
            c = (float[])c0.Clone();
            fixed (nint* pr = bRows)
            fixed (float* pc = c)
            {
                IndirectMicroKernels.RowsB512(kc, pa, lda, (float**)pr, bOff, pc, ldc, accumulate);
            }
            for (var i = 0; i < mr; i++)
            {
                for (var j = 0; j < nr; j++)
                {
                    var e = accumulate ? (double)c0[(i * ldc) + j] : 0d;
                    for (var p = 0; p < kc; p++)
                    {
                        e += (double)pa[(p * lda) + i] * ((float*)bRows[p])[bOff + j];
                    }
                    Assert.True(Math.Abs(e - c[(i * ldc) + j]) <= 1e-4 * (1 + Math.Abs(e)), $"RowsB512 kc {kc}: ({i}, {j}) is {c[(i * ldc) + j]}, expected {e}");
                }
            }
        }
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(17, true)]
    [InlineData(256, false)]
    [InlineData(257, true)]
    public void Avx2RowPointerTilesMatchFusedSumsInOrder(int kc, bool accumulate)
    {
        if (!Fma.IsSupported)
        {
            return; // the AVX2 tiles need FMA3
        }
        const int mr = IndirectMicroKernels.Mr;
        const int nr = IndirectMicroKernels.Nr;
        const int half = nr / 2;
        const int ldc = nr + 5;
        var pool = Data((kc + 64) * 64, kc);
        var halves = Data(2 * kc * half, kc + 1);
        var strided = Data(kc * (nr + 7), kc + 2);
        var c0 = Data(mr * ldc, kc + 3);

        // The order every sum must follow: k ascending from zero with one rounding per fused step, then
        // the tile's earlier value added.
        void Check(string name, float[] c, Func<int, int, int, float> a, Func<int, int, float> b)
        {
            for (var i = 0; i < mr; i++)
            {
                for (var j = 0; j < nr; j++)
                {
                    var e = 0f;
                    for (var p = 0; p < kc; p++)
                    {
                        e = MathF.FusedMultiplyAdd(a(i, p, j), b(p, j), e);
                    }
                    e = accumulate ? c0[(i * ldc) + j] + e : e;
                    Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(c[(i * ldc) + j]), $"{name} kc {kc}: ({i}, {j}) is {c[(i * ldc) + j]}, expected {e}");
                }
                for (var j = nr; j < ldc; j++)
                {
                    Assert.Equal(c0[(i * ldc) + j], c[(i * ldc) + j]);
                }
            }
        }

        fixed (float* pp = pool, ph = halves, ps = strided)
        {
            // A by row pointers (twelve scattered, overlapping runs), B as two packed 16-wide halves.
            var rows = new nint[mr];
            for (var i = 0; i < mr; i++)
            {
                rows[i] = (nint)(pp + (i * 37 % 64 * 61));
            }
            const int aOff = 29;
            var c = (float[])c0.Clone();
            fixed (nint* pr = rows)
            fixed (float* pc = c)
            {
                IndirectMicroKernels.RowsA256(kc, (float**)pr, aOff, ph, ph + (kc * half), pc, ldc, accumulate);
            }
            var h = halves;
            Check("RowsA256", c, (i, p, _) => ((float*)rows[i])[aOff + p], (p, j) => h[(j / half * kc * half) + (p * half) + (j % half)]);

            // A by one row pointer per k (twelve consecutive run elements), B strided.
            var kRows = new nint[kc];
            for (var p = 0; p < kc; p++)
            {
                kRows[p] = (nint)(pp + ((p * 53) % (kc + 1) * 64));
            }
            const int ldb = nr + 7;
            c = (float[])c0.Clone();
            fixed (nint* pr = kRows)
            fixed (float* pc = c)
            {
                IndirectMicroKernels.RowsK256(kc, (float**)pr, aOff, ps, ldb, pc, ldc, accumulate);
            }
            var st = strided;
            Check("RowsK256", c, (i, p, _) => ((float*)kRows[p])[aOff + i], (p, j) => st[(p * ldb) + j]);

            // Asked for five rows, it computes the upper half only and leaves the lower rows of c alone.
            var upper = (float[])c0.Clone();
            fixed (nint* pr = kRows)
            fixed (float* pc = upper)
            {
                IndirectMicroKernels.RowsK256(kc, (float**)pr, aOff, ps, ldb, pc, ldc, accumulate, 5);
            }
            Assert.Equal(c.AsSpan(0, 6 * ldc).ToArray(), upper.AsSpan(0, 6 * ldc).ToArray());
            Assert.Equal(c0.AsSpan(6 * ldc).ToArray(), upper.AsSpan(6 * ldc).ToArray());
        }
    }
}
