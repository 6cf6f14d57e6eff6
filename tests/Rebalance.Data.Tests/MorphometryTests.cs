using System.Text.Json;
using Rebalance.Data.Acquisition;
using Rebalance.Data.Formats;
using Rebalance.Data.Morpho;
using Xunit.Abstractions;

namespace Rebalance.Data.Tests;

/// <summary>Morpho-MNIST's morphometrics: against values the shapes' geometry gives, against the published
/// procedure run with scikit-image and SciPy (tools/make_morpho_references.py), and the pieces (distance
/// map, medial axis, spline prefilter) on their own.</summary>
public sealed class MorphometryTests(ITestOutputHelper output)
{
    private sealed record Case(string Name, byte[] Image, double Area, double[] LengthRange, double[] ThicknessRange, double Slant, double Width, double Height, byte[]? Hires);

    private static List<Case> Reference()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "morpho_reference.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var cases = new List<Case>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            static byte[] Bytes(JsonElement e) => [.. e.EnumerateArray().Select(v => (byte)v.GetInt32())];
            cases.Add(new Case(
                c.GetProperty("name").GetString()!,
                Bytes(c.GetProperty("image")),
                c.GetProperty("area").GetDouble(),
                [.. c.GetProperty("length_range").EnumerateArray().Select(v => v.GetDouble())],
                [.. c.GetProperty("thickness_range").EnumerateArray().Select(v => v.GetDouble())],
                c.GetProperty("slant").GetDouble(),
                c.GetProperty("width").GetDouble(),
                c.GetProperty("height").GetDouble(),
                c.TryGetProperty("hires", out var h) ? Bytes(h) : null));
        }
        return cases;
    }

    private static byte[] Bar(int top, int bottom, Func<int, int> left, int width)
    {
        var img = new byte[28 * 28];
        for (var r = top; r < bottom; r++)
        {
            for (var c = left(r); c < left(r) + width; c++)
            {
                img[r * 28 + c] = 255;
            }
        }
        return img;
    }

    [Fact]
    public void ShapesMeasureWhatTheirGeometrySays()
    {
        // A vertical bar 3 pixels wide and 16 tall: area 48, thickness 3, no slant, height 16 less the 2% of
        // ink cut; the axis runs its length and forks into the corners, so it is a little longer (the
        // published procedure gives 15.3 to 20.1 here, as its random tie order falls).
        var bar = Morphometry.Measure(Bar(6, 22, _ => 12, 3), 28, 28);
        Assert.InRange(bar.Area, 46, 50);
        Assert.InRange(bar.Thickness, 2.7, 3.3);
        Assert.Equal(0, bar.Slant, 1e-9);
        Assert.InRange(bar.Height, 15.5, 16.5);
        Assert.InRange(bar.Length, 15, 20.5);
        Assert.InRange(bar.Width, 3, 4.5);

        // The same bar on its side swaps width and height; the axis's ties fall in another order, so its
        // thickness agrees to 2%.
        var flat = new byte[28 * 28];
        var upright = Bar(6, 22, _ => 12, 3);
        for (var r = 0; r < 28; r++)
        {
            for (var c = 0; c < 28; c++)
            {
                flat[c * 28 + r] = upright[r * 28 + c];
            }
        }
        var side = Morphometry.Measure(flat, 28, 28);
        Assert.Equal(bar.Height, side.Width, 1e-9);
        Assert.Equal(bar.Width, side.Height, 1e-9);
        Assert.Equal(bar.Area, side.Area, 1e-9);
        Assert.Equal(bar.Thickness, side.Thickness, bar.Thickness * 0.02);

        // Sheared one pixel right per two rows up: slant arctan(1/2) = 0.4636, leaning right is positive;
        // mirrored left to right, the slant changes sign.
        var sheared = Bar(6, 22, r => 9 + (21 - r) / 2, 3);
        var lean = Morphometry.Measure(sheared, 28, 28);
        Assert.InRange(lean.Slant, 0.43, 0.49);
        var mirrored = new byte[28 * 28];
        for (var r = 0; r < 28; r++)
        {
            for (var c = 0; c < 28; c++)
            {
                mirrored[r * 28 + c] = sheared[r * 28 + 27 - c];
            }
        }
        Assert.Equal(-lean.Slant, Morphometry.Measure(mirrored, 28, 28).Slant, 1e-9);

        // Twice as thick measures about twice as thick (a little less: the axis's branches into the
        // corners, nearer the edge, weigh more on a short wide bar).
        var thick = Morphometry.Measure(Bar(6, 22, _ => 11, 6), 28, 28);
        Assert.InRange(thick.Thickness, 5, 6.5);
        Assert.InRange(thick.Thickness / bar.Thickness, 1.7, 2.2);
        Assert.InRange(thick.Area, 93, 99);

        // A blank image has nothing to measure.
        Assert.True(double.IsNaN(Morphometry.Measure(new byte[28 * 28], 28, 28).Thickness));
    }

    [Fact]
    public void MatchesThePublishedProcedure()
    {
        var cases = Reference();
        Assert.True(cases.Count >= 16);
        foreach (var c in cases)
        {
            var m = Morphometry.Measure(c.Image, 28, 28);
            output.WriteLine($"{c.Name,-30} area {m.Area:F3}/{c.Area:F3} length {m.Length:F3}/{c.LengthRange[0]:F3}-{c.LengthRange[1]:F3} thickness {m.Thickness:F3}/{c.ThicknessRange[0]:F3}-{c.ThicknessRange[1]:F3} slant {m.Slant:F4}/{c.Slant:F4} width {m.Width:F3}/{c.Width:F3} height {m.Height:F3}/{c.Height:F3}");
            if (c.Hires is not null)
            {
                var hires = Morphometry.Upscale(c.Image, 28, 28);
                var differ = hires.Zip(c.Hires).Count(p => p.First != p.Second);
                var worst = hires.Zip(c.Hires).Max(p => Math.Abs(p.First - p.Second));
                output.WriteLine($"  4x image: {differ} of {hires.Length} pixels differ, by at most {worst}");
                // Cut to 8 bits after sums in another order, a value on an integer can land either side.
                Assert.True(worst <= 1 && differ <= hires.Length / 200, $"{c.Name}: {differ} pixels of the 4x image differ, by up to {worst}");
            }
            // Not from the axis: the 4x image and its moments, so equal to rounding.
            Assert.True(Math.Abs(m.Area - c.Area) <= 0.25, $"{c.Name}: area {m.Area} against {c.Area}");
            Assert.True(Math.Abs(m.Slant - c.Slant) <= 2e-3, $"{c.Name}: slant {m.Slant} against {c.Slant}");
            Assert.True(Math.Abs(m.Width - c.Width) <= 0.02, $"{c.Name}: width {m.Width} against {c.Width}");
            Assert.True(Math.Abs(m.Height - c.Height) <= 0.02, $"{c.Name}: height {m.Height} against {c.Height}");
            // From the axis, whose ties the published code breaks at random: inside the range it gives over
            // 50 tie orders, give or take 1%.
            Assert.InRange(m.Length, c.LengthRange[0] * 0.99, c.LengthRange[1] * 1.01);
            Assert.InRange(m.Thickness, c.ThicknessRange[0] * 0.99, c.ThicknessRange[1] * 1.01);
        }
    }

    [Fact]
    public void DistanceMapIsExact()
    {
        // Against brute force on a random shape with holes.
        var rng = new Random(3);
        const int h = 23, w = 17;
        var fg = new bool[h * w];
        for (var i = 0; i < fg.Length; i++)
        {
            fg[i] = rng.NextDouble() < 0.8;
        }
        var d = Morphometry.DistanceMap(fg, h, w);
        for (var i = 0; i < fg.Length; i++)
        {
            var best = double.PositiveInfinity;
            for (var j = 0; j < fg.Length; j++)
            {
                if (!fg[j])
                {
                    double dy = i / w - j / w, dx = i % w - j % w;
                    best = Math.Min(best, Math.Sqrt(dy * dy + dx * dx));
                }
            }
            Assert.Equal(fg[i] ? best : 0, d[i], 1e-12);
        }
        Assert.All(Morphometry.DistanceMap([true, true, true, true], 2, 2), v => Assert.True(double.IsPositiveInfinity(v)));
    }

    [Fact]
    public void MedialAxisKeepsTopologyAndEnds()
    {
        // A filled rectangle keeps one connected axis; a ring keeps its loop (one hole); a one-pixel line
        // is its own axis.
        const int h = 30, w = 30;
        var rect = new bool[h * w];
        var ring = new bool[h * w];
        var line = new bool[h * w];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                rect[y * w + x] = y is >= 5 and < 12 && x is >= 4 and < 26;
                var r = Math.Sqrt((y - 14.5) * (y - 14.5) + (x - 14.5) * (x - 14.5));
                ring[y * w + x] = r is >= 6 and <= 11;
                line[y * w + x] = y == 20 && x is >= 3 and < 27;
            }
        }
        var rectAxis = Morphometry.MedialAxis(rect, Morphometry.DistanceMap(rect, h, w), h, w);
        Assert.Equal(1, Components(rectAxis, h, w, eight: true));
        Assert.True(rectAxis.Count(b => b) < rect.Count(b => b) / 3);
        // The rectangle's middle row (y = 8) carries the axis across.
        Assert.True(Enumerable.Range(8, 14).All(x => rectAxis[8 * w + x]));

        var ringAxis = Morphometry.MedialAxis(ring, Morphometry.DistanceMap(ring, h, w), h, w);
        Assert.Equal(1, Components(ringAxis, h, w, eight: true));
        var outside = ringAxis.Select(b => !b).ToArray();
        Assert.Equal(2, Components(outside, h, w, eight: false));
        Assert.Equal(line, Morphometry.MedialAxis(line, Morphometry.DistanceMap(line, h, w), h, w));
    }

    /// <summary>Connected groups of set pixels, 8- or 4-connected.</summary>
    private static int Components(bool[] img, int h, int w, bool eight)
    {
        (int, int)[] steps = eight
            ? [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
            : [(-1, 0), (1, 0), (0, -1), (0, 1)];
        var seen = new bool[img.Length];
        var n = 0;
        for (var s = 0; s < img.Length; s++)
        {
            if (!img[s] || seen[s])
            {
                continue;
            }
            n++;
            var stack = new Stack<int>([s]);
            seen[s] = true;
            while (stack.Count > 0)
            {
                var p = stack.Pop();
                foreach (var (dy, dx) in steps)
                {
                    int y = p / w + dy, x = p % w + dx;
                    if (y >= 0 && y < h && x >= 0 && x < w && img[y * w + x] && !seen[y * w + x])
                    {
                        seen[y * w + x] = true;
                        stack.Push(y * w + x);
                    }
                }
            }
        }
        return n;
    }

    [Fact]
    public void SplinePrefilterInterpolatesItsSamples()
    {
        // Cubic B-spline coefficients c reproduce the samples: (c[i-1] + 4 c[i] + c[i+1]) / 6 = s[i], with
        // mirrored ends.
        var s = new double[] { 0, 0.2, 1, 0.7, 0.1, 0, 0.5, 0.9 };
        var c = (double[])s.Clone();
        Morphometry.SplinePrefilter(c);
        for (var i = 0; i < s.Length; i++)
        {
            var left = c[i == 0 ? 1 : i - 1];
            var right = c[i == s.Length - 1 ? s.Length - 2 : i + 1];
            Assert.Equal(s[i], (left + 4 * c[i] + right) / 6, 1e-9);
        }
    }

    [Fact]
    public void MorphoMnistCarriesEachImagesMeasuresAndNamesABadTable()
    {
        var dir = TestData.TempDir();
        try
        {
            // A small MNIST: the fixture's digits, 12 for training and 4 (the hand-drawn shapes) for test.
            var cases = Reference();
            var digits = cases.Where(c => c.Name.StartsWith("mnist", StringComparison.Ordinal)).ToList();
            var shapes = cases.Where(c => !c.Name.StartsWith("mnist", StringComparison.Ordinal)).ToList();
            var mnist = Path.Combine(dir, "mnist");
            Directory.CreateDirectory(mnist);
            void Write(string prefix, List<Case> set)
            {
                Idx.Write(Path.Combine(mnist, prefix + "-images-idx3-ubyte"), [set.Count, 28, 28], [.. set.SelectMany(c => c.Image)]);
                Idx.Write(Path.Combine(mnist, prefix + "-labels-idx1-ubyte"), [set.Count], [.. set.Select((_, i) => (byte)(i % 10))]);
            }
            Write("train", digits);
            Write("t10k", shapes);
            var morpho = Path.Combine(dir, "morpho-mnist");
            var log = new List<string>();
            MorphoMnist.Build(mnist, morpho, log.Add);
            Assert.True(MorphoMnist.Present(morpho));
            Assert.Contains(log, l => l.Contains("measuring the 12 images", StringComparison.Ordinal));
            var header = File.ReadLines(Path.Combine(morpho, "train-morpho.csv")).First();
            Assert.Equal("index,area,length,thickness,slant,width,height", header);

            var names = Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            var (train, test) = MorphoMnist.Load(mnist, morpho, names);
            Assert.Equal(Morphometry.Names, train.AttributeNames);
            Assert.Equal(12, train.Count);
            Assert.Equal(4, test.Count);
            for (var i = 0; i < train.Count; i++)
            {
                var m = Morphometry.Measure(digits[i].Image, 28, 28).ToArray();
                Assert.Equal(m.Select(v => (float)v), train.Attributes(i).ToArray());
                Assert.Equal(i % 10, train.Label(i));
            }
            Assert.Equal((float)Morphometry.Measure(shapes[1].Image, 28, 28).Slant, test.Attributes(1)[3]);
            // The attributes define classes through a threshold protocol.
            var protocol = Protocols.ImbalanceProtocol.Parse("threshold:thickness>2.5&slant>0.2");
            var (relabelled, _) = protocol.Relabel(train, test);
            var expected = Enumerable.Range(0, train.Count).Count(i => train.Attributes(i)[2] > 2.5f && train.Attributes(i)[3] > 0.2f);
            Assert.InRange(expected, 1, 11);
            Assert.Equal(expected, relabelled.ClassCounts()[1]);

            // A damaged table is one line naming the file and line, and how to rebuild it.
            var table = Path.Combine(morpho, "t10k-morpho.csv");
            var lines = File.ReadAllLines(table);
            File.WriteAllLines(table, [lines[0], lines[1], lines[2].Replace(",", ",x", StringComparison.Ordinal), lines[3], lines[4]]);
            var e = Assert.Throws<DataException>(() => MorphoMnist.Load(mnist, morpho, names));
            Assert.Contains("t10k-morpho.csv: line 3, column area: 'x", e.Message, StringComparison.Ordinal);
            Assert.Contains("rebalance data get morpho-mnist", e.Message, StringComparison.Ordinal);
            File.WriteAllLines(table, lines[..4]);
            Assert.Contains("3 rows for the 4 images", Assert.Throws<DataException>(() => MorphoMnist.Load(mnist, morpho, names)).Message, StringComparison.Ordinal);
            File.WriteAllLines(table, ["file,area", .. lines[1..]]);
            Assert.Contains("line 1 should be the header", Assert.Throws<DataException>(() => MorphoMnist.Load(mnist, morpho, names)).Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
