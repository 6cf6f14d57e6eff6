using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Autoencoders;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Tests;

/// <summary>BAGAN: its (K+1)-way losses and class code distributions against hand values, exact resume,
/// and a tiny run whose added images carry their class.</summary>
public sealed class BaganTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-bagan-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static double Ce(double[] logits, int target)
    {
        var max = logits.Max();
        var lse = max + Math.Log(logits.Sum(v => Math.Exp(v - max)));
        return lse - logits[target];
    }

    [Fact]
    public void TheKPlusOneWayLossesMatchHandComputedValues()
    {
        // K = 2 classes, so 3 logits; the last is "generated".
        double[][] real = [[2.0, -1.0, 0.5], [0.1, 0.3, -0.2]];
        double[][] fake = [[0.0, 1.0, 2.0], [1.5, -0.5, 0.0]];
        var realT = Tensor.FromArray([.. real.SelectMany(r => r)], 2, 3);
        var fakeT = Tensor.FromArray([.. fake.SelectMany(r => r)], 2, 3);
        var d = BaganLosses.Discriminator(realT, Tensor.FromArray([0, 1], 2), fakeT).Item();
        Assert.Equal(((Ce(real[0], 0) + Ce(real[1], 1)) / 2) + ((Ce(fake[0], 2) + Ce(fake[1], 2)) / 2), d, 6);
        var g = BaganLosses.Generator(fakeT, Tensor.FromArray([1, 0], 2)).Item();
        Assert.Equal((Ce(fake[0], 1) + Ce(fake[1], 0)) / 2, g, 6);
    }

    [Fact]
    public void ClassGaussiansFitAndSampleTheirCodes()
    {
        float[][] codes = [[1, 2], [3, 2], [2, 5], [10, 10], [0, 0]];
        int[] labels = [0, 0, 0, 1, 2];
        var g = ClassGaussians.Fit(codes, labels, 4);
        Assert.Equal([2.0, 3.0], g.Mean[0]);
        // Class 0's sample covariance (n − 1) is [[1, 0], [0, 3]], plus 1e-4 on the diagonal.
        var l = g.Chol[0];
        Assert.Equal(Math.Sqrt(1 + 1e-4), l[0], 12);
        Assert.Equal(0, l[2], 12);
        Assert.Equal(Math.Sqrt(3 + 1e-4), l[3], 12);
        // One image: its code with 1e-4 I; no image: nothing to sample.
        Assert.Equal([10.0, 10.0], g.Mean[1]);
        Assert.Equal(0.01, g.Chol[1][0], 12);
        Assert.Empty(g.Mean[3]);
        Assert.Contains("no images", Assert.Throws<ArgumentException>(() => g.Sample(3, 1, new Generator(0))).Message, StringComparison.Ordinal);
        // Draws reproduce the mean and variances.
        var s = g.Sample(0, 20000, new Generator(1)).ToDoubleArray();
        var xs = Enumerable.Range(0, 20000).Select(i => s[2 * i]).ToArray();
        var ys = Enumerable.Range(0, 20000).Select(i => s[(2 * i) + 1]).ToArray();
        Assert.Equal(2.0, xs.Average(), 1);
        Assert.Equal(3.0, ys.Average(), 1);
        Assert.Equal(3.0, ys.Select(v => (v - 3) * (v - 3)).Average(), 1);
        // Cholesky of a known matrix: [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]].
        var chol = ClassGaussians.Cholesky([4, 2, 2, 3], 2);
        double[] expected = [2.0, 0, 1, Math.Sqrt(2)];
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(expected[i], chol[i], 12));
        Assert.Throws<ArgumentException>(() => ClassGaussians.Cholesky([1, 2, 2, 1], 2));
    }

    /// <summary>28x28 images: class c has a bright band at rows 4+8c.</summary>
    private static Dataset Bands(int[] counts, int seed)
    {
        var rng = new Random(seed);
        var pixels = new List<byte>();
        var labels = new List<int>();
        for (var c = 0; c < counts.Length; c++)
        {
            for (var i = 0; i < counts[c]; i++)
            {
                for (var j = 0; j < 784; j++)
                {
                    pixels.Add((byte)Math.Clamp((Math.Abs((j / 28) - (4 + (8 * c))) <= 2 ? 200 : 10) + rng.Next(-20, 20), 0, 255));
                }
                labels.Add(c);
            }
        }
        return new Dataset("bands", [.. pixels], [.. labels], 1, 28, 28, [.. Enumerable.Range(0, counts.Length).Select(c => $"class{c}")]);
    }

    [Fact]
    public void ATinyBaganAddsImagesOfTheirClassAndResumesExactly()
    {
        var train = Bands([40, 40, 10], 11);
        var settings = new MethodSettings("bagan", new Dictionary<string, string> { ["ae_steps"] = "150", ["steps"] = "20", ["batch_size"] = "16", ["z_dim"] = "8", ["checkpoint_every"] = "10" });
        var result = GenerativeMethods.Create("bagan", settings, new GenerativeContext { CheckpointRoot = _dir }).FitResample(train, SamplingStrategy.Parse("fill:2=1"), 3);
        Assert.Equal([40, 40, 40], result.Train.ClassCounts());
        var ae = File.ReadAllLines(Path.Combine(result.ModelFolder!, "ae.losses.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(ae[^10..].Average() < ae[..10].Average() * 0.7, "the autoencoder's reconstruction did not fall");
        Assert.Equal(21, File.ReadAllLines(Path.Combine(result.ModelFolder!, "all.losses.csv")).Length);
        double Rows(ReadOnlySpan<byte> img, int centre)
        {
            double s = 0;
            for (var r = centre - 2; r <= centre + 2; r++)
            {
                for (var x = 0; x < 28; x++)
                {
                    s += img[(r * 28) + x];
                }
            }
            return s;
        }
        var added = Enumerable.Range(0, result.Train.Count).Where(result.Train.IsSynthetic).ToArray();
        var right = added.Count(i => Rows(result.Train.Image(i), 20) > Math.Max(Rows(result.Train.Image(i), 4), Rows(result.Train.Image(i), 12)));
        Assert.True(right > added.Length * 2 / 3, $"{right} of {added.Length} added images have class 2's band");

        // Stage 2 stopped at step 15 (checkpoint at 10) and resumed ends where an uninterrupted run does.
        var (model, _) = AutoencoderFile.Load(Path.Combine(result.ModelFolder!, "ae.autoencoder.safetensors"));
        var gaussians = ClassGaussians.Fit(DeepSmote.Codes(model, train, [.. Enumerable.Range(0, train.Count)]), [.. train.Labels], 3);
        var s = BaganSettings.Read(settings);
        var shape = new GanShape(1, 28, 28, 8);
        var whole = new BaganTrainer(s, shape, 3, 3, model, gaussians);
        whole.Train(train, Path.Combine(_dir, "whole"), "all", "k");
        var first = new BaganTrainer(s, shape, 3, 3, model, gaussians);
        Assert.False(first.Train(train, Path.Combine(_dir, "split"), "all", "k", stopAfter: 15));
        var second = new BaganTrainer(s, shape, 3, 3, model, gaussians);
        Assert.True(second.Train(train, Path.Combine(_dir, "split"), "all", "k"));
        foreach (var (name, t) in whole.G.StateDict())
        {
            Assert.Equal(t.ToDoubleArray(), second.G.StateDict()[name].ToDoubleArray());
        }
        foreach (var (name, t) in whole.D.StateDict())
        {
            Assert.Equal(t.ToDoubleArray(), second.D.StateDict()[name].ToDoubleArray());
        }
    }
}
