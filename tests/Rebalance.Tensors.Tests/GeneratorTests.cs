
namespace Rebalance.Tensors.Tests;

public class GeneratorTests
{
    [Fact]
    public void SameSeedSameSequenceOtherSeedOtherSequence()
    {
        Assert.Equal(new Generator(5).Normal([100]).ToFloatArray(), new Generator(5).Normal([100]).ToFloatArray());
        Assert.NotEqual(new Generator(5).Normal([100]).ToFloatArray(), new Generator(6).Normal([100]).ToFloatArray());
    }

    [Fact]
    public void TensorFillsDrawTheSameSequenceAsSingleDrawsAndLeaveTheSameState()
    {
        // The fills keep the state in a local copy; what they draw, and where the generator is left, must be
        // what drawing one value at a time gives.
        var fill = new Generator(11);
        var one = new Generator(11);
        Assert.Equal(Enumerable.Range(0, 300).Select(_ => (float)(-2 + (5 * one.NextDouble()))).ToArray(), fill.Uniform([300], -2, 3).ToFloatArray());
        Assert.Equal(Enumerable.Range(0, 77).Select(_ => -2 + (5 * one.NextDouble())).ToArray(), fill.Uniform([77], -2, 3, DType.Float64).ToDoubleArray());
        Assert.Equal(Enumerable.Range(0, 501).Select(_ => one.NextDouble() < 0.3 ? 1f : 0f).ToArray(), fill.Bernoulli([501], 0.3).ToFloatArray());
        Assert.Equal(Enumerable.Range(0, 41).Select(_ => one.NextDouble() < 0.7 ? 1.0 : 0.0).ToArray(), fill.Bernoulli([41], 0.7, DType.Float64).ToDoubleArray());
        Assert.Equal(Enumerable.Range(0, 9).Select(_ => (float)(1 + (2 * one.NextNormal()))).ToArray(), fill.Normal([9], 1, 2).ToFloatArray());
        Assert.Equal(one.NextUInt64(), fill.NextUInt64());
        Assert.Throws<ArgumentException>(() => fill.Bernoulli([3], 1.5));
        Assert.Throws<ArgumentException>(() => fill.Bernoulli([3], double.NaN));
        // Dropout's mask carries its scale: kept values are scaled by 1 / (1 - p), the rest are zero.
        var x = Tensor.Ones([400]);
        var dropped = Functional.Dropout(x, 0.25, training: true, new Generator(4)).ToFloatArray();
        var keep = new Generator(4);
        Assert.Equal(Enumerable.Range(0, 400).Select(_ => keep.NextDouble() < 0.75 ? (float)(1 / 0.75) : 0f).ToArray(), dropped);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(1000)]
    [InlineData(123457)]
    public void SkipLandsWhereThatManyDrawsWould(int draws)
    {
        var skipped = new Generator(21);
        var drawn = new Generator(21);
        skipped.Skip(draws);
        for (var i = 0; i < draws; i++)
        {
            drawn.NextUInt64();
        }
        Assert.Equal(drawn.GetState(), skipped.GetState());
        Assert.Equal(drawn.NextUInt64(), skipped.NextUInt64());
        Assert.Throws<ArgumentOutOfRangeException>(() => skipped.Skip(-1));
    }

    [Fact]
    public void LongFillsSplitBetweenThreadsDrawTheSerialSequence()
    {
        // Past 65,536 elements the fills are cut into chunks, each started from the state its first draw
        // would see serially. Odd sizes, on one thread and on three, must give the one-at-a-time values and
        // leave the generator where one-at-a-time drawing does.
        var saved = Engine.NumThreads;
        try
        {
            foreach (var threads in new[] { 1, 3 })
            {
                Engine.NumThreads = threads;
                var fill = new Generator(31);
                var one = new Generator(31);
                Assert.Equal(Enumerable.Range(0, 200_003).Select(_ => (float)(-1 + (3 * one.NextDouble()))).ToArray(), fill.Uniform([200_003], -1, 2).ToFloatArray());
                Assert.Equal(Enumerable.Range(0, 131_075).Select(_ => one.NextDouble() < 0.8 ? 1.0 : 0.0).ToArray(), fill.Bernoulli([131_075], 0.8, DType.Float64).ToDoubleArray());
                Assert.Equal(Enumerable.Range(0, 99_999).Select(_ => one.NextDouble() < 0.3 ? 1f : 0f).ToArray(), fill.Bernoulli([99_999], 0.3).ToFloatArray());
                var x = Tensor.FromArray(Enumerable.Range(0, 150_001).Select(i => (float)Math.Sin(i)).ToArray()).RequiresGrad_();
                var y = Functional.Dropout(x, 0.2, training: true, fill);
                var mask = Enumerable.Range(0, 150_001).Select(_ => one.NextDouble() < 0.8 ? (float)(1 / 0.8) : 0f).ToArray();
                var xs = x.ToFloatArray();
                Assert.Equal(xs.Select((v, i) => v * mask[i]).ToArray(), y.ToFloatArray());
                // The gradient is the upstream gradient times the mask.
                var g = Tensor.FromArray(Enumerable.Range(0, 150_001).Select(i => (float)Math.Cos(i)).ToArray());
                (y * g).Sum().Backward();
                var gs = g.ToFloatArray();
                Assert.Equal(gs.Select((v, i) => v * mask[i]).ToArray(), x.Grad!.ToFloatArray());
                Assert.Equal(one.NextUInt64(), fill.NextUInt64());
                // Probabilities 0 and 1 keep nothing and everything.
                Assert.All(fill.Bernoulli([70_000], 0).ToFloatArray(), v => Assert.Equal(0f, v));
                Assert.All(fill.Bernoulli([70_000], 1).ToFloatArray(), v => Assert.Equal(1f, v));
            }
        }
        finally
        {
            Engine.NumThreads = saved;
        }
    }

    [Fact]
    public void DistributionsHaveTheirMoments()
    {
        var g = new Generator(1);
        var n = g.Normal([200000], 2, 3, DType.Float64).ToDoubleArray();
        Assert.InRange(n.Average(), 1.97, 2.03);
        Assert.InRange(Math.Sqrt(n.Select(v => (v - 2) * (v - 2)).Average()), 2.97, 3.03);
        var u = g.Uniform([100000], -1, 3).ToDoubleArray();
        Assert.InRange(u.Min(), -1, -0.99);
        Assert.InRange(u.Max(), 2.99, 3);
        Assert.InRange(u.Average(), 0.98, 1.02);
        Assert.InRange(g.Bernoulli([100000], 0.25).ToDoubleArray().Average(), 0.24, 0.26);
    }

    [Fact]
    public void PermutationAndMultinomial()
    {
        var g = new Generator(2);
        var p = g.Permutation(1000).ToIntArray();
        Assert.Equal(Enumerable.Range(0, 1000), p.Order());
        var draws = g.Multinomial(Tensor.FromArray(new float[] { 1, 0, 3 }), 40000, replacement: true).ToIntArray();
        Assert.DoesNotContain(1, draws);
        Assert.InRange(draws.Count(d => d == 2) / 40000.0, 0.74, 0.76);
        var without = g.Multinomial(Tensor.FromArray(new float[] { 1, 1, 1, 0, 1 }), 4).ToIntArray();
        Assert.Equal([0, 1, 2, 4], without.Order());
        Assert.Throws<ArgumentException>(() => g.Multinomial(Tensor.FromArray(new float[] { 1, 1 }), 3));
        Assert.Throws<ArgumentException>(() => g.Multinomial(Tensor.FromArray(new float[] { 1, -1 }), 1));
    }

    [Fact]
    public void SavedStateContinuesTheSequenceIncludingTheSpareNormal()
    {
        var g = new Generator(17);
        g.NextNormal(); // leaves the second value of the pair as a spare
        var state = g.GetState();
        var expected = Enumerable.Range(0, 5).Select(_ => g.NextNormal()).ToArray();
        var h = new Generator(17);
        h.SetState(state);
        Assert.Equal(expected, Enumerable.Range(0, 5).Select(_ => h.NextNormal()).ToArray());
    }
}
