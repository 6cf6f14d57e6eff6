namespace Rebalance.Tensors.Kernels.Reference;

/// <summary>Naive triple loop with double accumulation: the ground truth for the GEMM tests.</summary>
internal static class GemmReference
{
    // a: op(A) is (m, k); b: op(B) is (k, n); c: (m, n) with leading dimension ldc.
    public static void Run(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                double acc = 0;
                for (var p = 0; p < k; p++)
                {
                    var av = transA ? a[(p * lda) + i] : a[(i * lda) + p];
                    var bv = transB ? b[(j * ldb) + p] : b[(p * ldb) + j];
                    acc += (double)av * bv;
                }
                var prev = beta == 0f ? 0.0 : beta * (double)c[(i * ldc) + j];
                c[(i * ldc) + j] = (float)((alpha * acc) + prev);
            }
        }
    }
}
