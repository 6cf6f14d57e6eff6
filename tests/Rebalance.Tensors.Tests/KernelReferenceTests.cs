using Rebalance.Tensors.Kernels;
using Rebalance.Tensors.Kernels.Reference;

namespace Rebalance.Tensors.Tests;

/// <summary>SIMD kernels against their scalar references at awkward lengths.</summary>
public class KernelReferenceTests
{
    public static readonly int[] Sizes = [0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 255, 513];

    private static float[] Data(int n, int seed)
    {
        var v = new Generator((ulong)seed).Normal([Math.Max(n, 1)]).ToFloatArray()[..n];
        if (n > 3)
        {
            v[1] = 0f;
            v[2] = float.NaN;
            v[3] = -0f;
        }
        return v;
    }

    private static void AssertBitEqual(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) || (float.IsNaN(expected[i]) && float.IsNaN(actual[i])), $"element {i}: {actual[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void LeakyReluForwardAndBackward()
    {
        foreach (var n in Sizes)
        {
            var x = Data(n, n);
            var g = Data(n, n + 100);
            var r = new float[n];
            var e = new float[n];
            ActivationKernels.LeakyRelu<float>(x, r, 0.2f);
            ActivationReference.LeakyRelu<float>(x, e, 0.2f);
            AssertBitEqual(e, r);
            ActivationKernels.LeakyReluBackward<float>(g, x, r, 0.2f);
            ActivationReference.LeakyReluBackward<float>(g, x, e, 0.2f);
            AssertBitEqual(e, r);
            ActivationKernels.ReluBackward<float>(g, x, r);
            ActivationReference.LeakyReluBackward<float>(g, x, e, 0f);
            AssertBitEqual(e, r);
        }
    }

    [Fact]
    public void LeakySlopeMatchesItsReferenceAndTheOpsItReplaced()
    {
        foreach (var n in Sizes)
        {
            var x = Data(n, n + 300);
            var r = new float[n];
            var e = new float[n];
            ActivationKernels.LeakySlope<float>(x, r, 1f, 0.2f);
            ActivationReference.LeakySlope<float>(x, e, 1f, 0.2f);
            AssertBitEqual(e, r);
            foreach (var slope in new[] { 0.2, 0.01, 0.3, 1.0 / 3 })
            {
                var t = Tensor.FromArray(x);
                var old = ((Tensor.Gt(t, 0.0) * (1 - slope)) + slope).ToFloatArray();
                AssertBitEqual(old, Tensor.LeakySlope(t, slope).ToFloatArray());
            }
        }
    }

    [Fact]
    public void TanhAndSigmoidBackward()
    {
        foreach (var n in Sizes)
        {
            var y = Data(n, n + 1);
            var g = Data(n, n + 200);
            var r = new float[n];
            var e = new float[n];
            ActivationKernels.TanhBackward<float>(g, y, r);
            ActivationReference.TanhBackward<float>(g, y, e);
            AssertBitEqual(e, r);
            ActivationKernels.SigmoidBackward<float>(g, y, r);
            ActivationReference.SigmoidBackward<float>(g, y, e);
            AssertBitEqual(e, r);
        }
    }

    [Fact]
    public void DoubleKernelsMatchToo()
    {
        var x = new Generator(3).Normal([37], dtype: DType.Float64).ToDoubleArray();
        var r = new double[37];
        var e = new double[37];
        ActivationKernels.LeakyRelu<double>(x, r, 0.1);
        ActivationReference.LeakyRelu<double>(x, e, 0.1);
        Assert.Equal(e, r);
    }

    [Fact]
    public void LibraryBackedElementwiseOpsMatchScalarMath()
    {
        foreach (var n in Sizes)
        {
            var x = Tensor.FromArray(Data(n, n + 7));
            var checks = new (Func<Tensor, Tensor> Op, Func<double, double> Ref)[]
            {
                (Tensor.Exp, Math.Exp), (Tensor.Tanh, Math.Tanh), (Tensor.Sigmoid, v => 1 / (1 + Math.Exp(-v))),
                (Tensor.Relu, v => double.IsNaN(v) ? double.NaN : Math.Max(v, 0)), (t => Tensor.Abs(t), Math.Abs),
                (t => t * 3.0 + 1.0, v => (v * 3) + 1), (t => Tensor.Sqrt(Tensor.Abs(t)), v => Math.Sqrt(Math.Abs(v))),
                (t => Tensor.LeakyRelu(t, 0.3), v => v > 0 ? v : v * 0.3),
            };
            foreach (var (op, reference) in checks)
            {
                var y = op(x).ToFloatArray();
                var xs = x.ToFloatArray();
                for (var i = 0; i < n; i++)
                {
                    var e = reference(xs[i]);
                    Assert.True(double.IsNaN(e) ? float.IsNaN(y[i]) : Math.Abs(y[i] - e) <= 1e-6 * (1 + Math.Abs(e)), $"n={n} i={i} x={xs[i]}: {y[i]} vs {e}");
                }
            }
        }
    }
}
