using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>Storage reuse through <see cref="TensorScope"/>: released tensors fail loudly, kept ones
/// survive, results do not change, and a repeated step stops allocating.</summary>
public class TensorScopeTests
{
    [Fact]
    public void TensorsMadeInsideAScopeAreReleasedWithIt()
    {
        var outside = Tensor.Ones([4]);
        Tensor inside;
        Tensor view;
        Tensor viewOfOutside;
        using (TensorScope.Begin())
        {
            inside = outside * 2.0;
            view = inside.Reshape(2, 2);
            viewOfOutside = outside.Reshape(2, 2);
            Assert.Equal(2.0, inside.GetFlat(0));
        }
        Assert.True(inside.IsReleased);
        Assert.True(view.IsReleased);
        var e = Assert.Throws<InvalidOperationException>(() => inside.Sum());
        Assert.Contains("TensorScope", e.Message, StringComparison.Ordinal);
        Assert.Contains("[4]", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => view.ToFloatArray());
        Assert.False(outside.IsReleased);
        Assert.Equal(4.0, viewOfOutside.Sum().Item());
    }

    [Fact]
    public void TrimEmptiesThePoolsAndTheNextStepStillComputesTheSame()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 64 * 96).Select(i => (float)Math.Sin(i)).ToArray(), 64, 96);
        var w = Tensor.FromArray(Enumerable.Range(0, 96 * 80).Select(i => (float)Math.Cos(i)).ToArray(), 96, 80);
        float[] Step()
        {
            using var scope = TensorScope.Begin();
            var y = F.Relu(Tensor.MatMul(x, w)) * 0.5;
            return y.Sum(0).ToFloatArray();
        }
        var first = Step();
        Assert.True(TensorMemory.PooledBytes >= 64 * 80 * 4, $"pooled {TensorMemory.PooledBytes} bytes after a scoped step");
        TensorMemory.Trim();
        Assert.Equal(0, TensorMemory.PooledBytes);
        Assert.Equal(first, Step());
        Assert.True(TensorMemory.PooledBytes > 0);
    }

    [Fact]
    public void ThePoolDropsSizesNobodyAsksForAgainButKeepsTheRepeatedStep()
    {
        var (soft, stale, hard) = (Storage.SoftLimitBytes, Storage.StaleAfterBytes, Storage.HardLimitBytes);
        TensorMemory.Trim();
        try
        {
            Storage.SoftLimitBytes = 1 << 20;
            Storage.StaleAfterBytes = 2 << 20;
            Storage.HardLimitBytes = 4 << 20;
            // A "training step": two buffers of 256 KiB asked for and given back each time.
            const int StepLength = 64 << 10;
            var a = (float[])Storage.Allocate(DType.Float32, StepLength, zero: false);
            var b = (float[])Storage.Allocate(DType.Float32, StepLength + 1, zero: false);
            var peak = 0L;
            for (var i = 0; i < 40; i++)
            {
                // Between steps, a size used once and never again (the last, shorter batch of a pass).
                Storage.Return(new float[(96 << 10) + i]);
                peak = Math.Max(peak, Storage.PooledBytes);
                Storage.Return(a);
                Storage.Return(b);
                peak = Math.Max(peak, Storage.PooledBytes);
                Assert.Same(a, Storage.Allocate(DType.Float32, StepLength, zero: false));
                Assert.Same(b, Storage.Allocate(DType.Float32, StepLength + 1, zero: false));
            }
            // 40 sizes of 384 KiB were given back, 15 MiB in all; the pool held little more than the soft
            // limit plus the stale window.
            Assert.True(peak <= (1 << 20) + (3 << 20), $"pool peaked at {peak} bytes");
            Assert.True(peak > 1 << 20, $"pool peaked at {peak} bytes: nothing was kept beyond the soft limit");

            // Sizes used within the stale window stay, over the soft limit...
            TensorMemory.Trim();
            var fresh = Enumerable.Range(0, 6).Select(i => new float[(64 << 10) + i]).ToArray();
            foreach (var f in fresh)
            {
                Storage.Return(f);
            }
            Assert.Equal((6L * (64 << 10) * 4) + (15 * 4), Storage.PooledBytes);
            // ...and the hard limit holds even when nothing is ever stale.
            Storage.StaleAfterBytes = long.MaxValue / 2;
            for (var i = 0; i < 20; i++)
            {
                Storage.Return(new float[(128 << 10) + i]);
                Assert.True(Storage.PooledBytes <= 4 << 20, $"pool at {Storage.PooledBytes} bytes");
            }
        }
        finally
        {
            (Storage.SoftLimitBytes, Storage.StaleAfterBytes, Storage.HardLimitBytes) = (soft, stale, hard);
            TensorMemory.Trim();
        }
    }

    [Fact]
    public void KeepMovesATensorToTheEnclosingScope()
    {
        Tensor kept;
        Tensor keptView;
        using (var outer = TensorScope.Begin())
        {
            using (var inner = TensorScope.Begin())
            {
                kept = inner.Keep(Tensor.Full([3], 5));
                var big = Tensor.Full([6], 1);
                keptView = inner.Keep(big.Reshape(2, 3));
            }
            Assert.False(kept.IsReleased);
            Assert.False(keptView.IsReleased);
            Assert.Equal(15.0, kept.Sum().Item());
            Assert.Equal(6.0, keptView.Sum().Item());
        }
        Assert.True(kept.IsReleased);

        Tensor survivor;
        using (var only = TensorScope.Begin())
        {
            survivor = only.Keep(Tensor.Full([2], 3));
        }
        Assert.Equal(6.0, survivor.Sum().Item());
    }

    [Fact]
    public void SuppressedTensorsBelongToNoScope()
    {
        Tensor state;
        using (TensorScope.Begin())
        {
            using (TensorScope.Suppress())
            {
                state = Tensor.Zeros([8]);
            }
            _ = state + 1.0;
        }
        Assert.False(state.IsReleased);
        Assert.Equal(0.0, state.Sum().Item());
    }

    [Fact]
    public void ScopesMustEndInReverseOrder()
    {
        var outer = TensorScope.Begin();
        var inner = TensorScope.Begin();
        Assert.Throws<InvalidOperationException>(outer.Dispose);
        inner.Dispose();
        using var scopeAfter = TensorScope.Begin();
        scopeAfter.Dispose();
    }

    [Fact]
    public void LeafGradientsOutliveTheScopeAndAccumulateInPlace()
    {
        var w = Tensor.FromArray(new float[] { 1, 2, 3 }).RequiresGrad_();
        Tensor firstGrad;
        using (TensorScope.Begin())
        {
            (w * w).Sum().Backward();
            firstGrad = w.Grad!;
        }
        Assert.False(firstGrad.IsReleased);
        Assert.Equal([2f, 4, 6], w.Grad!.ToFloatArray());
        using (TensorScope.Begin())
        {
            (w * 3.0).Sum().Backward();
        }
        Assert.Same(firstGrad, w.Grad);
        Assert.Equal([5f, 7, 9], w.Grad!.ToFloatArray());
    }

    [Fact]
    public void BackwardAfterTheScopeEndedIsAClearError()
    {
        var w = Tensor.FromArray(new float[] { 1, 2 }).RequiresGrad_();
        Tensor loss;
        using (TensorScope.Begin())
        {
            loss = (Tensor.Exp(w) * w).Sum();
        }
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("TensorScope", e.Message, StringComparison.Ordinal);
    }

    private static float[] Step(Generator gen, Tensor w1, Tensor w2, Tensor lin)
    {
        var x = gen.Normal([16, 3, 12, 12]).RequiresGrad_();
        var h = F.LeakyRelu(F.BatchNorm(F.Conv2d(x, w1, padding: 1), null, null), 0.2);
        h = F.MaxPool2d(h, 2);
        h = F.ConvTranspose2d(h, w2, stride: 2, padding: 1);
        var logits = F.Linear(F.Dropout(h.Flatten(1), 0.3, true, gen), lin);
        var loss = F.CrossEntropy(logits, Tensor.FromArray(Enumerable.Range(0, 16).Select(i => i % 10).ToArray()));
        var gx = Autograd.Grad([loss], [x], createGraph: true)[0]!;
        var total = loss + ((gx * gx).Sum() * 10.0);
        total.Backward();
        return [.. total.ToFloatArray(), .. gx.Sum().ToFloatArray()];
    }

    [Fact]
    public void ReusedStorageGivesBitIdenticalResults()
    {
        var init = new Generator(5);
        var w1 = (init.Normal([8, 3, 3, 3]) * 0.2).RequiresGrad_();
        var w2 = (init.Normal([8, 4, 4, 4]) * 0.2).RequiresGrad_();
        var lin = (init.Normal([10, 4 * 12 * 12]) * 0.05).RequiresGrad_();
        var plain = Step(new Generator(9), w1, w2, lin);
        float[] plainGrads = [.. w1.Grad!.ToFloatArray(), .. w2.Grad!.ToFloatArray(), .. lin.Grad!.ToFloatArray()];

        Storage.PoisonReturned = true;
        try
        {
            for (var round = 0; round < 3; round++)
            {
                w1.Grad!.Zero_();
                w2.Grad!.Zero_();
                lin.Grad!.Zero_();
                float[] scoped;
                using (TensorScope.Begin())
                {
                    scoped = Step(new Generator(9), w1, w2, lin);
                }
                Assert.Equal(plain, scoped);
                float[] scopedGrads = [.. w1.Grad!.ToFloatArray(), .. w2.Grad!.ToFloatArray(), .. lin.Grad!.ToFloatArray()];
                Assert.Equal(plainGrads, scopedGrads);
            }
        }
        finally
        {
            Storage.PoisonReturned = false;
            Storage.Trim();
        }
    }

    [Fact]
    public void ARepeatedStepStopsAllocatingTensorStorage()
    {
        var init = new Generator(2);
        var w = (init.Normal([32, 16, 3, 3]) * 0.1).RequiresGrad_();
        var x = init.Normal([8, 16, 16, 16]);
        long Run()
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            using (TensorScope.Begin())
            {
                var y = F.Relu(F.Conv2d(x, w, padding: 1));
                (y * y).Mean().Backward();
            }
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        Run();
        Run();
        var steady = Run();
        // One step touches about 0.6 MB of tensor storage; what remains is graph bookkeeping.
        Assert.True(steady < 64 * 1024, $"steady-state step allocated {steady} bytes");
    }
}
