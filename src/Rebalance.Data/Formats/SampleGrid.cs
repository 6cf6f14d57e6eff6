namespace Rebalance.Data.Formats;

/// <summary>Sample grids as PNG: one row per class, images side by side with a 2-pixel grey gap.</summary>
public static class SampleGrid
{
    private const int Gap = 2;
    private const byte Background = 96;

    /// <summary>
    /// Writes up to <paramref name="perClass"/> images of each class (seeded random choice) as a grid with
    /// rows = classes. Classes with fewer images leave the rest of their row empty.
    /// </summary>
    public static void Write(string path, Dataset data, int perClass, ulong seed)
    {
        if (perClass <= 0)
        {
            throw new DataException($"a grid needs at least one image per class, got {perClass}");
        }
        var gen = new Rebalance.Tensors.Generator(seed);
        var rows = new List<int[]>();
        for (var c = 0; c < data.NumClasses; c++)
        {
            var idx = data.IndicesOf(c);
            var perm = gen.Permutation(idx.Length).ToIntArray();
            rows.Add([.. perm.Take(perClass).Select(p => idx[p]).Order()]);
        }
        Write(path, data, rows);
    }

    /// <summary>Writes one row of <paramref name="perRow"/> generated images per class in
    /// <paramref name="classes"/>, <paramref name="draw"/>(c, n) making n images of class c as bytes in
    /// <paramref name="like"/>'s layout.</summary>
    public static void WriteGenerated(string path, Dataset like, IReadOnlyList<int> classes, Func<int, int, byte[]> draw, int perRow = 10)
    {
        var pixels = new List<byte>();
        foreach (var c in classes)
        {
            pixels.AddRange(draw(c, perRow));
        }
        var grid = new Dataset("samples", [.. pixels], [.. classes.SelectMany(c => Enumerable.Repeat(c, perRow))], like.Channels, like.Height, like.Width, [.. like.ClassNames]);
        Write(path, grid, [.. classes.Select((_, r) => Enumerable.Range(r * perRow, perRow).ToArray())]);
    }

    /// <summary>Writes the given images, one list of dataset indices per grid row.</summary>
    public static void Write(string path, Dataset data, IReadOnlyList<int[]> rows)
    {
        var cols = Math.Max(1, rows.Max(r => r.Length));
        var (h, w, ch) = (data.Height, data.Width, data.Channels);
        var gw = (cols * (w + Gap)) + Gap;
        var gh = (rows.Count * (h + Gap)) + Gap;
        var grid = new byte[gw * gh * ch];
        grid.AsSpan().Fill(Background);
        for (var r = 0; r < rows.Count; r++)
        {
            for (var k = 0; k < rows[r].Length; k++)
            {
                var img = data.Image(rows[r][k]);
                var x0 = Gap + (k * (w + Gap));
                var y0 = Gap + (r * (h + Gap));
                for (var y = 0; y < h; y++)
                {
                    for (var x = 0; x < w; x++)
                    {
                        for (var c = 0; c < ch; c++)
                        {
                            grid[((((y0 + y) * gw) + x0 + x) * ch) + c] = img[(c * h * w) + (y * w) + x];
                        }
                    }
                }
            }
        }
        AtomicFile.Write(path, Png.Encode(gw, gh, ch, grid));
    }
}
