using System.Numerics;

namespace Rebalance.Tensors.Kernels;

/// <summary>Nearest-neighbour upsampling by an integer factor and its adjoint (block sums), over contiguous
/// (planes, H, W) data. Planes are independent, so the split over threads does not change any result.</summary>
internal static class Resample
{
    /// <summary>dst (planes, h·f, w·f) with dst[p, i, j] = src[p, i / f, j / f].</summary>
    public static void Upsample<T>(T[] src, T[] dst, int planes, int h, int w, int f)
        where T : unmanaged, INumber<T>
    {
        var ow = w * f;
        CpuParallel.For(planes * h, Math.Max(1, 4096 / Math.Max(1, ow * f)), (r0, r1) =>
        {
            for (var r = r0; r < r1; r++)
            {
                // Source row r (plane p, row i) fills output rows i·f .. i·f + f - 1 of plane p.
                var s = src.AsSpan(r * w, w);
                var first = dst.AsSpan(r * f * ow, ow);
                for (var j = 0; j < w; j++)
                {
                    first.Slice(j * f, f).Fill(s[j]);
                }
                for (var k = 1; k < f; k++)
                {
                    first.CopyTo(dst.AsSpan(((r * f) + k) * ow, ow));
                }
            }
        });
    }

    /// <summary>dst (planes, h, w) with dst[p, i, j] = the sum of src[p, i·f + a, j·f + b] over a, b in [0, f),
    /// added row by row of the block (a outer, b inner).</summary>
    public static void BlockSum<T>(T[] src, T[] dst, int planes, int h, int w, int f)
        where T : unmanaged, INumber<T>
    {
        var ow = w * f;
        CpuParallel.For(planes * h, Math.Max(1, 4096 / Math.Max(1, ow * f)), (r0, r1) =>
        {
            for (var r = r0; r < r1; r++)
            {
                var d = dst.AsSpan(r * w, w);
                for (var j = 0; j < w; j++)
                {
                    var sum = T.Zero;
                    for (var a = 0; a < f; a++)
                    {
                        var row = src.AsSpan((((r * f) + a) * ow) + (j * f), f);
                        for (var b = 0; b < f; b++)
                        {
                            sum += row[b];
                        }
                    }
                    d[j] = sum;
                }
            }
        });
    }
}
