using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>The README's example, kept compiling and correct.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void GradientPenaltyReachesTheWeights()
    {
        var gen = new Generator(seed: 0);
        var x = gen.Normal([64, 1, 28, 28]);
        var w = (gen.Normal([32, 1, 3, 3]) * 0.1).RequiresGrad_();
        var y = F.LeakyRelu(F.Conv2d(x, w, padding: 1), 0.2);
        var loss = (y * y).Mean();
        loss.Backward();
        Assert.NotNull(w.Grad);

        var xi = x.Clone().RequiresGrad_();
        var score = F.Conv2d(xi, w, padding: 1).Sum();
        var gx = Autograd.Grad([score], [xi], createGraph: true)[0]!;
        var penalty = ((Tensor.Sqrt((gx * gx).Sum([1, 2, 3])) - 1.0) * (Tensor.Sqrt((gx * gx).Sum([1, 2, 3])) - 1.0)).Mean();
        w.ZeroGrad();
        penalty.Backward();
        Assert.NotNull(w.Grad);
        Assert.Contains(w.Grad!.ToFloatArray(), v => v != 0);
    }
}
