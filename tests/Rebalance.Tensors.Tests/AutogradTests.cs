using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>Backward semantics, graph control and error messages.</summary>
public class AutogradTests
{
    [Fact]
    public void GradientsAccumulateAcrossBackwardCalls()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3 }).RequiresGrad_();
        (x * x).Sum().Backward();
        (x * 3.0).Sum().Backward();
        Assert.Equal([5f, 7, 9], x.Grad!.ToFloatArray());
        x.ZeroGrad();
        Assert.Null(x.Grad);
    }

    [Fact]
    public void ReusedTensorGetsTheSumOfItsPaths()
    {
        var x = Tensor.FromArray(new float[] { 2 }).RequiresGrad_();
        var y = x * x;
        var z = (y * x) + y; // x^3 + x^2
        z.Sum().Backward();
        Assert.Equal(16f, x.Grad!.ToFloatArray()[0]); // 3x^2 + 2x at 2
    }

    [Fact]
    public void NoGradAndDetachRecordNothing()
    {
        var x = Tensor.Ones([2]).RequiresGrad_();
        using (GradMode.NoGrad())
        {
            var y = x * 2.0;
            Assert.False(y.RequiresGrad);
            Assert.True(y.IsLeaf);
        }
        var d = (x * 2.0).Detach();
        Assert.False(d.RequiresGrad);
        Assert.True((x * 2.0).RequiresGrad);
        Assert.Equal("MulBackward", (x * 2.0).GradFnName);
    }

    [Fact]
    public void SecondDerivativeOfCubic()
    {
        var x = Tensor.FromArray(new double[] { 1.5, -2 }).RequiresGrad_();
        var y = (x * x * x).Sum();
        var g = Autograd.Grad([y], [x], createGraph: true)[0]!;
        Assert.True(g.RequiresGrad);
        var gg = Autograd.Grad([g.Sum()], [x])[0]!;
        Assert.Equal([9.0, -12.0], gg.ToDoubleArray()); // 6x
    }

    [Fact]
    public void GradDoesNotTouchGradFields()
    {
        var x = Tensor.Ones([3]).RequiresGrad_();
        var g = Autograd.Grad([(x * 4.0).Sum()], [x])[0]!;
        Assert.Equal([4f, 4, 4], g.ToFloatArray());
        Assert.Null(x.Grad);
    }

    [Fact]
    public void UnusedInputIsAnErrorUnlessAllowed()
    {
        var x = Tensor.Ones([2]).RequiresGrad_();
        var unused = Tensor.Ones([2]).RequiresGrad_();
        var ex = Assert.Throws<InvalidOperationException>(() => Autograd.Grad([x.Sum()], [x, unused]));
        Assert.Contains("not used", ex.Message);
        Assert.Null(Autograd.Grad([x.Sum()], [x, unused], allowUnused: true)[1]);
    }

    [Fact]
    public void BackwardOnNonScalarNeedsAGradient()
    {
        var x = Tensor.Ones([2, 3]).RequiresGrad_();
        var ex = Assert.Throws<InvalidOperationException>(() => (x * 2.0).Backward());
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("gradient", ex.Message);
        (x * 2.0).Backward(Tensor.Ones([2, 3]));
        Assert.Equal(2f, x.Grad!.ToFloatArray()[0]);
        var bad = Assert.Throws<ArgumentException>(() => (x * 2.0).Backward(Tensor.Ones([3, 2])));
        Assert.Contains("[3, 2]", bad.Message);
    }

    [Fact]
    public void ShapeMismatchNamesOpAndShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Ones([2, 3]) + Tensor.Ones([4]));
        Assert.Contains("add", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("[4]", ex.Message);
        var mm = Assert.Throws<ArgumentException>(() => Tensor.MatMul(Tensor.Ones([2, 3]), Tensor.Ones([4, 5])));
        Assert.Contains("matmul", mm.Message);
        Assert.Contains("[2, 3]", mm.Message);
        Assert.Contains("[4, 5]", mm.Message);
        var conv = Assert.Throws<ArgumentException>(() => F.Conv2d(Tensor.Ones([1, 3, 8, 8]), Tensor.Ones([4, 2, 3, 3])));
        Assert.Contains("conv2d", conv.Message);
        Assert.Contains("[1, 3, 8, 8]", conv.Message);
        Assert.Contains("[4, 2, 3, 3]", conv.Message);
        var reshape = Assert.Throws<ArgumentException>(() => Tensor.Ones([2, 3]).Reshape(4, 2));
        Assert.Contains("[2, 3]", reshape.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Ones([2]) * Tensor.Ones([2], DType.Float64));
        Assert.Throws<ArgumentException>(() => F.Linear(Tensor.Ones([2, 3]), Tensor.Ones([4, 5])));
        Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Ones([2, 3]), Tensor.FromArray(new[] { 0, 3 })));
    }

    [Fact]
    public void NanAndInfPropagateThroughOps()
    {
        var x = Tensor.FromArray(new float[] { float.NaN, float.PositiveInfinity, 1 });
        Assert.True(float.IsNaN(Tensor.Relu(x).ToFloatArray()[0]));
        Assert.True(float.IsNaN(Tensor.Clamp(x, -1, 1).ToFloatArray()[0]));
        Assert.True(float.IsNaN(x.Sum().ToFloatArray()[0]));
        Assert.True(float.IsNaN(x.Max().ToFloatArray()[0]));
        Assert.True(float.IsNaN(Tensor.Maximum(x, Tensor.Zeros([3])).ToFloatArray()[0]));
        Assert.True(float.IsPositiveInfinity(Tensor.Exp(x).ToFloatArray()[1]));
        Assert.True(float.IsNaN(F.Softmax(x.Reshape(1, 3), 1).ToFloatArray()[2]));
        var img = Tensor.Ones([1, 1, 4, 4]);
        using (GradMode.NoGrad())
        {
            var data = img.ToFloatArray();
            data[5] = float.NaN;
            img = Tensor.FromArray(data, 1, 1, 4, 4);
        }
        Assert.True(float.IsNaN(F.MaxPool2d(img, 2).ToFloatArray()[0]));
        Assert.Contains(F.Conv2d(img, Tensor.Ones([1, 1, 3, 3])).ToFloatArray(), float.IsNaN);
    }

    [Fact]
    public void RequiresGradOnlyOnFloatLeaves()
    {
        var x = Tensor.Ones([2]).RequiresGrad_();
        Assert.Throws<InvalidOperationException>(() => (x * 2.0).RequiresGrad = false);
        Assert.Throws<InvalidOperationException>(() => Tensor.FromArray(new[] { 1 }).RequiresGrad = true);
    }

    [Fact]
    public void InPlaceCopyIsRefusedWhileRecording()
    {
        var w = Tensor.Ones([2]).RequiresGrad_();
        Assert.Throws<InvalidOperationException>(() => w.CopyFrom_(Tensor.Zeros([2])));
        using (GradMode.NoGrad())
        {
            w.CopyFrom_(Tensor.Zeros([2]));
        }
        Assert.Equal([0f, 0], w.ToFloatArray());
    }

    [Fact]
    public void SmallNetworkLossFallsUnderGradientDescent()
    {
        // A seeded two-layer network on a fixed batch: ten plain SGD steps must lower the loss.
        var gen = new Generator(11);
        var x = gen.Normal([32, 1, 6, 6]);
        var labels = Tensor.FromArray(Enumerable.Range(0, 32).Select(i => i % 3).ToArray());
        var w1 = (gen.Normal([4, 1, 3, 3]) * 0.5).RequiresGrad_();
        var w2 = (gen.Normal([3, 64]) * 0.1).RequiresGrad_();
        var losses = new List<double>();
        for (var step = 0; step < 10; step++)
        {
            var h = F.LeakyRelu(F.Conv2d(x, w1, padding: 0), 0.2).Flatten(1);
            var loss = F.CrossEntropy(F.Linear(h, w2), labels);
            losses.Add(loss.Item());
            w1.ZeroGrad();
            w2.ZeroGrad();
            loss.Backward();
            using (GradMode.NoGrad())
            {
                w1.CopyFrom_(w1 - (w1.Grad! * 0.1));
                w2.CopyFrom_(w2 - (w2.Grad! * 0.1));
            }
        }
        Assert.True(losses[^1] < losses[0] * 0.9, $"loss went {losses[0]:F4} -> {losses[^1]:F4}");
        Assert.InRange(losses[0], 1.0, 1.6); // about log(3) for small random logits
    }
}
