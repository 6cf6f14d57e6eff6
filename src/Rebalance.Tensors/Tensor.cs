using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text;

namespace Rebalance.Tensors;

/// <summary>
/// A dense, contiguous, row-major n-dimensional array with reverse-mode autograd.
/// Ops never modify their inputs; <see cref="Reshape"/> of a tensor shares its storage, every other
/// op returns a new tensor. Images are NCHW.
/// </summary>
public sealed partial class Tensor
{
    private readonly int[] _shape;
    private bool _requiresGrad;

    private Array? _data;
    private readonly Tensor? _base;

    /// <summary>A tensor owning <paramref name="data"/>; it belongs to the current <see cref="TensorScope"/>, if any.</summary>
    internal Tensor(Array data, int[] shape, DType dtype)
    {
        _shape = shape;
        _data = data;
        DType = dtype;
        Numel = ShapeUtil.Numel(shape);
        TensorScope.Current?.Adopt(this);
    }

    /// <summary>A view sharing the storage of <paramref name="of"/> (same number of elements).</summary>
    internal Tensor(Tensor of, int[] shape)
    {
        _shape = shape;
        _base = of.StorageOwner;
        DType = of.DType;
        Numel = ShapeUtil.Numel(shape);
    }

    /// <summary>The storage (float[], double[] or int[]); may be longer than <see cref="Numel"/>.</summary>
    internal Array Data => _base is null ? (_data ?? throw Released()) : _base.Data;

    /// <summary>The tensor that owns this tensor's storage (itself unless it is a view).</summary>
    internal Tensor StorageOwner => _base ?? this;

    /// <summary>The scope that will release this tensor's storage (owners only).</summary>
    internal TensorScope? Scope { get; set; }

    /// <summary>True once the scope that owned the storage has ended.</summary>
    public bool IsReleased => StorageOwner._data is null;

    internal Array? Release()
    {
        var d = _data;
        _data = null;
        return d;
    }

    private InvalidOperationException Released() => new($"tensor of shape {ShapeUtil.Format(_shape)} was used after the TensorScope that owned it ended; keep it with scope.Keep(t), copy what you need before the scope ends, or create it outside the scope");

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public int Numel { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>A copy of the shape.</summary>
    public int[] Shape => (int[])_shape.Clone();

    internal int[] ShapeRef => _shape;

    /// <summary>Size of one dimension (negative counts from the end).</summary>
    public int Size(int dim) => _shape[ShapeUtil.Dim("Size", dim, Rank)];

    /// <summary>The gradient accumulated by <see cref="Backward"/> (null until then).</summary>
    public Tensor? Grad { get; set; }

    /// <summary>The op that produced this tensor, when it was recorded; null for leaves.</summary>
    internal Node? GradFn { get; private set; }

    /// <summary>Name of the op that produced this tensor in the graph (for messages and tests).</summary>
    public string? GradFnName => GradFn?.Name;

    /// <summary>True for tensors not produced by a recorded op.</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>Whether gradients flow to this tensor. Only leaves can be set.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (!IsLeaf)
            {
                throw new InvalidOperationException($"RequiresGrad can only be set on a leaf tensor; this one was produced by {GradFn!.Name}. Use Detach() first.");
            }
            if (value && !DType.IsFloating())
            {
                throw new InvalidOperationException($"only floating-point tensors can require gradients, not {DType.Name()}");
            }
            _requiresGrad = value;
        }
    }

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor, for chaining.</summary>
    public Tensor RequiresGrad_(bool requiresGrad = true)
    {
        RequiresGrad = requiresGrad;
        return this;
    }

    internal Span<T> Span<T>() where T : unmanaged => Unsafe.As<T[]>(Data).AsSpan(0, Numel);

    internal T[] Array<T>() where T : unmanaged => Unsafe.As<T[]>(Data);

    // ---- creation -----------------------------------------------------------------------------

    internal static Tensor Empty(int[] shape, DType dtype) => new(Storage.Allocate(dtype, ShapeUtil.Numel(shape), zero: false), shape, dtype);

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32) => new(Storage.Allocate(dtype, ShapeUtil.Numel(shape), zero: true), (int[])shape.Clone(), dtype);

    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(int[] shape, DType dtype = DType.Float32) => Full(shape, 1.0, dtype);

    /// <summary>A tensor filled with one value.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32)
    {
        var t = Empty((int[])shape.Clone(), dtype);
        switch (dtype)
        {
            case DType.Float32: t.Span<float>().Fill((float)value); break;
            case DType.Float64: t.Span<double>().Fill(value); break;
            default: t.Span<int>().Fill(checked((int)value)); break;
        }
        return t;
    }

    /// <summary>A tensor of the same shape and dtype as <paramref name="like"/>, filled with zeros.</summary>
    public static Tensor ZerosLike(Tensor like) => Zeros(like._shape, like.DType);

    /// <summary>A tensor of the same shape and dtype as <paramref name="like"/>, filled with ones.</summary>
    public static Tensor OnesLike(Tensor like) => Ones(like._shape, like.DType);

    /// <summary>A float32 tensor copied from <paramref name="data"/>; the shape defaults to 1-D.</summary>
    public static Tensor FromArray(float[] data, params int[] shape) => FromData(data.AsSpan(), DType.Float32, shape, data.Length);

    /// <summary>A float64 tensor copied from <paramref name="data"/>.</summary>
    public static Tensor FromArray(double[] data, params int[] shape) => FromData(data.AsSpan(), DType.Float64, shape, data.Length);

    /// <summary>An int32 tensor copied from <paramref name="data"/>.</summary>
    public static Tensor FromArray(int[] data, params int[] shape) => FromData(data.AsSpan(), DType.Int32, shape, data.Length);

    private static Tensor FromData<T>(ReadOnlySpan<T> data, DType dtype, int[] shape, int length) where T : unmanaged
    {
        shape = shape.Length == 0 ? [length] : (int[])shape.Clone();
        var n = ShapeUtil.Numel(shape);
        if (n != length)
        {
            throw new ArgumentException($"FromArray: {length} values do not fill shape {ShapeUtil.Format(shape)} ({n} elements)");
        }
        var t = Empty(shape, dtype);
        data.CopyTo(t.Span<T>());
        return t;
    }

    /// <summary>A 0-dimensional tensor holding one value.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32) => Full([], value, dtype);

    /// <summary>Values start, start+step, ... below end (1-D).</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Float32)
    {
        if (step == 0 || double.IsNaN(start) || double.IsNaN(end) || double.IsNaN(step))
        {
            throw new ArgumentException($"Arange: step must be non-zero and bounds finite (start {start}, end {end}, step {step})");
        }
        var n = Math.Max(0, (int)Math.Ceiling((end - start) / step));
        var t = Empty([n], dtype);
        for (var i = 0; i < n; i++)
        {
            t.SetFlat(i, start + (i * step));
        }
        return t;
    }

    /// <summary>An n x m matrix with ones on the diagonal (m defaults to n).</summary>
    public static Tensor Eye(int n, int? m = null, DType dtype = DType.Float32)
    {
        var cols = m ?? n;
        var t = Zeros([n, cols], dtype);
        for (var i = 0; i < Math.Min(n, cols); i++)
        {
            t.SetFlat((i * cols) + i, 1);
        }
        return t;
    }

    // ---- element access -----------------------------------------------------------------------

    /// <summary>Reads the element at a flat (row-major) index as double.</summary>
    public double GetFlat(int index) => DType switch
    {
        DType.Float32 => Span<float>()[index],
        DType.Float64 => Span<double>()[index],
        _ => Span<int>()[index],
    };

    internal void SetFlat(int index, double value)
    {
        switch (DType)
        {
            case DType.Float32: Span<float>()[index] = (float)value; break;
            case DType.Float64: Span<double>()[index] = value; break;
            default: Span<int>()[index] = checked((int)value); break;
        }
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public double Item()
    {
        if (Numel != 1)
        {
            throw new InvalidOperationException($"Item: tensor of shape {ShapeUtil.Format(_shape)} has {Numel} elements, expected exactly one");
        }
        return GetFlat(0);
    }

    /// <summary>Element at a multi-dimensional index.</summary>
    [IndexerName("Element")]
    public double this[params int[] index]
    {
        get
        {
            if (index.Length != Rank)
            {
                throw new ArgumentException($"index of rank {index.Length} for a tensor of shape {ShapeUtil.Format(_shape)}");
            }
            var flat = 0;
            for (var i = 0; i < index.Length; i++)
            {
                var ix = index[i] < 0 ? index[i] + _shape[i] : index[i];
                if ((uint)ix >= (uint)_shape[i])
                {
                    throw new ArgumentOutOfRangeException(nameof(index), $"index {index[i]} out of range for dimension {i} of size {_shape[i]}");
                }
                flat = (flat * _shape[i]) + ix;
            }
            return GetFlat(flat);
        }
    }

    /// <summary>A float32 copy of the elements.</summary>
    public float[] ToFloatArray()
    {
        var r = new float[Numel];
        switch (DType)
        {
            case DType.Float32: Span<float>().CopyTo(r); break;
            case DType.Float64: { var s = Span<double>(); for (var i = 0; i < r.Length; i++) { r[i] = (float)s[i]; } break; }
            default: { var s = Span<int>(); for (var i = 0; i < r.Length; i++) { r[i] = s[i]; } break; }
        }
        return r;
    }

    /// <summary>A float64 copy of the elements.</summary>
    public double[] ToDoubleArray()
    {
        var r = new double[Numel];
        if (DType == DType.Float32)
        {
            var s = Span<float>();
            for (var i = 0; i < r.Length; i++)
            {
                r[i] = s[i];
            }
            return r;
        }
        for (var i = 0; i < r.Length; i++)
        {
            r[i] = GetFlat(i);
        }
        return r;
    }

    /// <summary>An int32 copy of the elements (floats are truncated toward zero).</summary>
    public int[] ToIntArray()
    {
        var r = new int[Numel];
        for (var i = 0; i < r.Length; i++)
        {
            r[i] = checked((int)GetFlat(i));
        }
        return r;
    }

    /// <summary>Bytes per element.</summary>
    public int ElementSize => DType == DType.Float64 ? 8 : 4;

    /// <summary>Writes the elements as little-endian bytes (Numel * ElementSize of them) into <paramref name="destination"/>.</summary>
    public void WriteBytes(Span<byte> destination)
    {
        var n = Numel * ElementSize;
        if (destination.Length < n)
        {
            throw new ArgumentException($"WriteBytes: {destination.Length} bytes cannot hold {n}");
        }
        var src = DType switch
        {
            DType.Float32 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(Span<float>()),
            DType.Float64 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(Span<double>()),
            _ => System.Runtime.InteropServices.MemoryMarshal.AsBytes(Span<int>()),
        };
        src.CopyTo(destination);
        if (!BitConverter.IsLittleEndian)
        {
            ReverseEach(destination[..n], ElementSize);
        }
    }

    /// <summary>A tensor read from little-endian bytes.</summary>
    public static Tensor FromBytes(ReadOnlySpan<byte> source, DType dtype, int[] shape)
    {
        var t = Empty((int[])shape.Clone(), dtype);
        var n = t.Numel * t.ElementSize;
        if (source.Length != n)
        {
            throw new ArgumentException($"FromBytes: {source.Length} bytes do not make a {dtype.Name()} tensor of shape {ShapeUtil.Format(shape)} ({n} bytes)");
        }
        var dst = dtype switch
        {
            DType.Float32 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Span<float>()),
            DType.Float64 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Span<double>()),
            _ => System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Span<int>()),
        };
        source.CopyTo(dst);
        if (!BitConverter.IsLittleEndian)
        {
            ReverseEach(dst, t.ElementSize);
        }
        return t;
    }

    private static void ReverseEach(Span<byte> bytes, int size)
    {
        for (var i = 0; i + size <= bytes.Length; i += size)
        {
            bytes.Slice(i, size).Reverse();
        }
    }

    /// <summary>A copy converted to another dtype (differentiable between floating types).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType)
        {
            return this;
        }
        var r = Empty((int[])_shape.Clone(), dtype);
        switch ((DType, dtype))
        {
            case (DType.Float32, DType.Float64): { var s = Span<float>(); var d = r.Span<double>(); for (var i = 0; i < s.Length; i++) { d[i] = s[i]; } break; }
            case (DType.Float64, DType.Float32): { var s = Span<double>(); var d = r.Span<float>(); for (var i = 0; i < s.Length; i++) { d[i] = (float)s[i]; } break; }
            default: for (var i = 0; i < Numel; i++) { r.SetFlat(i, dtype == DType.Int32 ? Math.Truncate(GetFlat(i)) : GetFlat(i)); } break;
        }
        if (DType.IsFloating() && dtype.IsFloating())
        {
            var from = DType;
            Record(r, "To", [this], g => [g.To(from)]);
        }
        return r;
    }

    /// <summary>
    /// Overwrites this tensor's values with those of <paramref name="source"/> (same shape and dtype).
    /// Meant for buffers and for parameter updates inside a no-grad scope; recording it is refused.
    /// </summary>
    public void CopyFrom_(Tensor source)
    {
        CheckInPlace("copy_", source);
        System.Array.Copy(source.Data, Data, Numel);
    }

    /// <summary>Fills this tensor with one value in place (not recorded; see <see cref="CopyFrom_"/>).</summary>
    public Tensor Fill_(double value)
    {
        CheckInPlace("fill_", null);
        switch (DType)
        {
            case DType.Float32: Span<float>().Fill((float)value); break;
            case DType.Float64: Span<double>().Fill(value); break;
            default: Span<int>().Fill(checked((int)value)); break;
        }
        return this;
    }

    /// <summary>Sets every element to zero in place.</summary>
    public Tensor Zero_() => Fill_(0);

    /// <summary>this += alpha * other, in place (same shape and dtype; not recorded).</summary>
    public Tensor Add_(Tensor other, double alpha = 1)
    {
        CheckInPlace("add_", other);
        switch (DType)
        {
            case DType.Float32:
                if (alpha == 1)
                {
                    TensorPrimitives.Add(Span<float>(), other.Span<float>(), Span<float>());
                }
                else
                {
                    TensorPrimitives.MultiplyAdd(other.Span<float>(), (float)alpha, Span<float>(), Span<float>());
                }
                break;
            case DType.Float64:
                TensorPrimitives.MultiplyAdd(other.Span<double>(), alpha, Span<double>(), Span<double>());
                break;
            default:
                throw new ArgumentException($"add_: expected a floating-point tensor, got {DType.Name()}");
        }
        return this;
    }

    /// <summary>this *= factor, in place (not recorded).</summary>
    public Tensor Mul_(double factor)
    {
        CheckInPlace("mul_", null);
        switch (DType)
        {
            case DType.Float32: TensorPrimitives.Multiply(Span<float>(), (float)factor, Span<float>()); break;
            case DType.Float64: TensorPrimitives.Multiply(Span<double>(), factor, Span<double>()); break;
            default: throw new ArgumentException($"mul_: expected a floating-point tensor, got {DType.Name()}");
        }
        return this;
    }

    private void CheckInPlace(string op, Tensor? source)
    {
        if (source is not null && (!ShapeUtil.SameShape(_shape, source._shape) || DType != source.DType))
        {
            throw new ArgumentException($"{op}: source {source.DType.Name()} {ShapeUtil.Format(source._shape)} does not match {DType.Name()} {ShapeUtil.Format(_shape)}");
        }
        if (GradMode.IsEnabled && (_requiresGrad || (source?._requiresGrad ?? false)))
        {
            throw new InvalidOperationException($"{op}: in-place update of a tensor that takes part in autograd; do it inside GradMode.NoGrad()");
        }
    }

    /// <summary>A new tensor with the same values; gradients flow through it.</summary>
    public Tensor Clone()
    {
        var r = Empty((int[])_shape.Clone(), DType);
        System.Array.Copy(Data, r.Data, Numel);
        Record(r, "Clone", [this], g => [g]);
        return r;
    }

    /// <summary>The same storage, cut from the graph (no gradient flows back through it).</summary>
    public Tensor Detach() => new(this, _shape);

    // ---- autograd plumbing --------------------------------------------------------------------

    /// <summary>Attaches a node to <paramref name="result"/> when recording is on and an input needs gradients.</summary>
    internal static void Record(Tensor result, string name, Tensor[] inputs, BackwardRule rule)
    {
        OpProfile.OnForward(name, result);
        if (!GradMode.IsEnabled)
        {
            return;
        }
        var any = false;
        foreach (var t in inputs)
        {
            any |= t._requiresGrad;
        }
        if (!any)
        {
            return;
        }
        result._requiresGrad = true;
        result.GradFn = new Node(name, inputs, rule);
    }

    /// <summary>Back-propagates from this tensor, accumulating into the <see cref="Grad"/> of leaves.
    /// A non-scalar tensor needs <paramref name="gradient"/> of its own shape.</summary>
    public void Backward(Tensor? gradient = null, bool createGraph = false) => Autograd.Backward(this, gradient, createGraph);

    /// <summary>Clears <see cref="Grad"/>.</summary>
    public void ZeroGrad() => Grad = null;

    // ---- formatting ---------------------------------------------------------------------------

    /// <inheritdoc />
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor(").Append(ShapeUtil.Format(_shape)).Append(", ").Append(DType.Name());
        if (GradFn is not null)
        {
            sb.Append(", grad_fn=").Append(GradFn.Name);
        }
        else if (_requiresGrad)
        {
            sb.Append(", requires_grad");
        }
        sb.Append(")[");
        var n = Math.Min(Numel, 8);
        for (var i = 0; i < n; i++)
        {
            sb.Append(i > 0 ? ", " : string.Empty).Append(GetFlat(i).ToString("G6", CultureInfo.InvariantCulture));
        }
        return sb.Append(Numel > n ? ", ...]" : "]").ToString();
    }

    internal void CheckFloating(string op)
    {
        if (!DType.IsFloating())
        {
            throw new ArgumentException($"{op}: expected a floating-point tensor, got {DType.Name()} of shape {ShapeUtil.Format(_shape)}");
        }
    }

    internal static void CheckSameDType(string op, Tensor a, Tensor b)
    {
        if (a.DType != b.DType)
        {
            throw new ArgumentException($"{op}: dtypes differ ({a.DType.Name()} {ShapeUtil.Format(a._shape)} vs {b.DType.Name()} {ShapeUtil.Format(b._shape)})");
        }
    }
}
