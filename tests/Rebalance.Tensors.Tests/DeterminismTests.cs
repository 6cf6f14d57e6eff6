using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>Same seed, same result: bit-identical with one thread and with two.</summary>
public class DeterminismTests
{
    private static float[] TrainingStep()
    {
        var gen = new Generator(3);
        var x = gen.Normal([48, 3, 16, 16]);
        var w1 = (gen.Normal([16, 3, 3, 3]) * 0.2).RequiresGrad_();
        var w2 = (gen.Normal([16, 8, 4, 4]) * 0.2).RequiresGrad_();
        var lin = (gen.Normal([10, 8 * 16 * 16]) * 0.05).RequiresGrad_();
        var h = F.Relu(F.BatchNorm(F.Conv2d(x, w1, padding: 1), null, null));
        h = F.MaxPool2d(h, 2);
        h = F.ConvTranspose2d(h, w2, stride: 2, padding: 1);
        var logits = F.Linear(F.Dropout(h.Flatten(1), 0.3, true, gen), lin);
        var loss = F.CrossEntropy(logits, Tensor.FromArray(Enumerable.Range(0, 48).Select(i => i % 10).ToArray()));
        loss.Backward();
        return [.. loss.ToFloatArray(), .. w1.Grad!.ToFloatArray(), .. w2.Grad!.ToFloatArray(), .. lin.Grad!.ToFloatArray(), .. Tensor.MatMul(gen.Normal([300, 200]), gen.Normal([200, 170])).Sum(0).ToFloatArray()];
    }

    [Fact]
    public void OneAndTwoThreadsGiveBitIdenticalResults()
    {
        var saved = Engine.NumThreads;
        try
        {
            Engine.NumThreads = 1;
            var one = TrainingStep();
            Engine.NumThreads = 2;
            var two = TrainingStep();
            var again = TrainingStep();
            Assert.Equal(one, two);
            Assert.Equal(two, again);
        }
        finally
        {
            Engine.NumThreads = saved;
        }
    }
}
