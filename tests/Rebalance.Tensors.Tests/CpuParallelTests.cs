using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors.Tests;

/// <summary>The persistent worker pool: every index once, nested calls inline, errors reach the caller.</summary>
public class CpuParallelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void CoversEveryIndexOnceIncludingNestedCalls(int threads)
    {
        var saved = Engine.NumThreads;
        try
        {
            Engine.NumThreads = threads;
            for (var round = 0; round < 50; round++)
            {
                var hits = new int[1000];
                CpuParallel.For(hits.Length, 10, (s, e) =>
                {
                    for (var i = s; i < e; i++)
                    {
                        Interlocked.Increment(ref hits[i]);
                    }
                });
                var nested = new int[8 * 64];
                CpuParallel.ForEach(8, t => CpuParallel.For(64, 1, (s, e) =>
                {
                    for (var i = s; i < e; i++)
                    {
                        Interlocked.Increment(ref nested[t * 64 + i]);
                    }
                }));
                Assert.All(hits, h => Assert.Equal(1, h));
                Assert.All(nested, h => Assert.Equal(1, h));
            }
            Assert.True(CpuParallel.WorkerCount >= threads - 1);
        }
        finally
        {
            Engine.NumThreads = saved;
        }
    }

    [Fact]
    public void AnExceptionInAChunkReachesTheCallerAndThePoolKeepsWorking()
    {
        var saved = Engine.NumThreads;
        try
        {
            Engine.NumThreads = 2;
            var e = Assert.Throws<InvalidOperationException>(() => CpuParallel.ForEach(4, i =>
            {
                if (i == 3)
                {
                    throw new InvalidOperationException("chunk 3 failed");
                }
            }));
            Assert.Equal("chunk 3 failed", e.Message);
            var sum = 0L;
            CpuParallel.For(100, 1, (s, end) => Interlocked.Add(ref sum, Enumerable.Range(s, end - s).Sum()));
            Assert.Equal(4950, sum);
        }
        finally
        {
            Engine.NumThreads = saved;
        }
    }
}
