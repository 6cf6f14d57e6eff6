namespace Rebalance.Evaluation.Tests;

/// <summary>Search candidates and successive-halving rungs, on hand-counted cases.</summary>
public class SearchSpecTests
{
    [Theory]
    [InlineData(1, 3, new[] { 1.0 })]
    [InlineData(2, 3, new[] { 1.0 })]
    [InlineData(3, 3, new[] { 1 / 3.0, 1.0 })]
    [InlineData(8, 3, new[] { 1 / 3.0, 1.0 })]
    [InlineData(9, 3, new[] { 1 / 9.0, 1 / 3.0, 1.0 })]
    [InlineData(27, 3, new[] { 1 / 27.0, 1 / 9.0, 1 / 3.0, 1.0 })]
    [InlineData(4, 2, new[] { 0.25, 0.5, 1.0 })]
    public void HalvingRungsEndAtTheFullBudget(int candidates, int eta, double[] budgets)
    {
        var spec = new SearchSpec([new SearchDimension("lr", ["1", "2"])], "halving", candidates, eta);
        Assert.Equal(budgets, spec.Rungs(candidates));
        // Kept per rung: the best n / eta (9 -> 3 -> 1 with eta 3), never fewer than one.
        Assert.Equal(9 / eta, spec.Keep(9));
        Assert.Equal(1, spec.Keep(eta - 1));
        Assert.Equal([1.0], (spec with { Strategy = "random" }).Rungs(candidates));
    }

    [Fact]
    public void GridIsEveryCombinationWithTheFirstSettingSlowest()
    {
        var spec = new SearchSpec([new SearchDimension("a", ["1", "2"]), new SearchDimension("b", ["x", "y", "z"])], "grid", 6);
        Assert.Equal(["a=1, b=x", "a=1, b=y", "a=1, b=z", "a=2, b=x", "a=2, b=y", "a=2, b=z"], spec.Candidates("m").Select(SearchSpec.Text));
    }

    [Fact]
    public void RandomDrawsAreDistinctInRangeAndFixedByTheLabel()
    {
        var spec = new SearchSpec([new SearchDimension("lr", null, 1e-5, 1e-2, Log: true), new SearchDimension("k", null, 1, 9, Integer: true), new SearchDimension("loss", ["hinge", "bce"])], "random", 20);
        var a = spec.Candidates("cgan").Select(SearchSpec.Text).ToList();
        Assert.Equal(a, spec.Candidates("cgan").Select(SearchSpec.Text));
        Assert.NotEqual(a, spec.Candidates("cgan-2").Select(SearchSpec.Text));
        Assert.Equal(20, a.Distinct().Count());
        var lrs = spec.Candidates("cgan").Select(c => double.Parse(c["lr"], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.All(lrs, v => Assert.InRange(v, 1e-5, 1e-2));
        // Log-uniform: about half the draws below the geometric middle (3.2e-4), not 95% as uniform would give.
        Assert.InRange(lrs.Count(v => v < 3.16e-4), 5, 15);
        Assert.All(spec.Candidates("cgan"), c => Assert.Matches("^[1-9]$", c["k"]));
        // Three significant digits.
        Assert.Equal("0.000123", new SearchDimension("lr", null, 0, 1).Format(0.00012345));
        // Only 2 distinct settings exist: the draws stop there.
        Assert.Equal(2, new SearchSpec([new SearchDimension("x", ["1", "2"])], "random", 10).Candidates("m").Count);
    }
}
