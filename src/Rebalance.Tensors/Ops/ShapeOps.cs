using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>Reshaping, permuting, broadcasting, joining and cutting.</summary>
public sealed partial class Tensor
{
    /// <summary>The same storage seen with another shape; one dimension may be -1 (inferred).</summary>
    public Tensor Reshape(params int[] shape)
    {
        var s = (int[])shape.Clone();
        var infer = -1;
        long known = 1;
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == -1)
            {
                if (infer >= 0)
                {
                    throw new ArgumentException($"reshape: only one dimension can be -1 in {ShapeUtil.Format(shape)}");
                }
                infer = i;
            }
            else if (s[i] < 0)
            {
                throw new ArgumentException($"reshape: invalid dimension {s[i]} in {ShapeUtil.Format(shape)}");
            }
            else
            {
                known *= s[i];
            }
        }
        if (infer >= 0)
        {
            if (known == 0 || Numel % known != 0)
            {
                throw new ArgumentException($"reshape: cannot reshape {ShapeUtil.Format(_shape)} ({Numel} elements) into {ShapeUtil.Format(shape)}");
            }
            s[infer] = (int)(Numel / known);
            known *= s[infer];
        }
        if (known != Numel)
        {
            throw new ArgumentException($"reshape: cannot reshape {ShapeUtil.Format(_shape)} ({Numel} elements) into {ShapeUtil.Format(shape)}");
        }
        var y = new Tensor(this, s);
        var from = _shape;
        Record(y, "ReshapeBackward", [this], g => [g.Reshape(from)]);
        return y;
    }

    /// <summary>Same as <see cref="Reshape"/>: tensors here are always contiguous.</summary>
    public Tensor View(params int[] shape) => Reshape(shape);

    /// <summary>Collapses dims startDim..endDim into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Rank == 0)
        {
            return Reshape(1);
        }
        var s = ShapeUtil.Dim("flatten", startDim, Rank);
        var e = ShapeUtil.Dim("flatten", endDim, Rank);
        if (s > e)
        {
            throw new ArgumentException($"flatten: start dim {startDim} comes after end dim {endDim} for shape {ShapeUtil.Format(_shape)}");
        }
        var shape = new List<int>();
        for (var i = 0; i < s; i++)
        {
            shape.Add(_shape[i]);
        }
        var m = 1;
        for (var i = s; i <= e; i++)
        {
            m *= _shape[i];
        }
        shape.Add(m);
        for (var i = e + 1; i < Rank; i++)
        {
            shape.Add(_shape[i]);
        }
        return Reshape([.. shape]);
    }

    /// <summary>Removes a dimension of size 1 (all of them when dim is null).</summary>
    public Tensor Squeeze(int? dim = null)
    {
        if (dim is { } d0)
        {
            var d = ShapeUtil.Dim("squeeze", d0, Rank);
            if (_shape[d] != 1)
            {
                return this;
            }
            return Reshape([.. _shape.Where((_, i) => i != d)]);
        }
        return Reshape([.. _shape.Where(v => v != 1)]);
    }

    /// <summary>Inserts a dimension of size 1 at <paramref name="dim"/>.</summary>
    public Tensor Unsqueeze(int dim)
    {
        var d = dim < 0 ? dim + Rank + 1 : dim;
        if (d < 0 || d > Rank)
        {
            throw new ArgumentException($"unsqueeze: dimension {dim} is out of range for a tensor of rank {Rank}");
        }
        var s = new List<int>(_shape);
        s.Insert(d, 1);
        return Reshape([.. s]);
    }

    /// <summary>Reorders dimensions (copies).</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank)
        {
            throw new ArgumentException($"permute: {dims.Length} dims given for a tensor of shape {ShapeUtil.Format(_shape)}");
        }
        var perm = new int[Rank];
        var seen = new bool[Rank];
        for (var i = 0; i < Rank; i++)
        {
            perm[i] = ShapeUtil.Dim("permute", dims[i], Rank);
            if (seen[perm[i]])
            {
                throw new ArgumentException($"permute: dimension {dims[i]} repeats in {ShapeUtil.Format(dims)}");
            }
            seen[perm[i]] = true;
        }
        var outShape = new int[Rank];
        var inverse = new int[Rank];
        for (var i = 0; i < Rank; i++)
        {
            outShape[i] = _shape[perm[i]];
            inverse[perm[i]] = i;
        }
        var y = Empty(outShape, DType);
        switch (DType)
        {
            case DType.Float32: Copy.Permute(Array<float>(), _shape, perm, y.Array<float>()); break;
            case DType.Float64: Copy.Permute(Array<double>(), _shape, perm, y.Array<double>()); break;
            default: Copy.Permute(Array<int>(), _shape, perm, y.Array<int>()); break;
        }
        Record(y, "PermuteBackward", [this], g => [g.Permute(inverse)]);
        return y;
    }

    /// <summary>Swaps two dimensions (copies).</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        var perm = Enumerable.Range(0, Rank).ToArray();
        var a = ShapeUtil.Dim("transpose", dim0, Rank);
        var b = ShapeUtil.Dim("transpose", dim1, Rank);
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(perm);
    }

    /// <summary>Transpose of a matrix.</summary>
    public Tensor T()
    {
        if (Rank != 2)
        {
            throw new ArgumentException($"T: expected a matrix, got shape {ShapeUtil.Format(_shape)}");
        }
        return Transpose(0, 1);
    }

    /// <summary>Broadcasts to a larger shape (copies). The gradient sums back over the broadcast dims.</summary>
    public Tensor Expand(params int[] shape)
    {
        var target = ShapeUtil.Broadcast("expand", _shape, shape);
        if (!ShapeUtil.SameShape(target, shape))
        {
            throw new ArgumentException($"expand: shape {ShapeUtil.Format(_shape)} cannot be expanded to {ShapeUtil.Format(shape)}");
        }
        if (ShapeUtil.SameShape(_shape, shape))
        {
            return this;
        }
        var y = ExpandData(shape);
        var from = _shape;
        Record(y, "ExpandBackward", [this], g => [g.SumTo(from)]);
        return y;
    }

    /// <summary>The broadcast copy without recording (this tensor when the shape already matches).</summary>
    internal Tensor ExpandData(int[] shape)
    {
        if (ShapeUtil.SameShape(_shape, shape))
        {
            return this;
        }
        var y = Empty((int[])shape.Clone(), DType);
        var strides = ShapeUtil.BroadcastStrides(_shape, shape);
        switch (DType)
        {
            case DType.Float32: Copy.StridedCopy(Array<float>(), 0, shape, strides, y.Array<float>()); break;
            case DType.Float64: Copy.StridedCopy(Array<double>(), 0, shape, strides, y.Array<double>()); break;
            default: Copy.StridedCopy(Array<int>(), 0, shape, strides, y.Array<int>()); break;
        }
        return y;
    }

    /// <summary>Sums over broadcast dimensions so the result has <paramref name="shape"/> (the adjoint of <see cref="Expand"/>).</summary>
    public Tensor SumTo(int[] shape)
    {
        if (ShapeUtil.SameShape(_shape, shape))
        {
            return this;
        }
        var check = ShapeUtil.Broadcast("sum_to", shape, _shape);
        if (!ShapeUtil.SameShape(check, _shape))
        {
            throw new ArgumentException($"sum_to: shape {ShapeUtil.Format(_shape)} cannot be summed to {ShapeUtil.Format(shape)}");
        }
        CheckFloating("sum_to");
        var y = Empty((int[])shape.Clone(), DType);
        if (DType == DType.Float32)
        {
            Reduce.SumTo(Array<float>(), _shape, y.Array<float>(), y._shape);
        }
        else
        {
            Reduce.SumTo(Array<double>(), _shape, y.Array<double>(), y._shape);
        }
        var from = _shape;
        Record(y, "SumToBackward", [this], g => [g.Expand(from)]);
        return y;
    }

    /// <summary>Joins tensors along an existing dimension.</summary>
    public static Tensor Concat(Tensor[] tensors, int dim = 0)
    {
        if (tensors.Length == 0)
        {
            throw new ArgumentException("concat: no tensors given");
        }
        var first = tensors[0];
        var d = ShapeUtil.Dim("concat", dim, first.Rank);
        var total = 0;
        foreach (var t in tensors)
        {
            CheckSameDType("concat", first, t);
            if (t.Rank != first.Rank)
            {
                throw new ArgumentException($"concat: shapes {ShapeUtil.Format(first._shape)} and {ShapeUtil.Format(t._shape)} differ in rank");
            }
            for (var i = 0; i < t.Rank; i++)
            {
                if (i != d && t._shape[i] != first._shape[i])
                {
                    throw new ArgumentException($"concat: shapes {ShapeUtil.Format(first._shape)} and {ShapeUtil.Format(t._shape)} differ outside dimension {d}");
                }
            }
            total += t._shape[d];
        }
        var outShape = (int[])first._shape.Clone();
        outShape[d] = total;
        var y = Empty(outShape, first.DType);
        var outer = 1;
        for (var i = 0; i < d; i++)
        {
            outer *= outShape[i];
        }
        var inner = 1;
        for (var i = d + 1; i < outShape.Length; i++)
        {
            inner *= outShape[i];
        }
        var offset = 0;
        foreach (var t in tensors)
        {
            var block = t._shape[d] * inner;
            for (var o = 0; o < outer; o++)
            {
                System.Array.Copy(t.Data, o * block, y.Data, (o * total * inner) + offset, block);
            }
            offset += block;
        }
        Record(y, "ConcatBackward", tensors, g =>
        {
            var grads = new Tensor?[tensors.Length];
            var start = 0;
            for (var i = 0; i < tensors.Length; i++)
            {
                var len = tensors[i]._shape[d];
                grads[i] = tensors[i]._requiresGrad ? g.Slice(d, start, start + len) : null;
                start += len;
            }
            return grads;
        });
        return y;
    }

    /// <summary>Joins tensors of one shape along a new dimension.</summary>
    public static Tensor Stack(Tensor[] tensors, int dim = 0)
    {
        if (tensors.Length == 0)
        {
            throw new ArgumentException("stack: no tensors given");
        }
        foreach (var t in tensors)
        {
            if (!ShapeUtil.SameShape(t._shape, tensors[0]._shape))
            {
                throw new ArgumentException($"stack: shapes {ShapeUtil.Format(tensors[0]._shape)} and {ShapeUtil.Format(t._shape)} differ");
            }
        }
        return Concat([.. tensors.Select(t => t.Unsqueeze(dim))], dim);
    }

    /// <summary>Cuts into pieces of <paramref name="splitSize"/> along a dimension (the last may be shorter).</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        if (splitSize <= 0)
        {
            throw new ArgumentException($"split: size must be positive, got {splitSize}");
        }
        var d = ShapeUtil.Dim("split", dim, Rank);
        var parts = new List<Tensor>();
        for (var s = 0; s < _shape[d]; s += splitSize)
        {
            parts.Add(Slice(d, s, Math.Min(s + splitSize, _shape[d])));
        }
        return [.. parts];
    }

    /// <summary>Cuts into pieces of the given sizes along a dimension; the sizes must add up to its length.</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        var d = ShapeUtil.Dim("split", dim, Rank);
        if (sizes.Sum() != _shape[d] || sizes.Any(s => s < 0))
        {
            throw new ArgumentException($"split: sizes {ShapeUtil.Format(sizes)} do not add up to dimension {d} of shape {ShapeUtil.Format(_shape)}");
        }
        var parts = new Tensor[sizes.Length];
        var start = 0;
        for (var i = 0; i < sizes.Length; i++)
        {
            parts[i] = Slice(d, start, start + sizes[i]);
            start += sizes[i];
        }
        return parts;
    }

    /// <summary>Elements start, start+step, ... below end along one dimension (copies). Negative bounds count from the end.</summary>
    public Tensor Slice(int dim, int start, int end, int step = 1)
    {
        var d = ShapeUtil.Dim("slice", dim, Rank);
        var len = _shape[d];
        if (step <= 0)
        {
            throw new ArgumentException($"slice: step must be positive, got {step}");
        }
        var s = Math.Clamp(start < 0 ? start + len : start, 0, len);
        var e = Math.Clamp(end < 0 ? end + len : end, 0, len);
        var count = Math.Max(0, (e - s + step - 1) / step);
        var outShape = (int[])_shape.Clone();
        outShape[d] = count;
        var strides = ShapeUtil.Strides(_shape);
        var src = (int[])strides.Clone();
        src[d] = strides[d] * step;
        var y = Empty(outShape, DType);
        long baseOffset = (long)s * strides[d];
        switch (DType)
        {
            case DType.Float32: Copy.StridedCopy(Array<float>(), baseOffset, outShape, src, y.Array<float>()); break;
            case DType.Float64: Copy.StridedCopy(Array<double>(), baseOffset, outShape, src, y.Array<double>()); break;
            default: Copy.StridedCopy(Array<int>(), baseOffset, outShape, src, y.Array<int>()); break;
        }
        var from = _shape;
        Record(y, "SliceBackward", [this], g => [SliceAdjoint(g, from, d, s, step)]);
        return y;
    }

    /// <summary>Places g into zeros of the source shape at the sliced positions (the adjoint of <see cref="Slice"/>).</summary>
    private static Tensor SliceAdjoint(Tensor g, int[] shape, int d, int start, int step)
    {
        var y = Zeros(shape, g.DType);
        var idx = SliceIndex(shape, d, start, step, g._shape[d]);
        for (var i = 0; i < idx.Length; i++)
        {
            y.SetFlat(idx[i], g.GetFlat(i));
        }
        var end = start + (g._shape[d] * step);
        Record(y, "SliceAdjointBackward", [g], gg => [gg.Slice(d, start, end, step)]);
        return y;
    }

    private static int[] SliceIndex(int[] shape, int d, int start, int step, int count)
    {
        var outShape = (int[])shape.Clone();
        outShape[d] = count;
        var strides = ShapeUtil.Strides(shape);
        var n = ShapeUtil.Numel(outShape);
        var r = new int[n];
        var os = ShapeUtil.Strides(outShape);
        for (var i = 0; i < n; i++)
        {
            var off = 0;
            var rem = i;
            for (var k = 0; k < shape.Length; k++)
            {
                var ix = rem / os[k];
                rem %= os[k];
                off += (k == d ? start + (ix * step) : ix) * strides[k];
            }
            r[i] = off;
        }
        return r;
    }
}
