using System.Text;

namespace Rebalance.Tensors;

/// <summary>Shape arithmetic shared by the ops: element counts, strides, broadcasting, dim checks.</summary>
internal static class ShapeUtil
{
    public static int Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"negative dimension {d} in shape {Format(shape)}");
            }
            n *= d;
            if (n > int.MaxValue)
            {
                throw new ArgumentException($"shape {Format(shape)} has more than {int.MaxValue} elements");
            }
        }
        return (int)n;
    }

    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        var acc = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    public static string Format(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (var i = 0; i < shape.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>NumPy broadcasting of two shapes; throws naming the op and both shapes.</summary>
    public static int[] Broadcast(string op, int[] a, int[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            var db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
            {
                throw new ArgumentException($"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast together (dimension {i}: {da} vs {db})");
            }
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>Normalises a possibly negative dimension index.</summary>
    public static int Dim(string op, int dim, int rank)
    {
        var d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= Math.Max(rank, 1))
        {
            throw new ArgumentException($"{op}: dimension {dim} is out of range for a tensor of rank {rank}");
        }
        return d;
    }

    /// <summary>Strides of <paramref name="shape"/> aligned right to the rank of <paramref name="outShape"/>, 0 where broadcast.</summary>
    public static int[] BroadcastStrides(int[] shape, int[] outShape)
    {
        var rank = outShape.Length;
        var st = Strides(shape);
        var r = new int[rank];
        var off = rank - shape.Length;
        for (var i = 0; i < shape.Length; i++)
        {
            r[i + off] = shape[i] == 1 && outShape[i + off] != 1 ? 0 : st[i];
        }
        return r;
    }
}
