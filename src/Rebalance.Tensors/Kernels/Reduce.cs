using System.Numerics;
using System.Numerics.Tensors;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Summation of a tensor down to a shape with ones in the reduced dims (the adjoint of broadcasting).
/// Dims are coalesced into alternating kept / reduced blocks. The innermost block is summed with a
/// vectorised span sum (reduced) or accumulated row by row (kept). Threads split only kept outer
/// blocks, and each output is summed in one fixed order, so the result never depends on the thread count.
/// </summary>
internal static class Reduce
{
    public static void SumTo<T>(T[] x, int[] xShape, T[] y, int[] yShape) where T : unmanaged, INumber<T>
    {
        var outN = ShapeUtil.Numel(yShape);
        y.AsSpan(0, outN).Clear();
        var n = ShapeUtil.Numel(xShape);
        if (n == 0)
        {
            return;
        }
        // Pattern over x dims: reduced when y has 1 there (after right alignment) and x does not.
        var rank = xShape.Length;
        var off = rank - yShape.Length;
        var sizes = new List<int>();
        var reduced = new List<bool>();
        for (var i = 0; i < rank; i++)
        {
            if (xShape[i] == 1)
            {
                continue;
            }
            var red = i < off || yShape[i - off] == 1;
            if (sizes.Count > 0 && reduced[^1] == red)
            {
                sizes[^1] *= xShape[i];
            }
            else
            {
                sizes.Add(xShape[i]);
                reduced.Add(red);
            }
        }
        if (sizes.Count == 0)
        {
            y[0] = x[0];
            return;
        }
        // Blocks from the outside: block b has sizes[b]; x stride of a block = product of inner sizes.
        var nb = sizes.Count;
        var xStride = new long[nb];
        var yStride = new long[nb];
        long xs = 1, ys = 1;
        for (var b = nb - 1; b >= 0; b--)
        {
            xStride[b] = xs;
            yStride[b] = reduced[b] ? 0 : ys;
            xs *= sizes[b];
            if (!reduced[b])
            {
                ys *= sizes[b];
            }
        }

        // Parallelise over the outermost kept block when it is outermost; otherwise run serially.
        if (!reduced[0] && nb > 1 && n >= 1 << 16)
        {
            CpuParallel.For(sizes[0], 1, (s, e) =>
            {
                for (var i = s; i < e; i++)
                {
                    Walk(x, y, sizes, reduced, xStride, yStride, 1, i * xStride[0], i * yStride[0]);
                }
            });
        }
        else
        {
            Walk(x, y, sizes, reduced, xStride, yStride, 0, 0, 0);
        }
    }

    private static void Walk<T>(T[] x, T[] y, List<int> sizes, List<bool> reduced, long[] xStride, long[] yStride, int b, long ox, long oy)
        where T : unmanaged, INumber<T>
    {
        var last = sizes.Count - 1;
        if (b == last)
        {
            var len = sizes[b];
            if (reduced[b])
            {
                y[oy] += SumSpan<T>(x.AsSpan((int)ox, len));
            }
            else
            {
                var dst = y.AsSpan((int)oy, len);
                AddSpan<T>(x.AsSpan((int)ox, len), dst, dst);
            }
            return;
        }
        for (var i = 0; i < sizes[b]; i++)
        {
            Walk(x, y, sizes, reduced, xStride, yStride, b + 1, ox + (i * xStride[b]), oy + (i * yStride[b]));
        }
    }

    private static T SumSpan<T>(ReadOnlySpan<T> s) where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float))
        {
            return (T)(object)TensorPrimitives.Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(s));
        }
        if (typeof(T) == typeof(double))
        {
            return (T)(object)TensorPrimitives.Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(s));
        }
        var acc = T.Zero;
        foreach (var v in s)
        {
            acc += v;
        }
        return acc;
    }

    private static void AddSpan<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float))
        {
            TensorPrimitives.Add(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(a), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(b), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(d));
            return;
        }
        if (typeof(T) == typeof(double))
        {
            TensorPrimitives.Add(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(a), System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(b), System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(d));
            return;
        }
        for (var i = 0; i < a.Length; i++)
        {
            d[i] = a[i] + b[i];
        }
    }

    /// <summary>Index of the largest value along the middle dim of (outer, d, inner); the first NaN wins, as in PyTorch.</summary>
    public static void ArgMax<T>(T[] x, int outer, int d, int inner, int[] result) where T : unmanaged, INumber<T>
    {
        for (var o = 0; o < outer; o++)
        {
            for (var i = 0; i < inner; i++)
            {
                var baseIx = ((long)o * d * inner) + i;
                var best = 0;
                var bestV = x[baseIx];
                if (!T.IsNaN(bestV))
                {
                    for (var j = 1; j < d; j++)
                    {
                        var v = x[baseIx + ((long)j * inner)];
                        if (T.IsNaN(v))
                        {
                            best = j;
                            break;
                        }
                        if (v > bestV)
                        {
                            bestV = v;
                            best = j;
                        }
                    }
                }
                result[(o * inner) + i] = best;
            }
        }
    }
}
