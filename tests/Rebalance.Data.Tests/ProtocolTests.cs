using Rebalance.Data.Protocols;

namespace Rebalance.Data.Tests;

public class ProtocolTests
{
    private static readonly int[] Balanced = [.. Enumerable.Repeat(60, 10)];

    [Theory]
    [InlineData("none", new[] { 60, 60, 60, 60, 60, 60, 60, 60, 60, 60 })]
    [InlineData("counts:40,20,10,7,5,3,2,1,1,0", new[] { 40, 20, 10, 7, 5, 3, 2, 1, 1, 0 })]
    [InlineData("drop:5:0.99", new[] { 60, 60, 60, 60, 60, 1, 60, 60, 60, 60 })]
    [InlineData("drop:3,5:0.5", new[] { 60, 60, 60, 30, 60, 30, 60, 60, 60, 60 })]
    [InlineData("long-tail:10", new[] { 60, 46, 35, 27, 21, 16, 12, 10, 7, 6 })]
    [InlineData("step:5,6,7,8,9:10", new[] { 60, 60, 60, 60, 60, 6, 6, 6, 6, 6 })]
    [InlineData("single-class:3:0.05", new[] { 60, 60, 60, 3, 60, 60, 60, 60, 60, 60 })]
    [InlineData("fmnist-lt", new[] { 60, 100, 200, 300, 400, 500, 600, 700, 800, 900 })]
    public void TargetCounts(string spec, int[] expected)
    {
        Assert.Equal(expected, ImbalanceProtocol.Parse(spec).TargetCounts(Balanced, [.. Enumerable.Range(0, 10).Select(i => $"{i}")]));
    }

    [Fact]
    public void PresetsAreThePublishedProfiles()
    {
        Assert.Equal([4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40], ImbalanceProtocol.Parse("ir100").TargetCounts(Enumerable.Repeat(6000, 10).ToArray(), []));
        Assert.Equal(54, ImbalanceProtocol.Parse("mnist5-99").TargetCounts([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], [])[5]);
    }

    [Fact]
    public void ApplyIsSeededAndKeepsOrderAndOnlyTheChosenClassesChange()
    {
        var data = TestData.Make([20, 20, 20]);
        var p = ImbalanceProtocol.Parse("counts:20,5,2");
        var a = p.Apply(data, 1);
        var b = p.Apply(data, 1);
        var c = p.Apply(data, 2);
        Assert.Equal([20, 5, 2], a.ClassCounts());
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(Enumerable.Range(0, a.Count).Select(i => a.Image(i).ToArray()), Enumerable.Range(0, b.Count).Select(i => b.Image(i).ToArray()));
        Assert.NotEqual(Enumerable.Range(0, a.Count).Select(i => Convert.ToBase64String(a.Image(i))), Enumerable.Range(0, c.Count).Select(i => Convert.ToBase64String(c.Image(i))));
    }

    [Theory]
    [InlineData("bogus", "unknown protocol")]
    [InlineData("counts:1,x", "'x' is not a non-negative integer")]
    [InlineData("drop:5:1.5", "not a fraction")]
    [InlineData("long-tail:0.5", "at least 1")]
    [InlineData("single-class:1,2:0.1", "exactly one class")]
    public void BadSpecsSayWhatWasExpected(string spec, string expected)
    {
        Assert.Contains(expected, Assert.Throws<DataException>(() => ImbalanceProtocol.Parse(spec)).Message);
    }

    [Fact]
    public void ProtocolsThatDoNotFitTheDatasetAreRefused()
    {
        var data = TestData.Make([5, 5, 5]);
        Assert.Contains("asks for 6 images of class 0", Assert.Throws<DataException>(() => ImbalanceProtocol.Parse("counts:6,1,1").Apply(data, 0)).Message);
        Assert.Contains("gives 10 counts", Assert.Throws<DataException>(() => ImbalanceProtocol.Parse("ir100").Apply(data, 0)).Message);
        Assert.Contains("names class 5", Assert.Throws<DataException>(() => ImbalanceProtocol.Parse("drop:5:0.5").Apply(data, 0)).Message);
    }

    [Fact]
    public void StratifiedSplitKeepsProportionsAndEveryImage()
    {
        var data = TestData.Make([50, 20, 3, 1]);
        var (train, val) = Splits.Stratified(data, 0.2, 3);
        Assert.Equal([10, 4, 1, 0], val.ClassCounts());
        Assert.Equal([40, 16, 2, 1], train.ClassCounts());
        var all = Enumerable.Range(0, train.Count).Select(i => Convert.ToBase64String(train.Image(i)))
            .Concat(Enumerable.Range(0, val.Count).Select(i => Convert.ToBase64String(val.Image(i)))).Order();
        Assert.Equal(Enumerable.Range(0, data.Count).Select(i => Convert.ToBase64String(data.Image(i))).Order(), all);
    }
}

/// <summary>Classes from attributes: <c>threshold:</c> relabels both splits, then counts apply.</summary>
public class ThresholdProtocolTests
{
    /// <summary>12 images (4x4) of three classes with attributes a = i and b = 10 - i.</summary>
    private static Dataset WithAttributes(int n = 12, string name = "attr") =>
        new(name, new byte[n * 16], [.. Enumerable.Range(0, n).Select(i => i % 3)], 1, 4, 4, ["x", "y", "z"], null, ["a", "b"],
            [.. Enumerable.Range(0, n).SelectMany(i => new[] { (float)i, 10f - i })]);

    [Fact]
    public void ImagesMeetingEveryConditionFormTheSecondClass()
    {
        var p = ImbalanceProtocol.Parse("threshold:a>=3&b>2.5");
        var (train, test) = p.Relabel(WithAttributes(), WithAttributes(6, "test"));
        // a >= 3 and 10 - a > 2.5: a from 3 to 7.
        Assert.Equal(["not a>=3&b>2.5", "a>=3&b>2.5"], train.ClassNames);
        Assert.Equal([0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0], train.Labels);
        Assert.Equal([0, 0, 0, 1, 1, 1], test!.Labels);
        Assert.Equal(2.0f, train.Attributes(2)[0]);
        // Without "+PROTOCOL" every image stays; with one, its counts apply to the relabelled split.
        Assert.Equal(12, p.Apply(train, 0).Count);
        var counted = ImbalanceProtocol.Parse("threshold:a>=3&b>2.5+counts:4,2");
        var (t2, _) = counted.Relabel(WithAttributes(), null);
        Assert.Equal([4, 2], counted.Apply(t2, 1).ClassCounts());
        Assert.Equal([1, 11], ImbalanceProtocol.Parse("threshold:a<1").Relabel(WithAttributes(), null).Train.ClassCounts().Reverse());
    }

    [Theory]
    [InlineData("threshold:a=>3", "'a=>3' is not ATTRIBUTE>VALUE")]
    [InlineData("threshold:a>three", "'a>three' is not ATTRIBUTE>VALUE")]
    [InlineData("threshold:>3", "'>3' is not ATTRIBUTE>VALUE")]
    [InlineData("threshold:a>1+threshold:b<2", "one threshold per protocol")]
    [InlineData("threshold:a>1+sideways", "unknown protocol 'sideways'")]
    public void BadThresholdsSayWhatWasExpected(string spec, string expected) =>
        Assert.Contains(expected, Assert.Throws<DataException>(() => ImbalanceProtocol.Parse(spec)).Message, StringComparison.Ordinal);

    [Fact]
    public void MissingAttributesAndUnknownValuesAreRefused()
    {
        var e = Assert.Throws<DataException>(() => ImbalanceProtocol.Parse("threshold:slant>0").Relabel(WithAttributes(), null));
        Assert.Contains("attr has no attribute 'slant' (its attributes: a, b)", e.Message, StringComparison.Ordinal);
        var plain = new Dataset("plain", new byte[32], [0, 1], 1, 4, 4, ["x", "y"]);
        Assert.Contains("it has no metadata.csv attributes", Assert.Throws<DataException>(() => ImbalanceProtocol.Parse("threshold:a>0").Relabel(plain, null)).Message, StringComparison.Ordinal);
        var unknown = WithAttributes().WithSynthetic(new byte[16], [0]);
        Assert.Contains("image 12 of attr has no value of 'a' (NaN)", Assert.Throws<DataException>(() => ImbalanceProtocol.Parse("threshold:a>0").Relabel(unknown, null)).Message, StringComparison.Ordinal);
    }
}
