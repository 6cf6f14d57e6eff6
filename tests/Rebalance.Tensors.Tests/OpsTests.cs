using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>Forward values of the ops against hand-computed results.</summary>
public class OpsTests
{
    private static void Near(double[] expected, Tensor actual, double tol = 1e-5)
    {
        var a = actual.ToDoubleArray();
        Assert.Equal(expected.Length, a.Length);
        for (var i = 0; i < a.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - a[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: {a[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void Creation()
    {
        Near([0, 0, 0, 0, 0, 0], Tensor.Zeros([2, 3]));
        Near([1, 1], Tensor.Ones([2]));
        Near([2.5, 2.5], Tensor.Full([1, 2], 2.5));
        Near([1, 0, 0, 0, 1, 0], Tensor.Eye(2, 3));
        Near([0, 0.5, 1, 1.5], Tensor.Arange(0, 2, 0.5));
        Assert.Equal([2, 3], Tensor.FromArray(new float[6], 2, 3).Shape);
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3));
    }

    [Fact]
    public void BroadcastingArithmetic()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var col = Tensor.FromArray(new float[] { 10, 20 }, 2, 1);
        var row = Tensor.FromArray(new float[] { 1, 0, -1 }, 3);
        Near([11, 12, 13, 24, 25, 26], a + col);
        Near([1, 0, -3, 4, 0, -6], a * row);
        Near([9, 8, 7, 16, 15, 14], col - a);
        Near([2, 1, 0, -1, -2, -3], 3.0 - a);
        Near([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6], a.Unsqueeze(0) + Tensor.Zeros([2, 1, 1]));
        Near([0.5, 1, 1.5], Tensor.FromArray(new float[] { 1, 2, 3 }) / 2.0);
        Near([2, 1, 2.0 / 3], 2.0 / Tensor.FromArray(new float[] { 1, 2, 3 }));
        Near([1, 4, 27], Tensor.Pow(Tensor.FromArray(new float[] { 1, 2, 3 }), Tensor.FromArray(new float[] { 2, 2, 3 })));
        Near([1, 0, 1, 0], Tensor.Gt(Tensor.FromArray(new float[] { 2, 1, 5, -1 }), Tensor.FromArray(new float[] { 1, 1, 0, 0 })));
        Near([5, 2, 3], Tensor.Where(Tensor.FromArray(new float[] { 1, 0, 0 }), Tensor.FromArray(new float[] { 5, 6, 7 }), Tensor.FromArray(new float[] { 1, 2, 3 })));
        Near([-1, 0.5, 2], Tensor.Clamp(Tensor.FromArray(new float[] { -3, 0.5f, 9 }), -1, 2));
        Near([3, 5], Tensor.Maximum(Tensor.FromArray(new float[] { 1, 5 }), Tensor.FromArray(new float[] { 3, 2 })));
    }

    [Fact]
    public void ScalarBroadcastRowsAndTensorsOfManyShapes()
    {
        // (N, C, H, W) + (1, C, 1, 1): the per-channel bias pattern.
        var x = Tensor.Arange(0, 24).Reshape(2, 3, 2, 2);
        var b = Tensor.FromArray(new float[] { 100, 200, 300 }, 1, 3, 1, 1);
        var y = (x + b).ToFloatArray();
        for (var i = 0; i < 24; i++)
        {
            Assert.Equal(i + (100 * (((i / 4) % 3) + 1)), y[i]);
        }
    }

    [Fact]
    public void Reductions()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Near([21], x.Sum());
        Near([5, 7, 9], x.Sum(0));
        Near([6, 15], x.Sum(1));
        Near([2, 5], x.Mean(1));
        Near([1, 1], x.Var(1));
        Near([2.0 / 3, 2.0 / 3], x.Var(1, unbiased: false));
        Near([3, 6], x.Max(1));
        Near([1, 2, 3], x.Min(0));
        Assert.Equal([2, 2], x.ArgMax(1).ToIntArray());
        Assert.Equal(5, x.ArgMax());
        Near([Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3)), Math.Log(Math.Exp(4) + Math.Exp(5) + Math.Exp(6))], x.LogSumExp(1));
        Near([1000 + Math.Log(2)], Tensor.FromArray(new float[] { 1000, 1000 }).LogSumExp(0), 1e-6);
        Assert.Equal([2, 1, 3], Tensor.Zeros([2, 4, 3]).Sum(1, keepDim: true).Shape);
    }

    [Fact]
    public void ShapeOps()
    {
        var x = Tensor.Arange(0, 6).Reshape(2, 3);
        Near([0, 3, 1, 4, 2, 5], x.T());
        Near([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5], Tensor.Concat([x, x], 0));
        Near([0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5], Tensor.Concat([x, x], 1));
        Assert.Equal([2, 2, 3], Tensor.Stack([x, x]).Shape);
        Assert.Equal([2, 3, 2], Tensor.Stack([x, x], 2).Shape);
        Near([1, 4], x.Slice(1, 1, 2));
        Near([0, 2, 3, 5], x.Slice(1, 0, 3, 2));
        Near([2, 0, 5, 3], x.IndexSelect(1, Tensor.FromArray(new[] { 2, 0 })));
        Near([1, 0, 5, 5], x.Gather(1, Tensor.FromArray(new[] { 1, 0, 2, 2 }, 2, 2)));
        Near([0, 1, 0, 0, 0, 1], Tensor.OneHot(Tensor.FromArray(new[] { 1, 2 }), 3));
        var parts = x.Split(2, 1);
        Assert.Equal([2, 2], parts[0].Shape);
        Assert.Equal([2, 1], parts[1].Shape);
        Assert.Equal([6], x.Flatten().Shape);
        Assert.Equal([2, 1, 3], x.Unsqueeze(1).Shape);
        Assert.Equal([2, 3], x.Unsqueeze(0).Squeeze().Shape);
        Assert.Equal([3, 2], x.Reshape(-1, 2).Shape);
        var p = Tensor.Arange(0, 24).Reshape(2, 3, 4).Permute(2, 0, 1);
        Assert.Equal([4, 2, 3], p.Shape);
        Assert.Equal(13, p[1, 1, 0]);
    }

    [Fact]
    public void ReshapeSharesStorage()
    {
        var x = Tensor.Zeros([2, 3]);
        var v = x.Reshape(6);
        using (GradMode.NoGrad())
        {
            x.CopyFrom_(Tensor.Ones([2, 3]));
        }
        Assert.Equal(1, v[5]);
    }

    [Fact]
    public void MatMulShapes()
    {
        var a = Tensor.Arange(0, 6).Reshape(2, 3);
        var b = Tensor.Arange(0, 6).Reshape(3, 2);
        Near([10, 13, 28, 40], Tensor.MatMul(a, b));
        Assert.Equal([4, 2, 2], Tensor.MatMul(Tensor.Ones([4, 2, 3]), b).Shape);
        Assert.Equal([4, 2, 5], Tensor.MatMul(a, Tensor.Ones([4, 3, 5])).Shape);
        Near([5, 14], Tensor.MatMul(a, Tensor.FromArray(new float[] { 0, 1, 2 })));
    }

    [Theory]
    [InlineData(2, 2, 0, 37)] // the 2x2 loop of its own: 18 outputs a row, blocks of eight, the last overlapping
    [InlineData(2, 2, 0, 16)] // 8 a row: one block
    [InlineData(2, 2, 0, 13)] // 6 a row: two overlapping blocks of four
    [InlineData(2, 2, 0, 7)]  // 3 a row: one by one
    [InlineData(3, 2, 1, 37)]
    [InlineData(2, 1, 0, 13)]
    public void MaxPoolingTakesTheFirstMaximumAndTheFirstNaNOnAnyThreadCount(int k, int s, int padding, int w)
    {
        // Few distinct values, so windows hold ties; some NaN. Odd sizes leave a last row and column unused.
        var gen = new Generator(5);
        int n = 6, c = 16, h = 15;
        var data = new float[n * c * h * w];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = gen.NextInt(50) == 0 ? float.NaN : gen.NextInt(4);
        }
        var oh = ((h + (2 * padding) - k) / s) + 1;
        var ow = ((w + (2 * padding) - k) / s) + 1;
        var want = new float[n * c * oh * ow];
        var wantGrad = new float[data.Length];
        var o = 0;
        for (var plane = 0; plane < n * c; plane++)
        {
            for (var i = 0; i < oh; i++)
            {
                for (var j = 0; j < ow; j++)
                {
                    var best = -1;
                    for (var ki = 0; ki < k; ki++)
                    {
                        for (var kj = 0; kj < k; kj++)
                        {
                            int ih = (i * s) - padding + ki, iw = (j * s) - padding + kj;
                            if (ih < 0 || ih >= h || iw < 0 || iw >= w)
                            {
                                continue;
                            }
                            var ix = (plane * h * w) + (ih * w) + iw;
                            if (best < 0 || data[ix] > data[best] || (float.IsNaN(data[ix]) && !float.IsNaN(data[best])))
                            {
                                best = ix;
                            }
                        }
                    }
                    want[o] = data[best];
                    wantGrad[best] += o % 7;
                    o++;
                }
            }
        }
        var weights = Tensor.FromArray(Enumerable.Range(0, want.Length).Select(i => (float)(i % 7)).ToArray(), n, c, oh, ow);
        var saved = Engine.NumThreads;
        try
        {
            foreach (var threads in new[] { 1, 2 })
            {
                Engine.NumThreads = threads;
                var x = Tensor.FromArray((float[])data.Clone(), n, c, h, w).RequiresGrad_();
                var y = F.MaxPool2d(x, k, s, padding);
                Assert.Equal(want, y.ToFloatArray());
                (y * weights).Sum().Backward();
                Assert.Equal(wantGrad, x.Grad!.ToFloatArray());
            }
        }
        finally
        {
            Engine.NumThreads = saved;
        }
    }

    [Fact]
    public void ConvolutionAndPooling()
    {
        var x = Tensor.Arange(1, 17).Reshape(1, 1, 4, 4);
        var w = Tensor.Ones([1, 1, 2, 2]);
        Near([14, 18, 22, 30, 34, 38, 46, 50, 54], F.Conv2d(x, w));
        Near([6, 8, 14, 16], F.MaxPool2d(x, 2));
        Near([3.5, 5.5, 11.5, 13.5], F.AvgPool2d(x, 2));
        Near([8.5], F.GlobalAvgPool2d(x));
        Assert.Equal([1, 1, 8, 8], F.UpsampleNearest(x, 2).Shape);
        // Each pixel fills its block; the gradient sums each block back (here with distinct weights).
        var small = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 1, 2, 1, 3).RequiresGrad_();
        var up = F.UpsampleNearest(small, 2);
        Near([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6], up);
        (up * Tensor.Arange(0, 24).Reshape(1, 2, 2, 6)).Sum().Backward();
        Near([0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11, 12 + 13 + 18 + 19, 14 + 15 + 20 + 21, 16 + 17 + 22 + 23], small.Grad!);
        Assert.Same(small, F.UpsampleNearest(small, 1));
        // Transposed convolution with stride 2 and a 2x2 kernel of ones spreads each pixel into a block.
        var t = F.ConvTranspose2d(Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2), Tensor.Ones([1, 1, 2, 2]), stride: 2);
        Near([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], t);
        Assert.Equal([2, 3, 8, 7], F.ConvTranspose2d(Tensor.Ones([2, 4, 4, 3]), Tensor.Ones([4, 3, 3, 3]), null, (2, 2), (1, 0), (1, 0), (1, 1)).Shape);
    }

    [Fact]
    public void AConvolutionsBiasIsAddedInPlaceWithTheBitsOfABroadcastAdd()
    {
        var gen = new Generator(22);
        var x = gen.Normal([3, 2, 5, 7]).RequiresGrad_();
        var w = gen.Normal([4, 2, 3, 3]).RequiresGrad_();
        var b = gen.Normal([4]).RequiresGrad_();
        var weights = gen.Normal([3, 4, 5, 7]);
        var fused = F.Conv2d(x, w, b, padding: 1);
        (fused * weights).Sum().Backward();
        var (gx, gw, gb) = (x.Grad!.ToFloatArray(), w.Grad!.ToFloatArray(), b.Grad!.ToFloatArray());
        x.Grad = w.Grad = b.Grad = null;
        var separate = F.Conv2d(x, w, padding: 1) + b.Reshape(1, 4, 1, 1);
        (separate * weights).Sum().Backward();
        Assert.Equal(separate.ToFloatArray(), fused.ToFloatArray());
        Assert.Equal(x.Grad!.ToFloatArray(), gx);
        Assert.Equal(w.Grad!.ToFloatArray(), gw);
        Assert.Equal(b.Grad!.ToFloatArray(), gb);
        var transposed = F.ConvTranspose2d(fused, w, Tensor.Ones([2]), stride: 2, padding: 1);
        Assert.Equal((F.ConvTranspose2d(fused, w, stride: 2, padding: 1) + 1.0).ToFloatArray(), transposed.ToFloatArray());
        Assert.Throws<ArgumentException>(() => F.Conv2d(x, w, Tensor.Ones([3])));
    }

    [Theory]
    [InlineData(3, 5, 7, 3)] // positions that fill no vector evenly
    [InlineData(2, 1, 4, 4)] // one channel: every output is ±1
    [InlineData(4, 17, 1, 1)] // (N, C, 1, 1): one position a sample
    public void PixelNormKernelsMatchTheFormulaWrittenWithTensorOps(int n, int c, int h, int w)
    {
        var gen = new Generator(21);
        var x = gen.Normal([n, c, h, w]).RequiresGrad_();
        var weights = gen.Normal([n, c, h, w]);
        var fused = F.PixelNorm(x);
        (fused * weights).Sum().Backward();
        var fusedGrad = x.Grad!.ToFloatArray();
        x.Grad = null;
        // The same map with tensor ops; its backward is the op-by-op chain rule.
        var composite = x / Tensor.Sqrt((x * x).Mean(1, keepDim: true) + 1e-8);
        (composite * weights).Sum().Backward();
        Near([.. composite.ToDoubleArray()], fused, 1e-6);
        Near([.. x.Grad!.ToDoubleArray()], Tensor.FromArray(fusedGrad, n, c, h, w), 1e-5);
        // The recorded backward (as under a gradient penalty) gives the same first derivative.
        var recorded = Autograd.Grad([(F.PixelNorm(x) * weights).Sum()], [x], createGraph: true)[0]!;
        Near([.. recorded.ToDoubleArray()], Tensor.FromArray(fusedGrad, n, c, h, w), 1e-5);
        Assert.Throws<ArgumentException>(() => F.PixelNorm(Tensor.Ones([3])));
    }

    [Fact]
    public void NormsAndLosses()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        var rm = Tensor.Zeros([2]);
        var rv = Tensor.Ones([2]);
        var y = F.BatchNorm(x, rm, rv, training: true, momentum: 0.5);
        Near([-1, -1, 1, 1], y, 1e-4);
        Near([1, 1.5], rm);                 // 0.5 * 0 + 0.5 * mean
        Near([0.5 + (0.5 * 2), 0.5 + (0.5 * 2)], rv); // unbiased batch variance is 2
        Near([(1 - 1) / Math.Sqrt(1.5 + 1e-5), (2 - 1.5) / Math.Sqrt(1.5 + 1e-5), (3 - 1) / Math.Sqrt(1.5 + 1e-5), (4 - 1.5) / Math.Sqrt(1.5 + 1e-5)], F.BatchNorm(x, rm, rv, training: false), 1e-4);
        Near([-1, 1, -1, 1], F.LayerNorm(x, [2]), 1e-4);

        var logits = Tensor.FromArray(new float[] { 2, 0, 0, 0, 3, 1 }, 2, 3);
        var target = Tensor.FromArray(new[] { 0, 2 });
        var l0 = -Math.Log(Math.Exp(2) / (Math.Exp(2) + 2));
        var l1 = -Math.Log(Math.Exp(1) / (1 + Math.Exp(3) + Math.Exp(1)));
        Near([(l0 + l1) / 2], F.CrossEntropy(logits, target));
        Near([((2 * l0) + (0.5 * l1)) / 2.5], F.CrossEntropy(logits, target, Tensor.FromArray(new float[] { 2, 1, 0.5f })));
        Near([Math.Log(1 + Math.Exp(-3)) + 0, 2 + Math.Log(1 + Math.Exp(-2))], F.BinaryCrossEntropyWithLogits(Tensor.FromArray(new float[] { 3, 2 }), Tensor.FromArray(new float[] { 1, 0 }), reduction: Reduction.None));
        Near([2.5], F.MseLoss(Tensor.FromArray(new float[] { 1, 2 }), Tensor.FromArray(new float[] { 0, 4 })));
        Near([1.5], F.L1Loss(Tensor.FromArray(new float[] { 1, 2 }), Tensor.FromArray(new float[] { 0, 4 })));
        Near([1, 0], F.CosineSimilarity(Tensor.FromArray(new float[] { 1, 0, 0, 1 }, 2, 2), Tensor.FromArray(new float[] { 2, 0, 1, 0 }, 2, 2)));
        Near([0, 2, 2, 4], F.PairwiseSquaredDistances(Tensor.FromArray(new float[] { 0, 0, 1, 1 }, 2, 2), Tensor.FromArray(new float[] { 0, 0, 1, -1 }, 2, 2)));
        Near([1.0 / 3, 1.0 / 3, 1.0 / 3], F.Softmax(Tensor.Zeros([1, 3]), 1));
    }

    [Fact]
    public void DropoutKeepsScaleAndIsSeeded()
    {
        var x = Tensor.Ones([10000]);
        var a = F.Dropout(x, 0.3, training: true, new Generator(9)).ToFloatArray();
        var b = F.Dropout(x, 0.3, training: true, new Generator(9)).ToFloatArray();
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(v == 0 || Math.Abs(v - (1 / 0.7f)) < 1e-5));
        Assert.InRange(a.Average(), 0.95, 1.05);
        Assert.Same(x, F.Dropout(x, 0.3, training: false, new Generator(9)));
    }
}
