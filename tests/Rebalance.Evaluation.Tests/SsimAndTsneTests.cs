using System.Text.Json.Nodes;
using Rebalance.Evaluation.Quality;

namespace Rebalance.Evaluation.Tests;

/// <summary>SSIM against scikit-image, t-SNE's behaviour on clustered data, and the quality charts.</summary>
public class SsimAndTsneTests
{
    public static TheoryData<string> SsimCases => [.. Cases().Select(c => (string)c["name"]!)];

    private static IEnumerable<JsonObject> Cases() =>
        ReferenceFile.Load("ssim_reference.json")["cases"]!.AsArray().Select(c => c!.AsObject());

    [Theory]
    [MemberData(nameof(SsimCases))]
    public void SsimMatchesScikitImage(string name)
    {
        var c = Cases().Single(x => (string)x["name"]! == name);
        var ssim = new Ssim((int)c["channels"]!, (int)c["height"]!, (int)c["width"]!);
        byte[] Bytes(string key) => [.. c[key]!.AsArray().Select(v => (byte)(int)v!)];
        var (a, b) = (Bytes("a"), Bytes("b"));
        Assert.Equal((double)c["ssim"]!, ssim.Compute(a, b), 10);
        Assert.Equal(ssim.Compute(a, b), ssim.Compute(b, a), 12);
        Assert.Equal(1.0, ssim.Compute(a, a), 12);
    }

    [Fact]
    public void TheHighestSsimOverAPackIsThatOfTheBestPair()
    {
        // Eleven images (a block and a padded part block, whatever the vector width), the most similar to
        // the probe ninth: every lane and the padding must give the value a single comparison gives.
        var gen = new Tensors.Generator(2);
        byte[] Image(double noise, byte[] from) => [.. from.Select(v => (byte)Math.Clamp(v + (noise * gen.NextNormal()), 0, 255))];
        var probe = Image(0, [.. Enumerable.Range(0, 3 * 12 * 10).Select(i => (byte)((i * 37) % 256))]);
        var ssim = new Ssim(3, 12, 10);
        var images = Enumerable.Range(0, 11).Select(k => ssim.Prepare(Image(k == 8 ? 4 : 60, probe))).ToList();
        var pairwise = images.Select(im => ssim.Compute(ssim.Prepare(probe), im)).ToArray();
        Assert.Equal(8, Array.IndexOf(pairwise, pairwise.Max()));
        Assert.Equal(pairwise.Max(), ssim.Max(ssim.Prepare(probe), ssim.Pack(images)));
        // Every prefix: the best image at each position of a block, and blocks padded from 1 to 11 images.
        for (var k = 1; k <= images.Count; k++)
        {
            Assert.Equal(pairwise[..k].Max(), ssim.Max(ssim.Prepare(probe), ssim.Pack(images[..k])));
        }
    }

    [Fact]
    public void SsimRefusesImagesSmallerThanItsWindowAndWrongSizes()
    {
        Assert.Contains("at least 7x7", Assert.Throws<ArgumentException>(() => new Ssim(1, 6, 28)).Message, StringComparison.Ordinal);
        Assert.Contains("expected 784", Assert.Throws<ArgumentException>(() => new Ssim(1, 28, 28).Prepare(new byte[783])).Message, StringComparison.Ordinal);
    }

    private static double Distance(double[] a, double[] b) => Math.Sqrt(a.Zip(b).Sum(v => (v.First - v.Second) * (v.First - v.Second)));

    /// <summary>Four Gaussian clusters in 20 dimensions, 40 points each.</summary>
    private static (float[][] Rows, int[] Labels) Clusters(ulong seed)
    {
        var gen = new Tensors.Generator(seed);
        var rows = new List<float[]>();
        var labels = new List<int>();
        for (var c = 0; c < 4; c++)
        {
            var centre = Enumerable.Range(0, 20).Select(_ => 8 * gen.NextNormal()).ToArray();
            for (var i = 0; i < 40; i++)
            {
                rows.Add([.. centre.Select(m => (float)(m + gen.NextNormal()))]);
                labels.Add(c);
            }
        }
        return ([.. rows], [.. labels]);
    }

    [Fact]
    public void TsneKeepsClustersApartAndLowersTheDivergence()
    {
        var (rows, labels) = Clusters(5);
        var e = Tsne.Fit(rows, 3, new TsneSettings { Iterations = 500 });
        // Each point's nearest neighbour in the map is of its own cluster.
        var agree = 0;
        for (var i = 0; i < rows.Length; i++)
        {
            var best = Enumerable.Range(0, rows.Length).Where(j => j != i)
                .MinBy(j => ((e.X[i] - e.X[j]) * (e.X[i] - e.X[j])) + ((e.Y[i] - e.Y[j]) * (e.Y[i] - e.Y[j])));
            agree += labels[best] == labels[i] ? 1 : 0;
        }
        Assert.True(agree >= rows.Length - 2, $"{agree} of {rows.Length} points have a nearest neighbour of their own cluster");
        // The fitted map's KL(P||Q) is what the fit reports, and far below a random layout's.
        Assert.Equal(Tsne.KlDivergence(rows, e.X, e.Y, 30), e.KlDivergence, 8);
        var gen = new Tensors.Generator(9);
        var rx = Enumerable.Range(0, rows.Length).Select(_ => gen.NextNormal()).ToArray();
        var ry = Enumerable.Range(0, rows.Length).Select(_ => gen.NextNormal()).ToArray();
        var random = Tsne.KlDivergence(rows, rx, ry, 30);
        Assert.True(e.KlDivergence < random / 2, $"KL {e.KlDivergence:F3} of the fit against {random:F3} of a random layout");
    }

    [Fact]
    public void TsneIsSeededAndItsAffinitiesMeetThePerplexity()
    {
        var (rows, _) = Clusters(6);
        var settings = new TsneSettings { Iterations = 120, ExaggerationIterations = 50 };
        var a = Tsne.Fit(rows, 1, settings);
        var b = Tsne.Fit(rows, 1, settings);
        Assert.Equal(a.X, b.X);
        Assert.Equal(a.Y, b.Y);
        Assert.NotEqual(a.X, Tsne.Fit(rows, 2, settings).X);

        // Each conditional p(j|i) covers the point's 3 x 20 nearest neighbours and has entropy log(20); the
        // joint affinities are symmetric and sum to 1.
        var doubles = rows.Select(r => Array.ConvertAll(r, v => (double)v)).ToArray();
        var p = Tsne.Affinities(doubles, 20, out var conditional);
        var n = rows.Length;
        for (var i = 0; i < n; i++)
        {
            var (cols, vals) = conditional[i];
            Assert.Equal(60, cols.Length);
            Assert.DoesNotContain(i, cols);
            var farthestKept = cols.Max(j => Distance(doubles[i], doubles[j]));
            Assert.All(Enumerable.Range(0, n).Where(j => j != i && !cols.Contains(j)), j => Assert.True(Distance(doubles[i], doubles[j]) >= farthestKept));
            Assert.Equal(1.0, vals.Sum(), 12);
            Assert.Equal(Math.Log(20), -vals.Where(v => v > 0).Sum(v => v * Math.Log(v)), 4);
        }
        Assert.Equal(1.0, p.Values.Sum(r => r.Sum()), 9);
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                Assert.Equal(p[i, j], p[j, i]);
            }
        }
        Assert.Contains("perplexity", Assert.Throws<ArgumentException>(() => Tsne.Fit(rows[..10], 0, new TsneSettings { Perplexity = 30 })).Message, StringComparison.Ordinal);
        Assert.Contains("at least 4 points", Assert.Throws<ArgumentException>(() => Tsne.Fit(rows[..3], 0)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LossLogsAreReadAndDrawnAndBadOnesAreSkipped()
    {
        var dir = Path.Combine(Path.GetTempPath(), "rebalance-charts-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var good = Path.Combine(dir, "class5.losses.csv");
        File.WriteAllLines(good, ["step,loss_d,loss_g,penalty,d_real,d_fake,lr_g,lr_d,score", .. Enumerable.Range(1, 300).Select(s => $"{s},{1.0 / s},{-0.5 + (s / 300.0)},0,0,0,1e-4,1e-4,{(s % 100 == 0 ? "0.5" : "")}")]);
        var log = Charts.ReadLosses(good)!;
        Assert.Equal(300, log.Steps.Length);
        Assert.Equal(0.5, log.Score[99]);
        Assert.True(double.IsNaN(log.Score[0]));
        var svg = Charts.LossSvg(log);
        Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
        Assert.Equal(4, svg.Split("<polyline").Length - 1);
        Assert.Contains("step 300", svg, StringComparison.Ordinal);
        var bad = Path.Combine(dir, "bad.losses.csv");
        File.WriteAllText(bad, "a,b\n1,2\n");
        Assert.Null(Charts.ReadLosses(bad));
        Assert.Null(Charts.ReadLosses(Path.Combine(dir, "missing.csv")));
        Directory.Delete(dir, recursive: true);

        var points = new[] { new TsnePoint(0, 0, 0, false), new TsnePoint(1, 1, 1, false), new TsnePoint(0.5, 0.2, 1, true) };
        var map = Charts.TsneSvg(points, ["zero", "one"]);
        Assert.Equal(2, map.Split("<circle").Length - 2); // two real dots plus the legend's dot
        Assert.Contains("1 one", map, StringComparison.Ordinal);
    }
}
