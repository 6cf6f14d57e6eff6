using Rebalance.Data;

namespace Rebalance.Generative.Tests;

/// <summary>A tiny dataset whose classes a test can tell apart by eye: 28x28 images where class c has a
/// bright band at rows 4+8c, with pixel noise.</summary>
internal static class BandImages
{
    public static Dataset Bands(int[] counts, int seed = 3)
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

    /// <summary>The brightness of the five rows around <paramref name="centre"/>.</summary>
    public static double Rows(ReadOnlySpan<byte> img, int centre)
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
}
