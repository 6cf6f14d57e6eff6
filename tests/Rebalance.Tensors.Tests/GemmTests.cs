using Rebalance.Tensors.Kernels;
using Rebalance.Tensors.Kernels.Reference;

namespace Rebalance.Tensors.Tests;

/// <summary>The packed GEMM, on every micro-kernel this machine can run, against the naive reference.</summary>
public class GemmTests
{
    [Fact]
    public void SwitchingAvx512OffInTheEnvironmentSelectsTheAvx2Kernels()
    {
        // CI runs these tests a second time with AVX-512 off to cover the AVX2 kernels. .NET 10 reads
        // DOTNET_EnableAVX512; the older DOTNET_EnableAVX512F alone no longer switches anything off, and
        // the second run would then silently repeat the AVX-512 one.
        var off = new[] { "DOTNET_EnableAVX512", "DOTNET_EnableAVX512F" }.Any(v => Environment.GetEnvironmentVariable(v) == "0");
        if (off)
        {
            Assert.False(System.Runtime.Intrinsics.X86.Avx512F.IsSupported);
            Assert.Equal(GemmKernel.Avx2, Gemm.ActiveKernel);
        }
        else
        {
            Assert.Equal(System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? GemmKernel.Avx512 : GemmKernel.Avx2, Gemm.ActiveKernel);
        }
    }

    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var k in Enum.GetValues<GemmKernel>())
        {
            if (k <= Gemm.ActiveKernel)
            {
                data.Add(k.ToString());
            }
        }
        return data;
    }

    private static readonly (int M, int N, int K)[] Shapes =
    [
        (0, 5, 3), (5, 0, 3), (4, 5, 0), (1, 1, 1), (7, 15, 17), (17, 33, 7), (13, 31, 63), (63, 1, 255), (1, 63, 255),
        (33, 47, 513), (100, 65, 3), (255, 17, 15), (12, 32, 256), (25, 97, 300),
        (64, 1, 6272), (1, 300, 64), (300, 1, 2), (1, 1, 700), // matrix-vector products, some split over threads
        (64, 6272, 1), (5, 9, 1),                             // outer products
        (4, 40, 37), (3, 70, 300),                            // fewer rows than one tile while B is packed by the first tile
        (130, 64, 300), (24, 96, 520),                        // full panels packed by the first tile, over several row and k blocks
        (6, 16, 8), (7, 17, 9), (12, 48, 10), (6, 33, 17),    // k around the 8-step transposing copy of A and its tail
    ];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MatchesReferenceAtAwkwardShapes(string kernel)
    {
        Gemm.ForcedKernel = Enum.Parse<GemmKernel>(kernel);
        try
        {
            var gen = new Generator(1);
            foreach (var (m, n, k) in Shapes)
            {
                foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
                {
                    foreach (var (alpha, beta) in new[] { (1f, 0f), (0.5f, 1f), (-2f, 0.25f) })
                    {
                        Check(gen, ta, tb, m, n, k, alpha, beta, pad: (m + n + k) % 3);
                    }
                }
            }
        }
        finally
        {
            Gemm.ForcedKernel = null;
        }
    }

    private static void Check(Generator gen, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int pad)
    {
        // Leading dimensions with padding, so strided access is exercised.
        var lda = (ta ? m : k) + pad;
        var ldb = (tb ? k : n) + pad;
        var ldc = n + pad;
        var a = gen.Uniform([Math.Max(1, (ta ? k : m) * Math.Max(1, lda))], -1, 1).ToFloatArray();
        var b = gen.Uniform([Math.Max(1, (tb ? n : k) * Math.Max(1, ldb))], -1, 1).ToFloatArray();
        var c0 = gen.Uniform([Math.Max(1, m * ldc)], -1, 1).ToFloatArray();
        if (beta == 0f && c0.Length > 0)
        {
            c0[0] = float.NaN; // beta == 0 must not read C
        }
        var expected = (float[])c0.Clone();
        var actual = (float[])c0.Clone();
        GemmReference.Run(ta, tb, m, n, k, alpha, a, Math.Max(1, lda), b, Math.Max(1, ldb), beta, expected, Math.Max(1, ldc));
        Gemm.Sgemm(ta, tb, m, n, k, alpha, a, Math.Max(1, lda), b, Math.Max(1, ldb), beta, actual, Math.Max(1, ldc));
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < ldc; j++)
            {
                var ix = (i * ldc) + j;
                if (j >= n)
                {
                    Assert.True(c0[ix].Equals(actual[ix]), $"padding of C was written at ({i},{j})");
                    continue;
                }
                var tol = 1e-5f * (k + 1);
                Assert.True(Math.Abs(expected[ix] - actual[ix]) <= tol, $"m={m} n={n} k={k} ta={ta} tb={tb} alpha={alpha} beta={beta}: C({i},{j}) = {actual[ix]}, expected {expected[ix]}");
            }
        }
    }

    [Theory]
    [InlineData(301, 517, 389, false)] // more columns: the threads split the columns of C
    [InlineData(517, 301, 389, false)] // more rows: the threads split the rows
    [InlineData(130, 777, 300, true)]  // transposed B, partial panels
    public void LargeMatrixMatchesReferenceAndIsIndependentOfThreadCount(int m, int n, int k, bool transB)
    {
        var gen = new Generator(2);
        var a = gen.Uniform([m * k], -1, 1).ToFloatArray();
        var b = gen.Uniform([k * n], -1, 1).ToFloatArray();
        var ldb = transB ? k : n;
        var expected = new float[m * n];
        GemmReference.Run(false, transB, m, n, k, 1f, a, k, b, ldb, 0f, expected, n);
        var saved = Engine.NumThreads;
        try
        {
            Engine.NumThreads = 1;
            var one = new float[m * n];
            Gemm.Sgemm(false, transB, m, n, k, 1f, a, k, b, ldb, 0f, one, n);
            Engine.NumThreads = 2;
            var two = new float[m * n];
            Gemm.Sgemm(false, transB, m, n, k, 1f, a, k, b, ldb, 0f, two, n);
            Assert.Equal(one, two);
            for (var i = 0; i < one.Length; i++)
            {
                Assert.True(Math.Abs(one[i] - expected[i]) < 2e-3f, $"element {i}: {one[i]} vs {expected[i]}");
            }
        }
        finally
        {
            Engine.NumThreads = saved;
        }
    }

    [Fact]
    public void NanAndInfPropagate()
    {
        var a = new float[] { 1, float.NaN, 2, 3 };
        var b = new float[] { 1, 0, float.PositiveInfinity, 1 };
        var c = new float[4];
        Gemm.Sgemm(false, false, 2, 2, 2, 1f, a, 2, b, 2, 0f, c, 2);
        Assert.True(float.IsNaN(c[0]) && float.IsNaN(c[1]), "NaN in row 0 of A reaches both outputs");
        Assert.True(float.IsPositiveInfinity(c[2]), "Inf from B is kept");
    }

    [Fact]
    public void TooShortSpanIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 3, 3, 3, 1f, new float[8], 3, new float[9], 3, 0f, new float[9], 3));
        Assert.Contains("matrix A", ex.Message);
    }
}
