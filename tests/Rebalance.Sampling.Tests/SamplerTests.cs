using Rebalance.Data;
using Rebalance.Tensors;

namespace Rebalance.Sampling.Tests;

public class SamplerTests
{
    /// <summary>Three classes of 6x6 images around grey levels <paramref name="gap"/> apart, with counts
    /// 40, 12 and 5. The default gap separates the classes; a gap of 15 makes them overlap, so that
    /// Borderline-SMOTE finds images in danger and ADASYN finds other-class neighbours.</summary>
    internal static Dataset Imbalanced(ulong seed = 7, int[]? counts = null, int gap = 70)
    {
        counts ??= [40, 12, 5];
        var gen = new Generator(seed);
        var labels = new List<int>();
        var pixels = new List<byte>();
        for (var c = 0; c < counts.Length; c++)
        {
            for (var i = 0; i < counts[c]; i++)
            {
                labels.Add(c);
                for (var j = 0; j < 36; j++)
                {
                    pixels.Add((byte)Math.Clamp(60 + (gap * c) + (gen.NextNormal() * 25), 0, 255));
                }
            }
        }
        return new Dataset("toy", [.. pixels], [.. labels], 1, 6, 6, [.. Enumerable.Range(0, counts.Length).Select(c => $"c{c}")]);
    }

    public static TheoryData<string> OverSamplers => ["random-over", "smote", "borderline-smote", "adasyn", "augment-over"];

    [Theory]
    [MemberData(nameof(OverSamplers))]
    public void OverSamplersHitExactTargetsAndFlagOnlyAddedImages(string name)
    {
        var data = name is "borderline-smote" or "adasyn" ? Imbalanced(gap: 15) : Imbalanced();
        var r = Rebalancers.Create(name, new MethodSettings(name));
        foreach (var (spec, expected) in new (string, int[])[] { ("auto", [40, 40, 40]), ("ratio:0.5", [40, 20, 20]), ("counts:40,13,30", [40, 13, 30]) })
        {
            var result = r.FitResample(data, SamplingStrategy.Parse(spec), 3);
            Assert.Empty(result.Notes);
            Assert.Equal(expected, result.Train.ClassCounts());
            Assert.Equal(expected.Sum() - data.Count, result.Train.SyntheticCount);
            for (var i = 0; i < data.Count; i++)
            {
                Assert.False(result.Train.IsSynthetic(i));
                Assert.True(result.Train.Image(i).SequenceEqual(data.Image(i)));
            }
            // Same seed, same images.
            var again = r.FitResample(data, SamplingStrategy.Parse(spec), 3);
            Assert.True(Enumerable.Range(0, again.Train.Count).All(i => again.Train.Image(i).SequenceEqual(result.Train.Image(i))));
        }
    }

    [Fact]
    public void CopiesKeepTheirAttributesAndMadeImagesHaveNone()
    {
        // Attribute i of image i is i, so a copy shows which image it came from.
        var plain = Imbalanced();
        var pixels = Enumerable.Range(0, plain.Count).SelectMany(i => plain.Image(i).ToArray()).ToArray();
        var data = new Dataset("toy", pixels, [.. plain.Labels], 1, 6, 6, [.. plain.ClassNames], null, ["index"], [.. Enumerable.Range(0, plain.Count).Select(i => (float)i)]);
        var over = Rebalancers.Create("random-over", new MethodSettings("random-over")).FitResample(data, SamplingStrategy.Auto, 1).Train;
        for (var i = data.Count; i < over.Count; i++)
        {
            var source = (int)over.Attributes(i)[0];
            Assert.True(over.Image(i).SequenceEqual(data.Image(source)));
        }
        var under = Rebalancers.Create("random-under", new MethodSettings("random-under")).FitResample(data, SamplingStrategy.Auto, 1).Train;
        Assert.All(Enumerable.Range(0, under.Count), i => Assert.True(under.Image(i).SequenceEqual(data.Image((int)under.Attributes(i)[0]))));
        var smote = Rebalancers.Create("smote", new MethodSettings("smote")).FitResample(data, SamplingStrategy.Auto, 1).Train;
        Assert.All(Enumerable.Range(data.Count, smote.Count - data.Count), i => Assert.True(float.IsNaN(smote.Attributes(i)[0])));
    }

    [Fact]
    public void RandomUnderSamplingKeepsExactCountsOfRealImages()
    {
        var data = Imbalanced();
        var r = Rebalancers.Create("random-under", new MethodSettings("random-under"));
        Assert.Equal([5, 5, 5], r.FitResample(data, SamplingStrategy.Auto, 1).Train.ClassCounts());
        Assert.Equal([10, 10, 5], r.FitResample(data, SamplingStrategy.Parse("ratio:0.5"), 1).Train.ClassCounts());
        Assert.Equal([7, 12, 0], r.FitResample(data, SamplingStrategy.Parse("counts:7,12,0"), 1).Train.ClassCounts());
        var kept = r.FitResample(data, SamplingStrategy.Auto, 1).Train;
        Assert.Equal(0, kept.SyntheticCount);
        var originals = Enumerable.Range(0, data.Count).Select(i => Convert.ToHexString(data.Image(i))).ToHashSet();
        Assert.All(Enumerable.Range(0, kept.Count), i => Assert.Contains(Convert.ToHexString(kept.Image(i)), originals));
        var e = Assert.Throws<ArgumentException>(() => r.FitResample(data, SamplingStrategy.Parse("counts:7,13,0"), 1));
        Assert.Contains("class 1", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("smote", 3)]
    [InlineData("smote", 1)]
    [InlineData("adasyn", 3)]
    [InlineData("borderline-smote", 3)]
    public void SmoteImagesLieOnSegmentsBetweenSameClassNeighbours(string name, int k)
    {
        var data = name is "borderline-smote" or "adasyn" ? Imbalanced(gap: 15) : Imbalanced();
        var settings = new MethodSettings(name, new Dictionary<string, string> { ["k"] = k.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var result = Rebalancers.Create(name, settings).FitResample(data, SamplingStrategy.Auto, 11).Train;
        for (var c = 1; c < 3; c++)
        {
            var members = data.IndicesOf(c);
            var nn = BruteForceNeighbours(data, members, k);
            foreach (var s in Enumerable.Range(data.Count, result.Count - data.Count).Where(i => result.Label(i) == c))
            {
                var img = result.Image(s);
                var onSegment = false;
                for (var a = 0; a < members.Length && !onSegment; a++)
                {
                    foreach (var b in nn[a])
                    {
                        if (OnSegment(data.Image(members[a]), data.Image(members[b]), img))
                        {
                            onSegment = true;
                            break;
                        }
                    }
                }
                Assert.True(onSegment, $"synthetic image {s} of class {c} is not on a segment between a class-{c} image and one of its {k} nearest class-{c} neighbours");
            }
        }
    }

    [Fact]
    public void BorderlineSmoteLeavesAClassWithoutDangerAsItIsAndSaysSo()
    {
        // Separated classes: no image has half of its neighbours in other classes. imbalanced-learn's
        // BorderlineSMOTE then adds nothing to the class; a silent switch to SMOTE would make the row a copy.
        // (Class 2 has 5 images, so at least 6 of any image's 10 neighbours are of other classes: it is in danger.)
        var data = Imbalanced();
        var result = Rebalancers.Create("borderline-smote", new MethodSettings("borderline-smote")).FitResample(data, SamplingStrategy.Auto, 3);
        Assert.Equal([40, 12, 40], result.Train.ClassCounts());
        Assert.Equal(35, result.Train.SyntheticCount);
        Assert.Equal("class-unchanged", Assert.Single(result.Notes).Kind);
        Assert.Contains("class 1", result.Notes[0].Source, StringComparison.Ordinal);
        Assert.Contains("no image is in danger", result.Notes[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void AdasynRefusesAClassWithoutOtherClassNeighbours()
    {
        var data = Imbalanced();
        var e = Assert.Throws<ArgumentException>(() => Rebalancers.Create("adasyn", new MethodSettings("adasyn")).FitResample(data, SamplingStrategy.Auto, 3));
        Assert.Contains("class 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("use smote", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SmoteOnASingleImageCopiesItAndSaysSo()
    {
        var data = Imbalanced(counts: [10, 1]);
        var result = Rebalancers.Create("smote", new MethodSettings("smote")).FitResample(data, SamplingStrategy.Auto, 3);
        Assert.Equal([10, 10], result.Train.ClassCounts());
        Assert.Equal("copies", Assert.Single(result.Notes).Kind);
    }

    [Fact]
    public void NeighbourSearchMatchesBruteForce()
    {
        var data = Imbalanced(3, [300, 250, 200]);
        var all = Enumerable.Range(0, data.Count).ToArray();
        var fast = new Neighbors(data).Search(all, 4);
        var slow = BruteForceNeighbours(data, all, 4);
        for (var i = 0; i < all.Length; i++)
        {
            // Equal distances may be ordered differently by float rounding; compare distances.
            Assert.Equal(slow[i].Select(j => Dist(data, i, j)), fast[i].Select(j => Dist(data, i, j)));
            Assert.DoesNotContain(i, fast[i]);
        }
    }

    [Fact]
    public void ClassWeightsAreBalancedWeights()
    {
        var data = Imbalanced();
        var w = Rebalancers.Create("class-weights", new MethodSettings("class-weights")).FitResample(data, SamplingStrategy.Auto, 0).ClassWeights!;
        Assert.Equal(57.0 / (3 * 40), w[0], 5);
        Assert.Equal(57.0 / (3 * 12), w[1], 5);
        Assert.Equal(57.0 / (3 * 5), w[2], 5);
    }

    [Fact]
    public void BadNamesStrategiesAndSettingsNameTheProblem()
    {
        Assert.Contains("unknown method 'smoot'", Assert.Throws<ArgumentException>(() => Rebalancers.Create("smoot", new MethodSettings("smoot"))).Message, StringComparison.Ordinal);
        var e = Assert.Throws<SettingException>(() => Rebalancers.Create("smote", new MethodSettings("smote", new Dictionary<string, string> { ["neighbours"] = "3" })));
        Assert.Equal("neighbours", e.Key);
        Assert.Contains("known: k", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<SettingException>(() => Rebalancers.Create("smote", new MethodSettings("smote", new Dictionary<string, string> { ["k"] = "five" })));
        Assert.Contains("expected an integer from 1 to 100, got 'five'", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SamplingStrategy.Parse("ratio:1.5"));
        Assert.Throws<ArgumentException>(() => SamplingStrategy.Parse("most"));
        var data = Imbalanced();
        Assert.Contains("3 classes", Assert.Throws<ArgumentException>(() => SamplingStrategy.Parse("counts:1,2").Targets(data.ClassCounts(), SamplingKind.Over)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FillStrategyGrowsOnlyTheNamedClassesToAFractionOfTheLargest()
    {
        int[] counts = [400, 120, 3];
        Assert.Equal([400, 120, 40], SamplingStrategy.Parse("fill:2=0.1").Targets(counts, SamplingKind.Over));
        Assert.Equal([400, 200, 400], SamplingStrategy.Parse("fill:2=1, 1=0.5").Targets(counts, SamplingKind.Over));
        // A class already above its fill level is left alone.
        Assert.Equal([400, 120, 3], SamplingStrategy.Parse("fill:1=0.2").Targets(counts, SamplingKind.Over));
        Assert.Equal("fill:2=0.1", SamplingStrategy.Parse("fill:2=0.10").Spec);
        Assert.Contains("fills classes up", Assert.Throws<ArgumentException>(() => SamplingStrategy.Parse("fill:2=0.1").Targets(counts, SamplingKind.Under)).Message, StringComparison.Ordinal);
        Assert.Contains("names class 5", Assert.Throws<ArgumentException>(() => SamplingStrategy.Parse("fill:5=0.1").Targets(counts, SamplingKind.Over)).Message, StringComparison.Ordinal);
        Assert.Contains("'2=1.5' is not CLASS=FRACTION", Assert.Throws<ArgumentException>(() => SamplingStrategy.Parse("fill:2=1.5")).Message, StringComparison.Ordinal);
        Assert.Contains("class 2 is given twice", Assert.Throws<ArgumentException>(() => SamplingStrategy.Parse("fill:2=0.5,2=1")).Message, StringComparison.Ordinal);
    }

    private static bool OnSegment(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> s)
    {
        // Best lambda by least squares, then every pixel within rounding of a + lambda (b - a).
        double num = 0, den = 0;
        for (var j = 0; j < a.Length; j++)
        {
            num += (s[j] - a[j]) * (double)(b[j] - a[j]);
            den += (b[j] - a[j]) * (double)(b[j] - a[j]);
        }
        var lambda = den == 0 ? 0 : Math.Clamp(num / den, 0, 1);
        for (var j = 0; j < a.Length; j++)
        {
            if (Math.Abs(a[j] + (lambda * (b[j] - a[j])) - s[j]) > 0.5 + (Math.Abs(b[j] - a[j]) * 0.02))
            {
                return false;
            }
        }
        return true;
    }

    private static double Dist(Dataset d, int i, int j)
    {
        double s = 0;
        for (var p = 0; p < d.ImageSize; p++)
        {
            var x = (d.Image(i)[p] - d.Image(j)[p]) / 255.0;
            s += x * x;
        }
        return Math.Round(s, 3);
    }

    private static int[][] BruteForceNeighbours(Dataset data, int[] members, int k) =>
        [.. members.Select((m, a) => Enumerable.Range(0, members.Length).Where(b => b != a)
            .OrderBy(b => Dist(data, m, members[b])).ThenBy(b => b).Take(k).ToArray())];
}
