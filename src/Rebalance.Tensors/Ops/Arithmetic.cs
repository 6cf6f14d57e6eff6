using System.Numerics.Tensors;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>Elementwise arithmetic with NumPy broadcasting.</summary>
public sealed partial class Tensor
{
    private static Tensor BinaryForward(string op, Tensor a, Tensor b, BinaryKernel<float> f, BinaryKernel<double> d)
    {
        CheckSameDType(op, a, b);
        a.CheckFloating(op);
        var y = Empty(ShapeUtil.Broadcast(op, a._shape, b._shape), a.DType);
        if (a.DType == DType.Float32)
        {
            K<float>.Run(f, a, b, y);
        }
        else
        {
            K<double>.Run(d, a, b, y);
        }
        return y;
    }

    private static Tensor ScalarForward(string op, Tensor x, double s, SpanScalarRight<float> f, SpanScalarRight<double> d)
    {
        x.CheckFloating(op);
        var y = Empty((int[])x._shape.Clone(), x.DType);
        if (x.DType == DType.Float32)
        {
            K<float>.Scalar(f, x, s, y);
        }
        else
        {
            K<double>.Scalar(d, x, s, y);
        }
        return y;
    }

    private static Tensor ScalarLeftForward(string op, double s, Tensor x, SpanScalarLeft<float> f, SpanScalarLeft<double> d)
    {
        x.CheckFloating(op);
        var y = Empty((int[])x._shape.Clone(), x.DType);
        if (x.DType == DType.Float32)
        {
            K<float>.ScalarLeft(f, s, x, y);
        }
        else
        {
            K<double>.ScalarLeft(d, s, x, y);
        }
        return y;
    }

    /// <summary>a + b.</summary>
    public static Tensor Add(Tensor a, Tensor b)
    {
        var y = BinaryForward("add", a, b, K<float>.Add, K<double>.Add);
        Record(y, "AddBackward", [a, b], g => [g.SumTo(a._shape), g.SumTo(b._shape)]);
        return y;
    }

    /// <summary>a - b.</summary>
    public static Tensor Sub(Tensor a, Tensor b)
    {
        var y = BinaryForward("sub", a, b, K<float>.Sub, K<double>.Sub);
        Record(y, "SubBackward", [a, b], g => [g.SumTo(a._shape), b._requiresGrad ? Neg(g).SumTo(b._shape) : null]);
        return y;
    }

    /// <summary>a * b.</summary>
    public static Tensor Mul(Tensor a, Tensor b)
    {
        var y = BinaryForward("mul", a, b, K<float>.Mul, K<double>.Mul);
        Record(y, "MulBackward", [a, b], g => [
            a._requiresGrad ? Mul(g, b).SumTo(a._shape) : null,
            b._requiresGrad ? Mul(g, a).SumTo(b._shape) : null]);
        return y;
    }

    /// <summary>a / b.</summary>
    public static Tensor Div(Tensor a, Tensor b)
    {
        var y = BinaryForward("div", a, b, K<float>.Div, K<double>.Div);
        Record(y, "DivBackward", [a, b], g => [
            a._requiresGrad ? Div(g, b).SumTo(a._shape) : null,
            b._requiresGrad ? Neg(Div(Mul(g, y), b)).SumTo(b._shape) : null]);
        return y;
    }

    /// <summary>a raised to b, elementwise. The gradient toward b is 0 where a == 0 and b >= 0, as in PyTorch.</summary>
    public static Tensor Pow(Tensor a, Tensor b)
    {
        var y = BinaryForward("pow", a, b, K<float>.Pow, K<double>.Pow);
        Record(y, "PowBackward", [a, b], g => [
            a._requiresGrad ? Mul(g, Mul(b, Pow(a, b - 1.0))).SumTo(a._shape) : null,
            b._requiresGrad ? Where(Eq(a, 0.0) * Ge(b, 0.0), ZerosLike(y), Mul(g, Mul(y, Log(a)))).SumTo(b._shape) : null]);
        return y;
    }

    /// <summary>x raised to a constant power.</summary>
    public static Tensor Pow(Tensor x, double exponent)
    {
        if (exponent == 1)
        {
            return x.Clone();
        }
        var y = exponent == 2 ? BinaryForward("pow", x, x, K<float>.Mul, K<double>.Mul)
            : ScalarForward("pow", x, exponent, TensorPrimitives.Pow, TensorPrimitives.Pow);
        Record(y, "PowBackward", [x], g => [exponent == 0 ? ZerosLike(x) : Mul(g, Pow(x, exponent - 1) * exponent)]);
        return y;
    }

    /// <summary>Elementwise maximum; NaN propagates. Ties send half the gradient to each side.</summary>
    public static Tensor Maximum(Tensor a, Tensor b) => MinMax("maximum", a, b, K<float>.Max, K<double>.Max, greater: true);

    /// <summary>Elementwise minimum; NaN propagates. Ties send half the gradient to each side.</summary>
    public static Tensor Minimum(Tensor a, Tensor b) => MinMax("minimum", a, b, K<float>.Min, K<double>.Min, greater: false);

    private static Tensor MinMax(string op, Tensor a, Tensor b, BinaryKernel<float> f, BinaryKernel<double> d, bool greater)
    {
        var y = BinaryForward(op, a, b, f, d);
        Record(y, greater ? "MaximumBackward" : "MinimumBackward", [a, b], g =>
        {
            Tensor wa;
            using (GradMode.NoGrad())
            {
                wa = (greater ? Gt(a, b) : Lt(a, b)) + (Eq(a, b) * 0.5);
            }
            return [
                a._requiresGrad ? Mul(g, wa).SumTo(a._shape) : null,
                b._requiresGrad ? Mul(g, 1.0 - wa).SumTo(b._shape) : null];
        });
        return y;
    }

    /// <summary>x + s.</summary>
    public static Tensor Add(Tensor x, double s)
    {
        var y = ScalarForward("add", x, s, TensorPrimitives.Add, TensorPrimitives.Add);
        Record(y, "AddBackward", [x], g => [g]);
        return y;
    }

    /// <summary>x * s.</summary>
    public static Tensor Mul(Tensor x, double s)
    {
        var y = ScalarForward("mul", x, s, TensorPrimitives.Multiply, TensorPrimitives.Multiply);
        Record(y, "MulBackward", [x], g => [Mul(g, s)]);
        return y;
    }

    /// <summary>s - x.</summary>
    public static Tensor RSub(double s, Tensor x)
    {
        var y = ScalarLeftForward("sub", s, x, TensorPrimitives.Subtract, TensorPrimitives.Subtract);
        Record(y, "RSubBackward", [x], g => [Neg(g)]);
        return y;
    }

    /// <summary>s / x.</summary>
    public static Tensor RDiv(double s, Tensor x)
    {
        var y = ScalarLeftForward("div", s, x, TensorPrimitives.Divide, TensorPrimitives.Divide);
        Record(y, "RDivBackward", [x], g => [Neg(Div(Mul(g, y), x))]);
        return y;
    }

    /// <summary>-x.</summary>
    public static Tensor Neg(Tensor x)
    {
        var y = MapForward("neg", x, TensorPrimitives.Negate, TensorPrimitives.Negate);
        Record(y, "NegBackward", [x], g => [Neg(g)]);
        return y;
    }

    /// <summary>Maximum with a constant; NaN propagates.</summary>
    public static Tensor Maximum(Tensor x, double s) => Clamp(x, min: s);

    /// <summary>Minimum with a constant; NaN propagates.</summary>
    public static Tensor Minimum(Tensor x, double s) => Clamp(x, max: s);

    /// <summary>Limits values to [min, max] (either bound optional). The gradient passes where min &lt;= x &lt;= max; NaN propagates.</summary>
    public static Tensor Clamp(Tensor x, double? min = null, double? max = null)
    {
        x.CheckFloating("clamp");
        if (min > max)
        {
            throw new ArgumentException($"clamp: min {min} is greater than max {max}");
        }
        var y = x.DType == DType.Float32 ? Empty((int[])x._shape.Clone(), DType.Float32) : Empty((int[])x._shape.Clone(), DType.Float64);
        if (x.DType == DType.Float32)
        {
            ClampKernel(x.Span<float>(), y.Span<float>(), (float?)min, (float?)max);
        }
        else
        {
            ClampKernel(x.Span<double>(), y.Span<double>(), min, max);
        }
        Record(y, "ClampBackward", [x], g =>
        {
            Tensor mask;
            using (GradMode.NoGrad())
            {
                mask = OnesLike(x);
                if (min is { } lo)
                {
                    mask = mask * Ge(x, lo);
                }
                if (max is { } hi)
                {
                    mask = mask * Le(x, hi);
                }
            }
            return [Mul(g, mask)];
        });
        return y;
    }

    private static void ClampKernel<T>(ReadOnlySpan<T> x, Span<T> y, T? min, T? max) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        x.CopyTo(y);
        if (min is { } lo)
        {
            TensorPrimitives.Max(y, lo, y);
        }
        if (max is { } hi)
        {
            TensorPrimitives.Min(y, hi, y);
        }
    }

    /// <summary>Elementwise a if cond != 0 else b, with broadcasting of all three. Gradients go to the chosen side.</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        CheckSameDType("where", a, b);
        a.CheckFloating("where");
        var shape = ShapeUtil.Broadcast("where", ShapeUtil.Broadcast("where", condition._shape, a._shape), b._shape);
        var c = condition.ExpandData(shape);
        var av = a.ExpandData(shape);
        var bv = b.ExpandData(shape);
        var y = Empty(shape, a.DType);
        var n = y.Numel;
        for (var i = 0; i < n; i++)
        {
            y.SetFlat(i, c.GetFlat(i) != 0 ? av.GetFlat(i) : bv.GetFlat(i));
        }
        Record(y, "WhereBackward", [a, b], g =>
        {
            var zero = ZerosLike(g);
            return [
                a._requiresGrad ? Where(c, g, zero).SumTo(a._shape) : null,
                b._requiresGrad ? Where(c, zero, g).SumTo(b._shape) : null];
        });
        return y;
    }

    // ---- comparisons (no gradient; 1 where true, 0 where false, in the dtype of the inputs) -------

    /// <summary>1 where a &gt; b.</summary>
    public static Tensor Gt(Tensor a, Tensor b) => Compare("gt", a, b, static (x, y) => x > y, static (x, y) => x > y);

    /// <summary>1 where a &gt;= b.</summary>
    public static Tensor Ge(Tensor a, Tensor b) => Compare("ge", a, b, static (x, y) => x >= y, static (x, y) => x >= y);

    /// <summary>1 where a &lt; b.</summary>
    public static Tensor Lt(Tensor a, Tensor b) => Compare("lt", a, b, static (x, y) => x < y, static (x, y) => x < y);

    /// <summary>1 where a &lt;= b.</summary>
    public static Tensor Le(Tensor a, Tensor b) => Compare("le", a, b, static (x, y) => x <= y, static (x, y) => x <= y);

    /// <summary>1 where a == b.</summary>
    public static Tensor Eq(Tensor a, Tensor b) => Compare("eq", a, b, static (x, y) => x == y, static (x, y) => x == y);

    /// <summary>1 where a != b (also where either is NaN).</summary>
    public static Tensor Ne(Tensor a, Tensor b) => Compare("ne", a, b, static (x, y) => x != y, static (x, y) => x != y);

    /// <summary>1 where x &gt; s.</summary>
    public static Tensor Gt(Tensor x, double s) => Gt(x, Scalar(s, x.DType));

    /// <summary>1 where x &gt;= s.</summary>
    public static Tensor Ge(Tensor x, double s) => Ge(x, Scalar(s, x.DType));

    /// <summary>1 where x &lt; s.</summary>
    public static Tensor Lt(Tensor x, double s) => Lt(x, Scalar(s, x.DType));

    /// <summary>1 where x &lt;= s.</summary>
    public static Tensor Le(Tensor x, double s) => Le(x, Scalar(s, x.DType));

    /// <summary>1 where x == s.</summary>
    public static Tensor Eq(Tensor x, double s) => Eq(x, Scalar(s, x.DType));

    private static Tensor Compare(string op, Tensor a, Tensor b, Func<float, float, bool> f, Func<double, double, bool> d)
    {
        CheckSameDType(op, a, b);
        if (a.DType == DType.Int32 && op != "eq")
        {
            throw new ArgumentException($"{op}: int32 tensors support only eq");
        }
        var shape = ShapeUtil.Broadcast(op, a._shape, b._shape);
        var dtype = a.DType == DType.Int32 ? DType.Int32 : a.DType;
        var y = Empty(shape, dtype);
        switch (a.DType)
        {
            case DType.Float32: Elementwise.Compare(a.Array<float>(), a._shape, b.Array<float>(), b._shape, y.Array<float>(), shape, f); break;
            case DType.Float64: Elementwise.Compare(a.Array<double>(), a._shape, b.Array<double>(), b._shape, y.Array<double>(), shape, d); break;
            default: Elementwise.Compare(a.Array<int>(), a._shape, b.Array<int>(), b._shape, y.Array<int>(), shape, static (x, v) => x == v); break;
        }
        return y;
    }

    // ---- operators ----------------------------------------------------------------------------

    /// <summary>Elementwise sum with broadcasting.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => Add(a, b);

    /// <summary>Elementwise difference with broadcasting.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => Sub(a, b);

    /// <summary>Elementwise product with broadcasting.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => Mul(a, b);

    /// <summary>Elementwise quotient with broadcasting.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => Div(a, b);

    /// <summary>Negation.</summary>
    public static Tensor operator -(Tensor x) => Neg(x);

    /// <summary>x + s.</summary>
    public static Tensor operator +(Tensor x, double s) => Add(x, s);

    /// <summary>s + x.</summary>
    public static Tensor operator +(double s, Tensor x) => Add(x, s);

    /// <summary>x - s.</summary>
    public static Tensor operator -(Tensor x, double s) => Add(x, -s);

    /// <summary>s - x.</summary>
    public static Tensor operator -(double s, Tensor x) => RSub(s, x);

    /// <summary>x * s.</summary>
    public static Tensor operator *(Tensor x, double s) => Mul(x, s);

    /// <summary>s * x.</summary>
    public static Tensor operator *(double s, Tensor x) => Mul(x, s);

    /// <summary>x / s.</summary>
    public static Tensor operator /(Tensor x, double s) => Mul(x, 1.0 / s);

    /// <summary>s / x.</summary>
    public static Tensor operator /(double s, Tensor x) => RDiv(s, x);
}
