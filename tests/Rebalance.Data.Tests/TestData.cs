
namespace Rebalance.Data.Tests;

internal static class TestData
{
    /// <summary>A small synthetic dataset: counts[c] images of class c, each filled with a pattern of its index.</summary>
    public static Dataset Make(int[] counts, int channels = 1, int h = 6, int w = 5, string name = "synthetic")
    {
        var n = counts.Sum();
        var size = channels * h * w;
        var pixels = new byte[n * size];
        var labels = new int[n];
        var k = 0;
        // Interleave classes so that class order differs from index order.
        var left = (int[])counts.Clone();
        while (k < n)
        {
            for (var c = 0; c < counts.Length; c++)
            {
                if (left[c] == 0)
                {
                    continue;
                }
                left[c]--;
                labels[k] = c;
                for (var j = 0; j < size; j++)
                {
                    pixels[(k * size) + j] = (byte)((k * 7) + (j * 13) + c);
                }
                k++;
            }
        }
        return new Dataset(name, pixels, labels, channels, h, w, [.. Enumerable.Range(0, counts.Length).Select(c => $"class{c}")]);
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "rebalance-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "png", name);
}
