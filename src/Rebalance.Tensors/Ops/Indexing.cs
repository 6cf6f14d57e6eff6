using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>Selection by index. Everything here is built on one pair of primitives, Take (gather by
/// flat index) and its adjoint ScatterAdd, each the other's backward, so second derivatives work.</summary>
public sealed partial class Tensor
{
    /// <summary>y[i] = x.flat[index[i]], shaped <paramref name="shape"/>.</summary>
    internal static Tensor Take(Tensor x, int[] index, int[] shape)
    {
        var y = Empty(shape, x.DType);
        switch (x.DType)
        {
            case DType.Float32: Copy.Take(x.Array<float>(), index, y.Array<float>()); break;
            case DType.Float64: Copy.Take(x.Array<double>(), index, y.Array<double>()); break;
            default: Copy.Take(x.Array<int>(), index, y.Array<int>()); break;
        }
        var from = x._shape;
        Record(y, "TakeBackward", [x], g => [ScatterAdd(g, index, from)]);
        return y;
    }

    /// <summary>Zeros of <paramref name="shape"/> with g[i] added at flat position index[i] (the adjoint of Take).</summary>
    internal static Tensor ScatterAdd(Tensor g, int[] index, int[] shape)
    {
        var y = Empty((int[])shape.Clone(), g.DType);
        if (g.DType == DType.Float32)
        {
            Copy.ScatterAdd(g.Array<float>(), index, y.Array<float>(), y.Numel);
        }
        else
        {
            Copy.ScatterAdd(g.Array<double>(), index, y.Array<double>(), y.Numel);
        }
        var gShape = g._shape;
        Record(y, "ScatterAddBackward", [g], gg => [Take(gg, index, gShape)]);
        return y;
    }

    /// <summary>Entries along <paramref name="dim"/> at the positions in the int32 vector <paramref name="index"/>.</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        var d = ShapeUtil.Dim("index_select", dim, Rank);
        if (index.DType != DType.Int32 || index.Rank != 1)
        {
            throw new ArgumentException($"index_select: index must be a 1-D int32 tensor, got {index.DType.Name()} of shape {ShapeUtil.Format(index._shape)}");
        }
        var ix = index.Span<int>();
        var (outer, inner) = OuterInner(d);
        var len = _shape[d];
        foreach (var i in ix)
        {
            if ((uint)i >= (uint)len)
            {
                throw new ArgumentException($"index_select: index {i} is out of range for dimension {d} of size {len}");
            }
        }
        var flat = new int[outer * ix.Length * inner];
        var p = 0;
        for (var o = 0; o < outer; o++)
        {
            foreach (var i in ix)
            {
                var b = ((o * len) + i) * inner;
                for (var k = 0; k < inner; k++)
                {
                    flat[p++] = b + k;
                }
            }
        }
        var shape = (int[])_shape.Clone();
        shape[d] = ix.Length;
        return Take(this, flat, shape);
    }

    /// <summary>y[i][j][k] = x[index[i][j][k]][j][k] for dim 0, and so on: PyTorch's gather with an int32 index of the same rank.</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        var d = ShapeUtil.Dim("gather", dim, Rank);
        if (index.DType != DType.Int32 || index.Rank != Rank)
        {
            throw new ArgumentException($"gather: index must be an int32 tensor of rank {Rank}, got {index.DType.Name()} of shape {ShapeUtil.Format(index._shape)}");
        }
        for (var i = 0; i < Rank; i++)
        {
            if (i != d && index._shape[i] > _shape[i])
            {
                throw new ArgumentException($"gather: index shape {ShapeUtil.Format(index._shape)} exceeds input shape {ShapeUtil.Format(_shape)} in dimension {i}");
            }
        }
        var ix = index.Span<int>();
        var strides = ShapeUtil.Strides(_shape);
        var istr = ShapeUtil.Strides(index._shape);
        var flat = new int[ix.Length];
        for (var n = 0; n < ix.Length; n++)
        {
            var rem = n;
            var off = 0;
            for (var k = 0; k < Rank; k++)
            {
                var c = rem / istr[k];
                rem %= istr[k];
                if (k == d)
                {
                    c = ix[n];
                    if ((uint)c >= (uint)_shape[d])
                    {
                        throw new ArgumentException($"gather: index {c} is out of range for dimension {d} of size {_shape[d]}");
                    }
                }
                off += c * strides[k];
            }
            flat[n] = off;
        }
        return Take(this, flat, (int[])index._shape.Clone());
    }

    /// <summary>One-hot rows of length <paramref name="numClasses"/> for an int32 tensor of labels, in <paramref name="dtype"/>.</summary>
    public static Tensor OneHot(Tensor labels, int numClasses, DType dtype = DType.Float32)
    {
        if (labels.DType != DType.Int32)
        {
            throw new ArgumentException($"one_hot: labels must be int32, got {labels.DType.Name()}");
        }
        var shape = labels._shape.Append(numClasses).ToArray();
        var y = Zeros(shape, dtype);
        var l = labels.Span<int>();
        for (var i = 0; i < l.Length; i++)
        {
            if ((uint)l[i] >= (uint)numClasses)
            {
                throw new ArgumentException($"one_hot: label {l[i]} at position {i} is outside [0, {numClasses})");
            }
            y.SetFlat((i * numClasses) + l[i], 1);
        }
        return y;
    }
}
