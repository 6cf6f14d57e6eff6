using System.Numerics;

namespace Rebalance.Tensors.Kernels;

/// <summary>y = f(x, y) over two spans of equal length.</summary>
internal delegate void SpanBinary<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination);

/// <summary>y = f(x, scalar).</summary>
internal delegate void SpanScalarRight<T>(ReadOnlySpan<T> x, T y, Span<T> destination);

/// <summary>y = f(scalar, x).</summary>
internal delegate void SpanScalarLeft<T>(T x, ReadOnlySpan<T> y, Span<T> destination);

/// <summary>y = f(x).</summary>
internal delegate void SpanUnary<T>(ReadOnlySpan<T> x, Span<T> destination);

/// <summary>The three forms of one binary operation, so broadcasting can pick the right one per row.</summary>
internal sealed record BinaryKernel<T>(SpanBinary<T> VV, SpanScalarRight<T> VS, SpanScalarLeft<T> SV);

/// <summary>
/// Elementwise loops. Broadcast operands are walked row by row over the innermost coalesced dimension,
/// where each operand is either contiguous (stride 1) or a repeated scalar (stride 0), so every row is
/// one call of a vectorised span kernel. Rows are split across threads; no reduction happens here,
/// so the split never changes a result.
/// </summary>
internal static class Elementwise
{
    private const int MinParallel = 1 << 15;

    public static void Map<T>(ReadOnlySpan<T> x, Span<T> y, SpanUnary<T> f) where T : unmanaged
    {
        if (x.IsEmpty)
        {
            return;
        }
        if (x.Length < 2 * MinParallel || Engine.NumThreads == 1)
        {
            f(x, y);
            return;
        }
        unsafe
        {
            fixed (T* px = x, py = y)
            {
                var ax = (nint)px;
                var ay = (nint)py;
                CpuParallel.For(x.Length, MinParallel, (s, e) => f(new ReadOnlySpan<T>((T*)ax + s, e - s), new Span<T>((T*)ay + s, e - s)));
            }
        }
    }

    /// <summary>y = f(a, b) with NumPy broadcasting; y has the broadcast shape.</summary>
    public static void Binary<T>(T[] a, int[] aShape, T[] b, int[] bShape, T[] y, int[] outShape, BinaryKernel<T> k) where T : unmanaged
    {
        var n = ShapeUtil.Numel(outShape);
        if (n == 0)
        {
            return;
        }
        var sa = ShapeUtil.BroadcastStrides(aShape, outShape);
        var sb = ShapeUtil.BroadcastStrides(bShape, outShape);
        var (dims, ta, tb) = Coalesce(outShape, sa, sb);
        var rank = dims.Length;
        var inner = dims[rank - 1];
        var ia = ta[rank - 1];
        var ib = tb[rank - 1];
        var rows = n / inner;
        if (rows == 1 && ia == 1 && ib == 1)
        {
            var aa = a;
            var bb = b;
            Map2(aa.AsSpan(0, n), bb.AsSpan(0, n), y.AsSpan(0, n), k.VV);
            return;
        }
        CpuParallel.For(rows, Math.Max(1, MinParallel / inner), (r0, r1) =>
        {
            for (var r = r0; r < r1; r++)
            {
                // Offsets of row r in a and b from its multi-index over the outer dims.
                long oa = 0, ob = 0;
                var rem = r;
                for (var d = rank - 2; d >= 0; d--)
                {
                    var i = rem % dims[d];
                    rem /= dims[d];
                    oa += (long)i * ta[d];
                    ob += (long)i * tb[d];
                }
                var dst = y.AsSpan(r * inner, inner);
                if (ia == 1 && ib == 1)
                {
                    k.VV(a.AsSpan((int)oa, inner), b.AsSpan((int)ob, inner), dst);
                }
                else if (ia == 1)
                {
                    k.VS(a.AsSpan((int)oa, inner), b[ob], dst);
                }
                else if (ib == 1)
                {
                    k.SV(a[oa], b.AsSpan((int)ob, inner), dst);
                }
                else
                {
                    k.VS(a.AsSpan((int)oa, 1), b[ob], dst[..1]);
                    dst.Fill(dst[0]);
                }
            }
        });
    }

    private static void Map2<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y, SpanBinary<T> f) where T : unmanaged
    {
        if (a.IsEmpty)
        {
            return;
        }
        if (a.Length < 2 * MinParallel || Engine.NumThreads == 1)
        {
            f(a, b, y);
            return;
        }
        unsafe
        {
            fixed (T* pa = a, pb = b, py = y)
            {
                var xa = (nint)pa;
                var xb = (nint)pb;
                var xy = (nint)py;
                CpuParallel.For(a.Length, MinParallel, (s, e) => f(new ReadOnlySpan<T>((T*)xa + s, e - s), new ReadOnlySpan<T>((T*)xb + s, e - s), new Span<T>((T*)xy + s, e - s)));
            }
        }
    }

    /// <summary>
    /// Drops size-1 dims and merges neighbours that are contiguous in every operand
    /// (stride[i] == stride[i+1] * size[i+1], which also holds for two broadcast strides of 0).
    /// </summary>
    internal static (int[] Dims, int[] StridesA, int[] StridesB) Coalesce(int[] shape, int[] sa, int[] sb)
    {
        var dims = new List<int>();
        var la = new List<int>();
        var lb = new List<int>();
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 1)
            {
                continue;
            }
            var last = dims.Count - 1;
            if (last >= 0 && la[last] == sa[i] * shape[i] && lb[last] == sb[i] * shape[i])
            {
                dims[last] *= shape[i];
                la[last] = sa[i];
                lb[last] = sb[i];
            }
            else
            {
                dims.Add(shape[i]);
                la.Add(sa[i]);
                lb.Add(sb[i]);
            }
        }
        if (dims.Count == 0)
        {
            dims.Add(1);
            la.Add(1);
            lb.Add(1);
        }
        // A broadcast inner dim keeps stride 0; any other inner stride is 1 for contiguous operands.
        return ([.. dims], [.. la], [.. lb]);
    }

    /// <summary>Writes 1 where pred(a, b) holds, else 0, with broadcasting.</summary>
    public static void Compare<T>(T[] a, int[] aShape, T[] b, int[] bShape, T[] y, int[] outShape, Func<T, T, bool> pred) where T : unmanaged, INumber<T>
    {
        var n = ShapeUtil.Numel(outShape);
        var sa = ShapeUtil.BroadcastStrides(aShape, outShape);
        var sb = ShapeUtil.BroadcastStrides(bShape, outShape);
        var rank = outShape.Length;
        var idx = new int[rank];
        long oa = 0, ob = 0;
        for (var i = 0; i < n; i++)
        {
            y[i] = pred(a[oa], b[ob]) ? T.One : T.Zero;
            for (var d = rank - 1; d >= 0; d--)
            {
                idx[d]++;
                oa += sa[d];
                ob += sb[d];
                if (idx[d] < outShape[d])
                {
                    break;
                }
                oa -= (long)sa[d] * outShape[d];
                ob -= (long)sb[d] * outShape[d];
                idx[d] = 0;
            }
        }
    }
}
