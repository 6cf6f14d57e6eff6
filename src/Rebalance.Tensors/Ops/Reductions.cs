using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>Sums, means, variances, maxima along dimensions.</summary>
public sealed partial class Tensor
{
    private int[] ReducedShape(string op, int[]? dims, out int[] keepShape, out int count)
    {
        keepShape = (int[])_shape.Clone();
        count = 1;
        var marked = new bool[Rank];
        if (dims is null || dims.Length == 0)
        {
            System.Array.Fill(marked, true);
        }
        else
        {
            foreach (var d0 in dims)
            {
                var d = ShapeUtil.Dim(op, d0, Rank);
                if (marked[d])
                {
                    throw new ArgumentException($"{op}: dimension {d0} appears twice");
                }
                marked[d] = true;
            }
        }
        var squeezed = new List<int>();
        for (var i = 0; i < Rank; i++)
        {
            if (marked[i])
            {
                count *= _shape[i];
                keepShape[i] = 1;
            }
            else
            {
                squeezed.Add(_shape[i]);
            }
        }
        return [.. squeezed];
    }

    /// <summary>Sum over the given dims (all when none).</summary>
    public Tensor Sum(int[]? dims = null, bool keepDim = false)
    {
        var squeezed = ReducedShape("sum", dims, out var keep, out _);
        var y = SumTo(keep);
        return keepDim ? y : y.Reshape(squeezed);
    }

    /// <summary>Sum over one dim.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => Sum([dim], keepDim);

    /// <summary>Mean over the given dims (all when none).</summary>
    public Tensor Mean(int[]? dims = null, bool keepDim = false)
    {
        ReducedShape("mean", dims, out _, out var count);
        return Sum(dims, keepDim) * (1.0 / count);
    }

    /// <summary>Mean over one dim.</summary>
    public Tensor Mean(int dim, bool keepDim = false) => Mean([dim], keepDim);

    /// <summary>Variance over the given dims (all when none); unbiased (divides by n - 1) by default, as in PyTorch.</summary>
    public Tensor Var(int[]? dims = null, bool unbiased = true, bool keepDim = false)
    {
        ReducedShape("var", dims, out _, out var count);
        var centred = this - Mean(dims, keepDim: true);
        var ss = (centred * centred).Sum(dims, keepDim);
        return ss * (1.0 / Math.Max(unbiased ? count - 1 : count, 0));
    }

    /// <summary>Variance over one dim.</summary>
    public Tensor Var(int dim, bool unbiased = true, bool keepDim = false) => Var([dim], unbiased, keepDim);

    /// <summary>Index of the largest value along a dim, as int32 (the first NaN counts as largest).</summary>
    public Tensor ArgMax(int dim, bool keepDim = false)
    {
        CheckFloating("argmax");
        var d = ShapeUtil.Dim("argmax", dim, Rank);
        if (_shape[d] == 0)
        {
            throw new ArgumentException($"argmax: dimension {dim} of shape {ShapeUtil.Format(_shape)} is empty");
        }
        var (outer, inner) = OuterInner(d);
        var result = new int[outer * inner];
        if (DType == DType.Float32)
        {
            Reduce.ArgMax(Array<float>(), outer, _shape[d], inner, result);
        }
        else
        {
            Reduce.ArgMax(Array<double>(), outer, _shape[d], inner, result);
        }
        var keep = (int[])_shape.Clone();
        keep[d] = 1;
        var t = FromArray(result, keep);
        return keepDim ? t : t.Squeeze(d);
    }

    /// <summary>Index of the largest value of the flattened tensor.</summary>
    public int ArgMax() => Reshape(-1).ArgMax(0).ToIntArray()[0];

    /// <summary>Largest value along a dim; the gradient goes to the (first) arg-max.</summary>
    public Tensor Max(int dim, bool keepDim = false)
    {
        var d = ShapeUtil.Dim("max", dim, Rank);
        var idx = ArgMax(d, keepDim: true);
        var y = Gather(d, idx);
        return keepDim ? y : y.Squeeze(d);
    }

    /// <summary>Largest value of the whole tensor.</summary>
    public Tensor Max() => Reshape(-1).Max(0);

    /// <summary>Smallest value along a dim.</summary>
    public Tensor Min(int dim, bool keepDim = false) => -(-this).Max(dim, keepDim);

    /// <summary>log(sum(exp(x))) along dims, computed stably by shifting with the (detached) maximum.</summary>
    public Tensor LogSumExp(int[] dims, bool keepDim = false)
    {
        Tensor m;
        using (GradMode.NoGrad())
        {
            m = this;
            foreach (var d in dims.Select(d => ShapeUtil.Dim("logsumexp", d, Rank)).OrderByDescending(d => d))
            {
                m = m.Max(d, keepDim: true);
            }
            // An all -inf slice would give inf - inf; shift by 0 there instead.
            m = Where(Eq(Abs(m), double.PositiveInfinity), ZerosLike(m), m);
        }
        var s = Exp(this - m).Sum(dims, keepDim: true);
        var y = Log(s) + m;
        return keepDim ? y : y.Reshape(ReducedShape("logsumexp", dims, out _, out _));
    }

    /// <summary>log(sum(exp(x))) along one dim.</summary>
    public Tensor LogSumExp(int dim, bool keepDim = false) => LogSumExp([dim], keepDim);

    internal (int Outer, int Inner) OuterInner(int d)
    {
        var outer = 1;
        for (var i = 0; i < d; i++)
        {
            outer *= _shape[i];
        }
        var inner = 1;
        for (var i = d + 1; i < Rank; i++)
        {
            inner *= _shape[i];
        }
        return (outer, inner);
    }
}
