using System.Numerics;
using System.Numerics.Tensors;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>The vectorised span kernels behind each elementwise op, for one element type.</summary>
internal static class K<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static readonly BinaryKernel<T> Add = new(TensorPrimitives.Add, TensorPrimitives.Add, static (x, y, d) => TensorPrimitives.Add(y, x, d));
    public static readonly BinaryKernel<T> Sub = new(TensorPrimitives.Subtract, TensorPrimitives.Subtract, TensorPrimitives.Subtract);
    public static readonly BinaryKernel<T> Mul = new(TensorPrimitives.Multiply, TensorPrimitives.Multiply, static (x, y, d) => TensorPrimitives.Multiply(y, x, d));
    public static readonly BinaryKernel<T> Div = new(TensorPrimitives.Divide, TensorPrimitives.Divide, TensorPrimitives.Divide);
    public static readonly BinaryKernel<T> Pow = new(TensorPrimitives.Pow, TensorPrimitives.Pow, TensorPrimitives.Pow);
    public static readonly BinaryKernel<T> Max = new(TensorPrimitives.Max, TensorPrimitives.Max, static (x, y, d) => TensorPrimitives.Max(y, x, d));
    public static readonly BinaryKernel<T> Min = new(TensorPrimitives.Min, TensorPrimitives.Min, static (x, y, d) => TensorPrimitives.Min(y, x, d));

    public static void Run(BinaryKernel<T> k, Tensor a, Tensor b, Tensor y) =>
        Elementwise.Binary(a.Array<T>(), a.ShapeRef, b.Array<T>(), b.ShapeRef, y.Array<T>(), y.ShapeRef, k);

    public static void Scalar(SpanScalarRight<T> k, Tensor x, double s, Tensor y)
    {
        var v = T.CreateTruncating(s);
        Elementwise.Map(x.Span<T>(), y.Span<T>(), (src, dst) => k(src, v, dst));
    }

    public static void ScalarLeft(SpanScalarLeft<T> k, double s, Tensor x, Tensor y)
    {
        var v = T.CreateTruncating(s);
        Elementwise.Map(x.Span<T>(), y.Span<T>(), (src, dst) => k(v, src, dst));
    }
}
