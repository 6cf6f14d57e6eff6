using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Nn.Tests;

/// <summary>A seeded 10-step training run of a small CNN: the loss falls, and lands where it always has.</summary>
public class TrainingTests
{
    private static float[] Run()
    {
        var gen = new Generator(42);
        var model = ModuleTests.SmallCnn(gen);
        var opt = new Adam(model.Parameters(), 1e-2);
        // A learnable task: the class is which third of the image is bright.
        var data = new Generator(7);
        var x = data.Normal([24, 1, 8, 8], 0, 0.3);
        var labels = Enumerable.Range(0, 24).Select(i => i % 3).ToArray();
        using (GradMode.NoGrad())
        {
            var mask = Tensor.Zeros([24, 1, 8, 8]).ToFloatArray();
            for (var i = 0; i < 24; i++)
            {
                for (var r = labels[i] * 3; r < (labels[i] * 3) + 2; r++)
                {
                    for (var c = 0; c < 8; c++)
                    {
                        mask[(i * 64) + (r * 8) + c] = 1.5f;
                    }
                }
            }
            x = x + Tensor.FromArray(mask, 24, 1, 8, 8);
        }
        var y = Tensor.FromArray(labels);
        var losses = new float[10];
        for (var step = 0; step < 10; step++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            var loss = F.CrossEntropy(model.Forward(x), y);
            loss.Backward();
            opt.Step();
            losses[step] = (float)loss.Item();
        }
        return losses;
    }

    [Fact]
    public void LossFallsAndIsPinned()
    {
        var losses = Run();
        Assert.True(losses[9] < 0.5 * losses[0], $"loss went from {losses[0]} to {losses[9]}");
        Assert.Equal(losses, Run());
        // Pinned: a change in any layer, initialiser or optimiser formula moves this.
        Assert.Equal(PinnedFinalLoss, losses[9], 2e-4f);
    }

    private const float PinnedFinalLoss = 0.0057577f;
}
