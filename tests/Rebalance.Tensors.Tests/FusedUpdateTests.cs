using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors.Tests;

/// <summary>The fused optimiser kernels: vector body against the scalar loop, and against plain tensor ops.</summary>
public class FusedUpdateTests
{
    private static float[] AdamRun(bool scalar, bool decoupled)
    {
        var gen = new Generator(8);
        var p = gen.Normal([1003]);
        var m = Tensor.Zeros([1003]);
        var v = Tensor.Zeros([1003]);
        OptimizerKernels.ForceScalar = scalar;
        try
        {
            for (var s = 1; s <= 5; s++)
            {
                FusedUpdates.Adam(p, gen.Normal([1003]), m, v, null, 0.01, 0.9, 0.999, 1e-8, 0.1, decoupled, s);
            }
        }
        finally
        {
            OptimizerKernels.ForceScalar = false;
        }
        return p.ToFloatArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void VectorAndScalarAdamAgree(bool decoupled)
    {
        var vec = AdamRun(false, decoupled);
        var sca = AdamRun(true, decoupled);
        // The vector bodies do the scalar loop's operations in its order, so they agree bit for bit.
        Assert.Equal(sca, vec);
    }

    [Fact]
    public void AdamMatchesTheFormulaWrittenWithTensorOps()
    {
        var gen = new Generator(3);
        var p = gen.Normal([50]);
        var g = gen.Normal([50]);
        var expected = p.Clone();
        var m = Tensor.Zeros([50]);
        var v = Tensor.Zeros([50]);
        FusedUpdates.Adam(p, g, m, v, null, 0.1, 0.5, 0.9, 1e-8, 0, false, 1);
        // Step 1: m = (1-b1) g, v = (1-b2) g^2, update = lr * (m / (1-b1)) / (sqrt(v / (1-b2)) + eps) = lr * g / (|g| + eps).
        var update = g * 0.1 / (Tensor.Abs(g) + 1e-8);
        var want = (expected - update).ToFloatArray();
        var got = p.ToFloatArray();
        for (var i = 0; i < want.Length; i++)
        {
            Assert.Equal(want[i], got[i], 1e-5f);
        }
    }

    [Fact]
    public void LerpAndSumOfSquares()
    {
        var t = Tensor.FromArray(new float[] { 0, 10 });
        FusedUpdates.Lerp(t, Tensor.FromArray(new float[] { 4, 0 }), 0.25);
        Assert.Equal([1f, 7.5f], t.ToFloatArray());
        Assert.Equal(1 + 56.25, FusedUpdates.SumOfSquares(t), 6);
        Assert.Throws<ArgumentException>(() => FusedUpdates.Lerp(t, Tensor.Zeros([3]), 0.5));
    }
}
