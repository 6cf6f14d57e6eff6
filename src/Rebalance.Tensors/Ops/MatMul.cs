using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>Matrix products.</summary>
public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product of the last two dims, with batch dims broadcast: (..., m, k) x (..., k, n) -> (..., m, n).
    /// A 1-D left operand is a row vector and a 1-D right operand a column vector; their added dim is
    /// removed from the result, as in PyTorch.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Rank == 0 || b.Rank == 0)
        {
            throw new ArgumentException($"matmul: both operands need at least one dimension, got {ShapeUtil.Format(a._shape)} and {ShapeUtil.Format(b._shape)}");
        }
        var a2 = a.Rank == 1 ? a.Unsqueeze(0) : a;
        var b2 = b.Rank == 1 ? b.Unsqueeze(1) : b;
        var y = MatMulT(a2, b2, false, false);
        if (a.Rank == 1)
        {
            y = y.Squeeze(-2);
        }
        if (b.Rank == 1)
        {
            y = y.Squeeze(-1);
        }
        return y;
    }

    /// <summary>op(a) @ op(b) over the last two dims, op = transpose where asked; batch dims broadcast.</summary>
    internal static Tensor MatMulT(Tensor a, Tensor b, bool transA, bool transB)
    {
        CheckSameDType("matmul", a, b);
        a.CheckFloating("matmul");
        if (a.Rank < 2 || b.Rank < 2)
        {
            throw new ArgumentException($"matmul: expected matrices, got {ShapeUtil.Format(a._shape)} and {ShapeUtil.Format(b._shape)}");
        }
        var (ar, ac) = (a._shape[^2], a._shape[^1]);
        var (br, bc) = (b._shape[^2], b._shape[^1]);
        var m = transA ? ac : ar;
        var k = transA ? ar : ac;
        var kb = transB ? bc : br;
        var n = transB ? br : bc;
        if (k != kb)
        {
            throw new ArgumentException($"matmul: shapes {ShapeUtil.Format(a._shape)}{(transA ? "^T" : "")} and {ShapeUtil.Format(b._shape)}{(transB ? "^T" : "")} do not align ({k} vs {kb})");
        }
        var batchA = a._shape[..^2];
        var batchB = b._shape[..^2];
        var batch = ShapeUtil.Broadcast("matmul", batchA, batchB);
        var outShape = batch.Concat([m, n]).ToArray();
        var y = Empty(outShape, a.DType);
        var nb = ShapeUtil.Numel(batch);
        if (nb > 0)
        {
            var sa = ShapeUtil.BroadcastStrides(batchA, batch);
            var sb = ShapeUtil.BroadcastStrides(batchB, batch);
            if (a.DType == DType.Float32)
            {
                BatchedGemm<float>(a, b, y, transA, transB, m, n, k, ar * ac, br * bc, batch, sa, sb);
            }
            else
            {
                BatchedGemm<double>(a, b, y, transA, transB, m, n, k, ar * ac, br * bc, batch, sa, sb);
            }
        }
        Record(y, "MatMulBackward", [a, b], g => [
            a._requiresGrad ? (transA ? MatMulT(b, g, transB, true) : MatMulT(g, b, false, !transB)).SumTo(a._shape) : null,
            b._requiresGrad ? (transB ? MatMulT(g, a, true, transA) : MatMulT(a, g, !transA, false)).SumTo(b._shape) : null]);
        return y;
    }

    private static void BatchedGemm<T>(Tensor a, Tensor b, Tensor y, bool transA, bool transB, int m, int n, int k, int aMat, int bMat, int[] batch, int[] sa, int[] sb)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var nb = ShapeUtil.Numel(batch);
        var av = a.Array<T>();
        var bv = b.Array<T>();
        var yv = y.Array<T>();
        var lda = a._shape[^1];
        var ldb = b._shape[^1];
        // A shared, untransposed right operand: fold the batch into the rows of one product.
        if (!transA && sb.All(s => s == 0) && sa.Length > 0 && IsDenseBatch(sa, batch, aMat))
        {
            Gemm.Run(false, transB, nb * m, n, k, T.One, av.AsSpan(0, nb * m * k), lda, bv.AsSpan(0, bMat), ldb, T.Zero, yv.AsSpan(0, nb * m * n), n);
            return;
        }
        var parallelInside = nb < Engine.NumThreads * 2;
        CpuParallel.For(nb, parallelInside ? nb : 1, (s, e) =>
        {
            for (var i = s; i < e; i++)
            {
                long oa = 0, ob = 0;
                var rem = i;
                for (var d = batch.Length - 1; d >= 0; d--)
                {
                    var c = rem % batch[d];
                    rem /= batch[d];
                    oa += (long)c * sa[d];
                    ob += (long)c * sb[d];
                }
                Gemm.Run(transA, transB, m, n, k, T.One, av.AsSpan((int)(oa * aMat), aMat), lda, bv.AsSpan((int)(ob * bMat), bMat), ldb, T.Zero, yv.AsSpan(i * m * n, m * n), n, parallel: parallelInside);
            }
        });
    }

    private static bool IsDenseBatch(int[] strides, int[] batch, int matSize)
    {
        var expect = 1;
        for (var d = batch.Length - 1; d >= 0; d--)
        {
            if (batch[d] != 1 && strides[d] != expect)
            {
                return false;
            }
            expect *= batch[d];
        }
        return matSize > 0;
    }
}
