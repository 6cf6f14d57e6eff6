using System.Numerics;

namespace Rebalance.Tensors.Kernels.Reference;

/// <summary>Scalar formulas of the fused activation kernels; also their tail loops.</summary>
internal static class ActivationReference
{
    public static void LeakyRelu<T>(ReadOnlySpan<T> x, Span<T> y, T slope) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < x.Length; i++)
        {
            y[i] = x[i] > T.Zero ? x[i] : x[i] * slope;
        }
    }

    public static void LeakyReluBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> d, T slope) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < g.Length; i++)
        {
            d[i] = x[i] > T.Zero ? g[i] : g[i] * slope;
        }
    }

    public static void LeakySlope<T>(ReadOnlySpan<T> x, Span<T> d, T above, T slope) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < x.Length; i++)
        {
            d[i] = x[i] > T.Zero ? above : slope;
        }
    }

    public static void TanhBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < g.Length; i++)
        {
            d[i] = g[i] * (T.One - (y[i] * y[i]));
        }
    }

    public static void SigmoidBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < g.Length; i++)
        {
            d[i] = g[i] * (y[i] * (T.One - y[i]));
        }
    }
}
