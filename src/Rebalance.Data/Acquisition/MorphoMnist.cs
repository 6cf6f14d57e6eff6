using System.Diagnostics;
using System.Globalization;
using System.Text;
using Rebalance.Data.Formats;
using Rebalance.Data.Morpho;

namespace Rebalance.Data.Acquisition;

/// <summary>
/// <c>morpho-mnist</c>: MNIST's images and labels with the six morphometrics of Morpho-MNIST (Castro et al.
/// 2019) measured on every image by <see cref="Morphometry"/>: area, length, thickness, slant, width and
/// height, as image attributes (so <c>threshold:thickness&gt;3.5&amp;slant&gt;0.2</c> and the other attribute
/// protocols apply). The measures are computed once, from the cached MNIST files, and kept beside them as
/// <c>train-morpho.csv</c> and <c>t10k-morpho.csv</c> in the layout of the published Morpho-MNIST tables
/// (<c>index</c>, then the six columns); nothing is downloaded but MNIST itself.
/// </summary>
public static class MorphoMnist
{
    /// <summary>The dataset's name.</summary>
    public const string Name = "morpho-mnist";

    private static readonly (string Images, string Labels, string Table)[] s_splits =
    [
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "train-morpho.csv"),
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "t10k-morpho.csv"),
    ];

    /// <summary>Whether the measure tables are in <paramref name="dir"/>.</summary>
    public static bool Present(string dir) => s_splits.All(s => File.Exists(Path.Combine(dir, s.Table)));

    /// <summary>Measures MNIST (in <paramref name="mnistDir"/>) into tables in <paramref name="dir"/>, on all
    /// cores, reporting progress.</summary>
    public static void Build(string mnistDir, string dir, Action<string>? log)
    {
        Directory.CreateDirectory(dir);
        foreach (var (images, _, table) in s_splits)
        {
            var path = IdxPath(mnistDir, images);
            var (dims, pixels) = Idx.Read(path);
            if (dims.Length != 3)
            {
                throw new DataFormatException(path, $"expected images of 3 dimensions (N, H, W), found {dims.Length}");
            }
            int n = dims[0], h = dims[1], w = dims[2];
            var rows = new Morphometrics[n];
            var done = 0;
            var clock = Stopwatch.StartNew();
            var next = 0.1;
            var gate = new object();
            log?.Invoke($"morpho-mnist: measuring the {n:N0} images of {Path.GetFileName(path)} (4x upscaled, medial axis; about 1 ms an image per core)");
            Parallel.For(0, n, i =>
            {
                rows[i] = Morphometry.Measure(pixels.AsSpan(i * h * w, h * w), h, w);
                var k = Interlocked.Increment(ref done);
                if (k >= next * n)
                {
                    lock (gate)
                    {
                        if (k >= next * n)
                        {
                            log?.Invoke($"  {k:N0} of {n:N0} ({clock.Elapsed.TotalSeconds:0} s)");
                            while (next * n <= k)
                            {
                                next += 0.1;
                            }
                        }
                    }
                }
            });
            var csv = new StringBuilder("index,").AppendJoin(',', Morphometry.Names).Append('\n');
            for (var i = 0; i < n; i++)
            {
                csv.Append(i.ToString(CultureInfo.InvariantCulture));
                foreach (var v in rows[i].ToArray())
                {
                    csv.Append(',').Append(v.ToString("R", CultureInfo.InvariantCulture));
                }
                csv.Append('\n');
            }
            AtomicFile.Write(Path.Combine(dir, table), Encoding.UTF8.GetBytes(csv.ToString()));
            log?.Invoke($"morpho-mnist: wrote {Path.Combine(dir, table)} in {clock.Elapsed.TotalSeconds:0} s");
        }
    }

    /// <summary>(train, test): MNIST's images from <paramref name="mnistDir"/> with the measures of
    /// <paramref name="dir"/> as attributes.</summary>
    public static (Dataset Train, Dataset Test) Load(string mnistDir, string dir, string[] classNames) =>
        (LoadSplit(mnistDir, dir, s_splits[0], classNames, Name), LoadSplit(mnistDir, dir, s_splits[1], classNames, Name + " (test)"));

    private static Dataset LoadSplit(string mnistDir, string dir, (string Images, string Labels, string Table) split, string[] classNames, string name)
    {
        var plain = Idx.LoadPair(name, IdxPath(mnistDir, split.Images), IdxPath(mnistDir, split.Labels), classNames);
        var table = Path.Combine(dir, split.Table);
        var attributes = ReadTable(table, plain.Count);
        var pixels = new byte[plain.Count * plain.ImageSize];
        for (var i = 0; i < plain.Count; i++)
        {
            plain.Image(i).CopyTo(pixels.AsSpan(i * plain.ImageSize));
        }
        return new Dataset(name, pixels, [.. plain.Labels], 1, plain.Height, plain.Width, classNames, null, [.. Morphometry.Names], attributes);
    }

    /// <summary>Reads a measure table of <paramref name="count"/> rows; any mistake is one line naming the
    /// file and line, with how to rebuild it.</summary>
    internal static float[] ReadTable(string path, int count)
    {
        var cols = Morphometry.Names.Count;
        var header = "index," + string.Join(',', Morphometry.Names);
        string Fix(string what) => $"{path}: {what}; delete the file and run 'rebalance data get {Name}' to measure again";
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0].Trim() != header)
        {
            throw new DataException(Fix($"line 1 should be the header '{header}'"));
        }
        var body = lines.Skip(1).Where(l => l.Trim().Length > 0).ToArray();
        if (body.Length != count)
        {
            throw new DataException(Fix($"{body.Length} rows for the {count} images of MNIST"));
        }
        var values = new float[count * cols];
        for (var i = 0; i < count; i++)
        {
            var parts = body[i].Split(',');
            if (parts.Length != cols + 1 || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var index) || index != i)
            {
                throw new DataException(Fix($"line {i + 2} should be image {i}'s index and {cols} numbers"));
            }
            for (var k = 0; k < cols; k++)
            {
                if (!double.TryParse(parts[k + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    throw new DataException(Fix($"line {i + 2}, column {Morphometry.Names[k]}: '{parts[k + 1]}' is not a number"));
                }
                values[i * cols + k] = (float)v;
            }
        }
        return values;
    }

    private static string IdxPath(string dir, string file) =>
        File.Exists(Path.Combine(dir, file)) ? Path.Combine(dir, file) : Path.Combine(dir, file + ".gz");
}
