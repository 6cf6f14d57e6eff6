using System.Numerics;
using System.Runtime.Intrinsics;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Fused activation kernels. Each loop runs Vector512 (AVX-512F) when the hardware accelerates it,
/// otherwise Vector256 (AVX2), then finishes the tail (fewer elements than one vector) with the scalar
/// formula of <see cref="Reference.ActivationReference"/>. The vector body uses the same operations in
/// the same order as the scalar formula, so the results match it bit for bit.
/// </summary>
internal static class ActivationKernels
{
    // y = x > 0 ? x : x * slope. NaN fails the comparison and yields NaN * slope = NaN.
    public static void LeakyRelu<T>(ReadOnlySpan<T> x, Span<T> y, T slope) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(slope);
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<T>.Zero), v, v * vs).CopyTo(y.Slice(i));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(slope);
            for (; i <= x.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var v = Vector256.Create(x.Slice(i, Vector256<T>.Count));
                Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<T>.Zero), v, v * vs).CopyTo(y.Slice(i));
            }
        }
        Reference.ActivationReference.LeakyRelu(x[i..], y[i..], slope);
    }

    // d = x > 0 ? g : g * slope
    public static void LeakyReluBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> d, T slope) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(slope);
            for (; i <= g.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var vg = Vector512.Create(g.Slice(i, Vector512<T>.Count));
                var vx = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                Vector512.ConditionalSelect(Vector512.GreaterThan(vx, Vector512<T>.Zero), vg, vg * vs).CopyTo(d.Slice(i));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(slope);
            for (; i <= g.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var vg = Vector256.Create(g.Slice(i, Vector256<T>.Count));
                var vx = Vector256.Create(x.Slice(i, Vector256<T>.Count));
                Vector256.ConditionalSelect(Vector256.GreaterThan(vx, Vector256<T>.Zero), vg, vg * vs).CopyTo(d.Slice(i));
            }
        }
        Reference.ActivationReference.LeakyReluBackward(g[i..], x[i..], d[i..], slope);
    }

    // d = x > 0 ? above : slope (NaN fails the comparison): LeakyReLU's derivative, as a constant factor of a
    // backward that is itself recorded (for a gradient penalty).
    public static void LeakySlope<T>(ReadOnlySpan<T> x, Span<T> d, T above, T slope) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(above);
            var vs = Vector512.Create(slope);
            for (; i <= x.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var vx = Vector512.Create(x.Slice(i, Vector512<T>.Count));
                Vector512.ConditionalSelect(Vector512.GreaterThan(vx, Vector512<T>.Zero), va, vs).CopyTo(d.Slice(i));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(above);
            var vs = Vector256.Create(slope);
            for (; i <= x.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var vx = Vector256.Create(x.Slice(i, Vector256<T>.Count));
                Vector256.ConditionalSelect(Vector256.GreaterThan(vx, Vector256<T>.Zero), va, vs).CopyTo(d.Slice(i));
            }
        }
        Reference.ActivationReference.LeakySlope(x[i..], d[i..], above, slope);
    }

    // d = x > 0 ? g : 0
    public static void ReluBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T> =>
        LeakyReluBackward(g, x, d, T.Zero);

    // d = g * (1 - y * y), y = tanh(x)
    public static void TanhBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= g.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var vy = Vector512.Create(y.Slice(i, Vector512<T>.Count));
                (Vector512.Create(g.Slice(i, Vector512<T>.Count)) * (Vector512<T>.One - (vy * vy))).CopyTo(d.Slice(i));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= g.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var vy = Vector256.Create(y.Slice(i, Vector256<T>.Count));
                (Vector256.Create(g.Slice(i, Vector256<T>.Count)) * (Vector256<T>.One - (vy * vy))).CopyTo(d.Slice(i));
            }
        }
        Reference.ActivationReference.TanhBackward(g[i..], y[i..], d[i..]);
    }

    // d = g * (y * (1 - y)), y = sigmoid(x)
    public static void SigmoidBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= g.Length - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var vy = Vector512.Create(y.Slice(i, Vector512<T>.Count));
                (Vector512.Create(g.Slice(i, Vector512<T>.Count)) * (vy * (Vector512<T>.One - vy))).CopyTo(d.Slice(i));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= g.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var vy = Vector256.Create(y.Slice(i, Vector256<T>.Count));
                (Vector256.Create(g.Slice(i, Vector256<T>.Count)) * (vy * (Vector256<T>.One - vy))).CopyTo(d.Slice(i));
            }
        }
        Reference.ActivationReference.SigmoidBackward(g[i..], y[i..], d[i..]);
    }
}
