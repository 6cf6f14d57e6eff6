using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>The fused training-mode batch norm against the composite form built from elementwise and
/// reduction ops (the reference), forward, running statistics and all three gradients, for both the
/// plane-at-a-time path (planes of 16 values or more) and the row-at-a-time one.</summary>
public class BatchNormKernelTests
{
    // The composite reference: what Functional.BatchNorm computed before the fused kernels.
    private static Tensor Composite(Tensor x, Tensor? w, Tensor? b, double eps)
    {
        var bshape = Enumerable.Repeat(1, x.Rank).ToArray();
        bshape[1] = x.Size(1);
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        var centred = x - x.Mean(dims, keepDim: true);
        var y = centred / Tensor.Sqrt((centred * centred).Mean(dims, keepDim: true) + eps);
        if (w is not null)
        {
            y = y * w.Reshape(bshape);
        }
        return b is null ? y : y + b.Reshape(bshape);
    }

    private static void Close(Tensor expected, Tensor actual, double tol, string what)
    {
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        Assert.Equal(e.Length, a.Length);
        for (var i = 0; i < e.Length; i++)
        {
            Assert.True(Math.Abs(e[i] - a[i]) <= tol * (1 + Math.Abs(e[i])), $"{what}: element {i} is {a[i]}, expected {e[i]}");
        }
    }

    [Theory]
    [InlineData(new[] { 2, 1 }, true)]
    [InlineData(new[] { 3, 5 }, false)]
    [InlineData(new[] { 2, 3, 1, 7 }, true)]
    [InlineData(new[] { 3, 16, 17, 1 }, true)]
    [InlineData(new[] { 64, 8, 7, 7 }, true)]
    [InlineData(new[] { 5, 2, 2, 3, 4 }, false)]
    [InlineData(new[] { 64, 300 }, true)]        // a BatchNorm1d: planes of one value, channels in several chunks
    [InlineData(new[] { 4, 70, 2, 2 }, true)]    // small planes, summed a row at a time
    public void FusedMatchesTheCompositeForm(int[] shape, bool affine)
    {
        var gen = new Generator(31);
        var c = shape[1];
        var x = gen.Normal(shape) * 3 + 0.5;
        var w = affine ? gen.Normal([c]) : null;
        var b = affine ? gen.Normal([c]) : null;
        var gy = gen.Normal(shape);
        var rm = gen.Normal([c]);
        var rv = gen.Uniform([c], 0.5, 2);
        var rmExpected = rm.Clone();
        var rvExpected = rv.Clone();

        Tensor[] Leaves() => affine ? [x.Detach().RequiresGrad_(), w!.Detach().RequiresGrad_(), b!.Detach().RequiresGrad_()] : [x.Detach().RequiresGrad_()];
        var fusedIn = Leaves();
        var fused = F.BatchNorm(fusedIn[0], rm, rv, affine ? fusedIn[1] : null, affine ? fusedIn[2] : null, training: true, momentum: 0.3);
        var refIn = Leaves();
        var reference = Composite(refIn[0], affine ? refIn[1] : null, affine ? refIn[2] : null, 1e-5);
        Close(reference, fused, 1e-5, "output");

        // Running statistics: momentum update, variance unbiased.
        var dims = Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray();
        var count = x.Numel / c;
        var mean = x.Mean(dims);
        var centred = x - x.Mean(dims, keepDim: true);
        var variance = (centred * centred).Sum(dims) / (count - 1);
        Close((rmExpected * 0.7) + (mean * 0.3), rm, 1e-5, "running mean");
        Close((rvExpected * 0.7) + (variance * 0.3), rv, 1e-5, "running variance");

        var g1 = Autograd.Grad([fused], fusedIn, [gy]);
        var g2 = Autograd.Grad([reference], refIn, [gy]);
        for (var i = 0; i < fusedIn.Length; i++)
        {
            Close(g2[i]!, g1[i]!, 2e-4, $"gradient {i}");
        }
    }

    [Fact]
    public void ALargeMeanDoesNotCancelTheVariance()
    {
        // float32 values around 1000 with spread 0.01: E[x^2] - E[x]^2 would lose every digit.
        var gen = new Generator(32);
        var x = (gen.Normal([16, 2, 5, 5]) * 0.01) + 1000;
        var y = F.BatchNorm(x, null, null).ToDoubleArray();
        var xd = x.ToDoubleArray();
        for (var ch = 0; ch < 2; ch++)
        {
            var values = Enumerable.Range(0, 16).SelectMany(i => Enumerable.Range(0, 25).Select(q => xd[(((i * 2) + ch) * 25) + q])).ToArray();
            var m = values.Average();
            var sd = Math.Sqrt(values.Select(v => (v - m) * (v - m)).Average() + 1e-5);
            var ys = Enumerable.Range(0, 16).SelectMany(i => Enumerable.Range(0, 25).Select(q => y[(((i * 2) + ch) * 25) + q])).ToArray();
            for (var k = 0; k < values.Length; k++)
            {
                Assert.True(Math.Abs(((values[k] - m) / sd) - ys[k]) < 2e-2, $"channel {ch} element {k}: {ys[k]} vs {(values[k] - m) / sd}");
            }
        }
    }

    [Fact]
    public void NaNInOneChannelStaysInThatChannel()
    {
        var x = new Generator(33).Normal([4, 3, 2, 2]);
        x.Span<float>()[5] = float.NaN; // image 0, channel 1
        var y = F.BatchNorm(x, null, null).ToDoubleArray();
        for (var i = 0; i < 4; i++)
        {
            for (var ch = 0; ch < 3; ch++)
            {
                for (var q = 0; q < 4; q++)
                {
                    var v = y[(((i * 3) + ch) * 4) + q];
                    Assert.Equal(ch == 1, double.IsNaN(v));
                }
            }
        }
    }
}
