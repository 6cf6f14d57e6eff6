using Rebalance.Data;
using Rebalance.Generative.Methods;
using Rebalance.Sampling;

namespace Rebalance.Evaluation.Tests;

/// <summary>The filter and augment levers of generative methods.</summary>
public sealed class GeneratedImageLeverTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-levers-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>28x28 images: class c has a bright band at rows 4+8c.</summary>
    private static Dataset Bands(int[] counts)
    {
        var rng = new Random(3);
        var pixels = new List<byte>();
        var labels = new List<int>();
        for (var c = 0; c < counts.Length; c++)
        {
            for (var i = 0; i < counts[c]; i++)
            {
                for (var j = 0; j < 784; j++)
                {
                    pixels.Add((byte)Math.Clamp((Math.Abs((j / 28) - (4 + (8 * c))) <= 2 ? 180 : 20) + rng.Next(-30, 30), 0, 255));
                }
                labels.Add(c);
            }
        }
        return new Dataset("bands", [.. pixels], [.. labels], 1, 28, 28, [.. Enumerable.Range(0, counts.Length).Select(c => $"class{c}")]);
    }

    private const string Gan = "steps=4,batch_size=4,z_dim=8";

    private IRebalancer Method(string extra)
    {
        var values = (Gan + extra).Split(',').Select(kv => kv.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
        return MethodCatalog.Create("gan-per-class", new MethodSettings("gan-per-class", values), new GenerativeContext { CheckpointRoot = _dir });
    }

    [Fact]
    public void AFilterThatPassesEverythingKeepsTheMethodsOwnImagesAndAStrictOneHitsItsCap()
    {
        var train = Bands([40, 40, 10]);
        var strategy = SamplingStrategy.Parse("fill:2=0.5");
        var plain = Method("").FitResample(train, strategy, 1);
        Assert.IsNotType<GeneratedImageLevers>(Method(""));

        // Every image passes a probability of 0.001 (three classes): the first 10 of a double draw are the
        // 10 images the method draws by itself, from the same generator.
        var lines = new List<string>();
        var open = Method(",filter=0.001,filter_epochs=1").FitResample(train, strategy, 1, lines.Add);
        Assert.Equal(plain.Train.ClassCounts(), open.Train.ClassCounts());
        for (var i = 0; i < plain.Train.Count; i++)
        {
            Assert.True(plain.Train.Image(i).SequenceEqual(open.Train.Image(i)), $"image {i} differs");
        }
        var note = Assert.Single(open.Notes, n => n.Kind == "filter");
        Assert.Contains("20 of 20 drawn images (100 %) reached probability 0.001 of class 2", note.Detail, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("filter classifier: ", StringComparison.Ordinal));
        // The generators are the same files: one model folder for all entries.
        Assert.Single(Directory.GetDirectories(_dir), d => Path.GetFileName(d).StartsWith("gan-per-class-", StringComparison.Ordinal));
        Assert.Equal(plain.ModelFolder, open.ModelFolder);

        // A 4-step generator's noise cannot reach 0.999: the cap (4x) is hit and the class completed with a note.
        var strict = Method(",filter=0.999,filter_epochs=1,filter_draws=4").FitResample(train, strategy, 1);
        Assert.Equal([40, 40, 20], strict.Train.ClassCounts());
        var cap = Assert.Single(strict.Notes, n => n.Kind is "filter-cap" or "filter");
        Assert.True(cap.Kind == "filter-cap", cap.Detail);
        Assert.Contains(" of 40 drawn images", cap.Detail, StringComparison.Ordinal);
        Assert.Contains("the cap of 4x draws was hit", cap.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void AugmentChangesTheGeneratedImagesOnlyAndBadLeverSettingsAreRefused()
    {
        var train = Bands([40, 40, 10]);
        var strategy = SamplingStrategy.Parse("fill:2=0.5");
        var plain = Method("").FitResample(train, strategy, 1);
        var augmented = Method(",augment=noise").FitResample(train, strategy, 1);
        Assert.Equal(plain.Train.ClassCounts(), augmented.Train.ClassCounts());
        var real = Enumerable.Range(0, train.Count).ToArray();
        Assert.All(real, i => Assert.True(plain.Train.Image(i).SequenceEqual(augmented.Train.Image(i))));
        var changed = Enumerable.Range(train.Count, 10).Count(i => !plain.Train.Image(i).SequenceEqual(augmented.Train.Image(i)));
        Assert.Equal(10, changed);

        Assert.Contains("filter", Assert.ThrowsAny<ArgumentException>(() => Method(",filter=1.5")).Message, StringComparison.Ordinal);
        Assert.Contains("bogus", Assert.ThrowsAny<ArgumentException>(() => Method(",augment=bogus")).Message, StringComparison.Ordinal);
    }
}
