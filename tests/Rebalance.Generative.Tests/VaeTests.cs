using Rebalance.Generative.Architectures;
using Rebalance.Generative.Latent;
using Rebalance.Generative.Methods;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;
using static Rebalance.Generative.Tests.BandImages;

namespace Rebalance.Generative.Tests;

/// <summary>The VAE's loss terms against hand-computed values and finite differences, its training
/// (losses fall, exact resume) and the vae/cvae rebalancers.</summary>
public sealed class VaeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-vae-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void KlAndReconstructionMatchHandComputedValues()
    {
        // Row 1: μ (0.5, −1), log σ² (0, ln 2): −½[(1 + 0 − 0.25 − 1) + (1 + ln 2 − 1 − 2)] = ½(0.25 + 2 − ln 2).
        // Row 2: μ 0, σ 1: 0. The batch mean is half of row 1's.
        var mu = Tensor.FromArray([0.5, -1.0, 0, 0], 2, 2);
        var logVar = Tensor.FromArray([0, Math.Log(2), 0, 0], 2, 2);
        Assert.Equal(0.5 * 0.5 * (0.25 + 2 - Math.Log(2)), AutoencoderLosses.GaussianKl(mu, logVar).Item(), 12);

        // Pixels in [−1, 1]: reconstruction 0.6 is 0.8 in [0, 1], against targets 1 and 0 (values 1 and −1).
        var recon = Tensor.FromArray([0.6, 0.6], 1, 1, 1, 2);
        var target = Tensor.FromArray([1.0, -1.0], 1, 1, 1, 2);
        Assert.Equal(-Math.Log(0.8) - Math.Log(0.2), AutoencoderLosses.Reconstruction(recon, target, "bce").Item(), 12);
        Assert.Equal((0.2 * 0.2) + (0.8 * 0.8), AutoencoderLosses.Reconstruction(recon, target, "mse").Item(), 12);
        Assert.Contains("expected one of bce, mse", Assert.Throws<ArgumentException>(() => AutoencoderLosses.Reconstruction(recon, target, "l1")).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("kl")]
    [InlineData("bce")]
    [InlineData("mse")]
    public void GradientsMatchFiniteDifferences(string term)
    {
        double[] a = [0.3, -0.7, 0.1, 0.9, -0.2, 0.45];
        double[] b = [0.2, -0.1, 0.5, -0.6, 0.35, 0.8];
        double Value(double[] v)
        {
            using (GradMode.NoGrad())
            {
                return Loss(Tensor.FromArray(v, 2, 3)).Item();
            }
        }
        Tensor Loss(Tensor x) => term switch
        {
            "kl" => AutoencoderLosses.GaussianKl(x, Tensor.FromArray(b, 2, 3)) + AutoencoderLosses.GaussianKl(Tensor.FromArray(b, 2, 3), x),
            _ => AutoencoderLosses.Reconstruction(x, Tensor.FromArray(b, 2, 3), term),
        };
        var p = Tensor.FromArray(a, 2, 3).RequiresGrad_();
        Loss(p).Backward();
        var analytic = p.Grad!.ToDoubleArray();
        const double h = 1e-6;
        for (var i = 0; i < a.Length; i++)
        {
            var (up, down) = ((double[])a.Clone(), (double[])a.Clone());
            up[i] += h;
            down[i] -= h;
            var numeric = (Value(up) - Value(down)) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[i]) < 1e-6 * Math.Max(1, Math.Abs(numeric)), $"{term} d/dx[{i}]: autograd {analytic[i]}, finite differences {numeric}");
        }
    }

    [Fact]
    public void TrainingLowersTheLossAndAResumedRunEndsWithTheSameWeights()
    {
        var data = Bands([30, 30, 30]);
        var s = new VaeSettings { Steps = 40, BatchSize = 16, LatentDim = 4, CheckpointEvery = 10, SampleEvery = 20 };
        var shape = new GanShape(1, 28, 28, 4, 3);
        var whole = new VaeTrainer(s, shape, 7);
        whole.Train(data, Path.Combine(_dir, "whole"), "all");
        var rows = File.ReadAllLines(Path.Combine(_dir, "whole", "all.losses.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(40, rows.Length);
        Assert.True(rows[^5..].Average() < rows[..5].Average() * 0.7, $"loss {rows[..5].Average():F1} at the start, {rows[^5..].Average():F1} at the end");
        Assert.True(File.Exists(Path.Combine(_dir, "whole", "all.samples.png")));

        // Stopped after 25 steps (last checkpoint at 20), then resumed by a new trainer.
        var first = new VaeTrainer(s, shape, 7);
        Assert.False(first.Train(data, Path.Combine(_dir, "split"), "all", stopAfter: 25));
        var second = new VaeTrainer(s, shape, 7);
        var lines = new List<string>();
        Assert.True(second.Train(data, Path.Combine(_dir, "split"), "all", lines.Add));
        Assert.Contains(lines, l => l.Contains("resumed at step 20/40", StringComparison.Ordinal));
        var a = whole.Model.StateDict();
        var b = second.Model.StateDict();
        foreach (var (name, t) in a)
        {
            Assert.Equal(t.ToDoubleArray(), b[name].ToDoubleArray());
        }
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "whole", "all.losses.csv")), File.ReadAllText(Path.Combine(_dir, "split", "all.losses.csv")));
    }

    [Fact]
    public void CvaeImagesOfAClassLookLikeThatClassAndVaeFillsEachClassFromItsOwnModel()
    {
        var train = Bands([40, 40, 40], seed: 5);
        var settings = new MethodSettings("cvae", new Dictionary<string, string> { ["steps"] = "150", ["batch_size"] = "32", ["z_dim"] = "4" });
        var cvae = GenerativeMethods.Create("cvae", settings, new GenerativeContext { CheckpointRoot = _dir });
        var result = cvae.FitResample(train, SamplingStrategy.Parse("counts:60,60,60"), 1);
        Assert.Equal([60, 60, 60], result.Train.ClassCounts());
        // Where is each generated image brightest? Its band's rows (4+8c) tell its class: a nearest-band
        // classifier fitted on the real images must call most generated images by their intended class.
        int Band(ReadOnlySpan<byte> img)
        {
            var best = 0;
            var bestValue = double.NegativeInfinity;
            for (var c = 0; c < 3; c++)
            {
                double sum = 0;
                for (var r = 4 + (8 * c) - 2; r <= 4 + (8 * c) + 2; r++)
                {
                    for (var x = 0; x < 28; x++)
                    {
                        sum += img[(r * 28) + x];
                    }
                }
                (best, bestValue) = sum > bestValue ? (c, sum) : (best, bestValue);
            }
            return best;
        }
        var synthetic = Enumerable.Range(0, result.Train.Count).Where(result.Train.IsSynthetic).ToArray();
        Assert.Equal(60, synthetic.Length);
        var right = synthetic.Count(i => Band(result.Train.Image(i)) == result.Train.Label(i));
        Assert.True(right > synthetic.Length * 2 / 3, $"{right} of {synthetic.Length} generated images have the band of their class (chance: a third)");
        Assert.True(File.Exists(Path.Combine(result.ModelFolder!, "all.generator.safetensors")));
        Assert.True(File.Exists(Path.Combine(result.ModelFolder!, "all.losses.csv")));
        Assert.False(File.Exists(Path.Combine(result.ModelFolder!, "all.state.safetensors")));
        var (model, key) = AutoencoderFile.Load(Path.Combine(result.ModelFolder!, "all.autoencoder.safetensors"));
        Assert.True(model.Variational);
        Assert.Equal(3, model.Shape.NumClasses);
        Assert.Equal(GeneratorFile.Load(Path.Combine(result.ModelFolder!, "all.generator.safetensors")).Key, key);
        Assert.Equal(model.Features, AutoencoderFile.Features(model, train)[0].Length);

        var vae = GenerativeMethods.Create("vae", new MethodSettings("vae", new Dictionary<string, string> { ["steps"] = "5", ["batch_size"] = "8", ["z_dim"] = "4", ["recon"] = "mse" }), new GenerativeContext { CheckpointRoot = _dir });
        var filled = vae.FitResample(Bands([40, 10, 5]), SamplingStrategy.Parse("auto"), 2);
        Assert.Equal([40, 40, 40], filled.Train.ClassCounts());
        Assert.True(File.Exists(Path.Combine(filled.ModelFolder!, "class1.generator.safetensors")));
        Assert.True(File.Exists(Path.Combine(filled.ModelFolder!, "class2.generator.safetensors")));
        Assert.Throws<SettingException>(() => GenerativeMethods.Create("vae", new MethodSettings("vae", new Dictionary<string, string> { ["recon"] = "l1" })));
    }

    [Fact]
    public void DeepSmotesPenaltyComparesEachDecodingWithAnotherImageOfTheClass()
    {
        // Two decodings (a, b) and two images (x, y), one pixel each, in [−1, 1]; [0, 1] values in comments.
        var decoded = Tensor.FromArray([0.0, 0.5], 2, 1, 1, 1);   // 0.5, 0.75
        var images = Tensor.FromArray([1.0, -1.0], 2, 1, 1, 1);   // 1, 0
        var swapped = Tensor.FromArray([-1.0, 1.0], 2, 1, 1, 1);  // the images in the other order
        // Reconstruction pairs a with x and b with y; the penalty, with the images permuted, a with y and b with x.
        var recon = AutoencoderLosses.Reconstruction(decoded, images, "mse").Item();
        var penalty = AutoencoderLosses.PermutationPenalty(decoded, swapped, "mse").Item();
        Assert.Equal(((0.5 * 0.5) + (0.75 * 0.75)) / 2, recon, 12);
        Assert.Equal(((0.5 * 0.5) + (0.25 * 0.25)) / 2, penalty, 12);
        Assert.NotEqual(recon, penalty);
    }

    [Fact]
    public void DeepSmoteLearnsAndItsLatentSmoteMakesImagesOfTheClass()
    {
        var train = Bands([40, 40, 12], seed: 9);
        var settings = new MethodSettings("deepsmote", new Dictionary<string, string> { ["steps"] = "120", ["batch_size"] = "16", ["z_dim"] = "8", ["lr"] = "0.002" });
        var method = GenerativeMethods.Create("deepsmote", settings, new GenerativeContext { CheckpointRoot = _dir });
        var result = method.FitResample(train, SamplingStrategy.Parse("fill:2=1"), 4);
        Assert.Equal([40, 40, 40], result.Train.ClassCounts());
        var csv = File.ReadAllLines(Path.Combine(result.ModelFolder!, "all.losses.csv")).Skip(1).Select(l => l.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.Equal(120, csv.Length);
        Assert.True(csv[^10..].Average(r => r[2]) < csv[..10].Average(r => r[2]) * 0.7, "reconstruction did not fall");
        // The penalty is a term of its own: not the reconstruction again.
        Assert.True(csv.Count(r => Math.Abs(r[3] - r[2]) > 1e-3 * r[2]) > 100, "the penalty column repeats the reconstruction");
        // The class-2 images it adds have class 2's band (rows 18 to 22) brighter than the other bands.
        var added = Enumerable.Range(0, result.Train.Count).Where(result.Train.IsSynthetic).ToArray();
        Assert.Equal(28, added.Length);
        var right = added.Count(i => Rows(result.Train.Image(i), 20) > Math.Max(Rows(result.Train.Image(i), 4), Rows(result.Train.Image(i), 12)));
        Assert.True(right > added.Length * 2 / 3, $"{right} of {added.Length} added images have class 2's band");
        // Reused, not retrained.
        var lines = new List<string>();
        GenerativeMethods.Create("deepsmote", settings, new GenerativeContext { CheckpointRoot = _dir }).FitResample(train, SamplingStrategy.Parse("fill:2=0.5"), 4, lines.Add);
        Assert.Contains(lines, l => l.Contains("reusing the trained autoencoder", StringComparison.Ordinal));
    }
}
