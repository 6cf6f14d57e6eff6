using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>The op profiler charges forward ops, backward rules and labelled regions, and only while active.</summary>
public class OpProfileTests
{
    [Fact]
    public void ChargesForwardBackwardAndRegionsWhileActive()
    {
        var gen = new Generator(1);
        var w = gen.Normal([8, 4]).RequiresGrad_();
        var x = gen.Normal([16, 8]);
        OpProfile profile;
        using (profile = OpProfile.Start())
        {
            for (var i = 0; i < 3; i++)
            {
                var loss = F.Relu(Tensor.MatMul(x, w)).Sum();
                loss.Backward();
                using (OpProfile.Region("update"))
                {
                    w.Grad!.Zero_();
                }
            }
        }
        var rows = profile.Entries;
        Assert.Contains(rows, r => r is { Phase: "forward", Op: "MatMul [16, 4]", Calls: 3 });
        Assert.Contains(rows, r => r is { Phase: "forward", Op: "Relu [16, 4]", Calls: 3 });
        Assert.Contains(rows, r => r is { Phase: "backward", Op: "MatMul [16, 4]", Calls: 3 });
        Assert.Contains(rows, r => r is { Phase: "other", Op: "update", Calls: 3 });
        // Ops run inside backward rules are not charged as forward ops.
        Assert.DoesNotContain(rows, r => r.Phase == "forward" && r.Calls > 3);
        Assert.All(rows, r => Assert.True(r.Seconds >= 0));
        Assert.Equal(rows.Sum(r => r.Seconds), profile.TotalSeconds, 9);
        Assert.Contains("MatMul [16, 4]", profile.Format(steps: 3), StringComparison.Ordinal);

        // After disposal nothing more is charged.
        var before = rows.Count;
        F.Relu(Tensor.MatMul(x, w)).Sum().Backward();
        Assert.Equal(before, profile.Entries.Count);
        Assert.Equal(3, profile.Entries.Single(r => r is { Phase: "forward", Op: "MatMul [16, 4]" }).Calls);
    }
}
