namespace Rebalance.Tensors.Kernels;

/// <summary>Data movement: permutation, broadcasting expansion, strided slices, flat gathers and scatters.</summary>
internal static class Copy
{
    /// <summary>y = x.permute(perm), contiguous. The innermost source-contiguous run is copied as a block.</summary>
    public static void Permute<T>(T[] x, int[] xShape, int[] perm, T[] y) where T : unmanaged
    {
        var rank = xShape.Length;
        var n = ShapeUtil.Numel(xShape);
        if (n == 0)
        {
            return;
        }
        var xs = ShapeUtil.Strides(xShape);
        var outShape = new int[rank];
        var srcStride = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            outShape[i] = xShape[perm[i]];
            srcStride[i] = xs[perm[i]];
        }
        StridedCopy(x, 0, outShape, srcStride, y);
    }

    /// <summary>Walks outShape in row-major order reading x at the given strides (0 broadcasts).</summary>
    public static void StridedCopy<T>(T[] x, long baseOffset, int[] outShape, int[] srcStride, T[] y) where T : unmanaged
    {
        var rank = outShape.Length;
        var n = ShapeUtil.Numel(outShape);
        if (n == 0)
        {
            return;
        }
        if (rank == 0)
        {
            y[0] = x[baseOffset];
            return;
        }
        var inner = outShape[rank - 1];
        var innerStride = srcStride[rank - 1];
        var rows = n / inner;
        CpuParallel.For(rows, Math.Max(1, 8192 / Math.Max(1, inner)), (r0, r1) =>
        {
            for (var r = r0; r < r1; r++)
            {
                var off = baseOffset;
                var rem = r;
                for (var d = rank - 2; d >= 0; d--)
                {
                    off += (long)(rem % outShape[d]) * srcStride[d];
                    rem /= outShape[d];
                }
                var dst = y.AsSpan(r * inner, inner);
                if (innerStride == 1)
                {
                    x.AsSpan((int)off, inner).CopyTo(dst);
                }
                else if (innerStride == 0)
                {
                    dst.Fill(x[off]);
                }
                else
                {
                    for (var j = 0; j < inner; j++)
                    {
                        dst[j] = x[off + ((long)j * innerStride)];
                    }
                }
            }
        });
    }

    /// <summary>y[i] = x[index[i]].</summary>
    public static void Take<T>(T[] x, int[] index, T[] y) where T : unmanaged
    {
        for (var i = 0; i < index.Length; i++)
        {
            y[i] = x[index[i]];
        }
    }

    /// <summary>y[index[i]] += x[i] (y cleared first). Serial, so repeated indices always sum in the same order.</summary>
    public static void ScatterAdd<T>(T[] x, int[] index, T[] y, int yLength) where T : unmanaged, System.Numerics.INumber<T>
    {
        y.AsSpan(0, yLength).Clear();
        for (var i = 0; i < index.Length; i++)
        {
            y[index[i]] += x[i];
        }
    }
}
