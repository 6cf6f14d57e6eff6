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
}
