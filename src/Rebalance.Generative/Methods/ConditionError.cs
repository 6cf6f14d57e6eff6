using Rebalance.Data;
using Rebalance.Data.Morpho;
using Rebalance.Generative.Architectures;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Methods;

/// <summary>
/// Measures whether a GAN conditioned on attributes follows its condition, for attributes that can be
/// measured on an image: Morpho-MNIST's (<see cref="Morphometry"/>) on grey images. Requests are drawn as
/// the attributes of random training images, the images generated at them are measured, and the error is
/// set beside what ignoring the request would give and beside the measurement's own agreement on real
/// images.
/// </summary>
public static class ConditionError
{
    /// <summary>Whether every attribute in <paramref name="names"/> can be measured on images of
    /// <paramref name="channels"/> channels.</summary>
    public static bool CanMeasure(IReadOnlyList<string> names, int channels) => channels == 1 && names.All(n => Morphometry.Names.Contains(n));

    /// <summary>The attributes <paramref name="names"/> measured on each of <paramref name="count"/> grey images
    /// (row-major), on all cores.</summary>
    public static double[] Measure(byte[] images, int count, int height, int width, IReadOnlyList<string> names)
    {
        var cols = names.Select(n => Morphometry.Names.ToList().IndexOf(n)).ToArray();
        if (cols.Any(c => c < 0))
        {
            throw new ArgumentException($"only {string.Join(", ", Morphometry.Names)} can be measured on an image, not {string.Join(", ", names.Where(n => !Morphometry.Names.Contains(n)))}");
        }
        var size = height * width;
        var result = new double[count * cols.Length];
        Parallel.For(0, count, i =>
        {
            var all = Morphometry.Measure(images.AsSpan(i * size, size), height, width).ToArray();
            for (var k = 0; k < cols.Length; k++)
            {
                result[i * cols.Length + k] = all[cols[k]];
            }
        });
        return result;
    }

    /// <summary>The error of <paramref name="g"/> on <paramref name="n"/> requests drawn from the training
    /// images' attributes (blank generated images, which have no measure, are left out of the mean).</summary>
    public static IReadOnlyList<AttributeCheck> Evaluate(CcganGenerator g, AttributeScale scale, Dataset train, int n, Generator gen)
    {
        var names = scale.Names;
        var k = names.Length;
        var (rows, raw) = Ccgan.KnownRows(train, names);
        var requested = new float[n * k];
        var other = new float[n * k];
        var realIndex = new int[n];
        for (var i = 0; i < n; i++)
        {
            var a = gen.NextInt(rows.Length);
            var b = gen.NextInt(rows.Length);
            Array.Copy(raw, a * k, requested, i * k, k);
            Array.Copy(raw, b * k, other, i * k, k);
            realIndex[i] = rows[b];
        }
        var standardised = new float[n * k];
        for (var i = 0; i < n; i++)
        {
            scale.Standardise(requested.AsSpan(i * k, k)).CopyTo(standardised, i * k);
        }
        var images = Ccgan.GenerateAt(g, standardised, gen);
        var measured = Measure(images, n, g.Height, g.Width, names);
        var realImages = new byte[n * train.ImageSize];
        for (var i = 0; i < n; i++)
        {
            train.Image(realIndex[i]).CopyTo(realImages.AsSpan(i * train.ImageSize));
        }
        var remeasured = Measure(realImages, n, train.Height, train.Width, names);
        var result = new List<AttributeCheck>();
        for (var j = 0; j < k; j++)
        {
            double gen1 = 0, ign = 0, real = 0;
            int m = 0, mr = 0;
            for (var i = 0; i < n; i++)
            {
                ign += Math.Abs(requested[i * k + j] - other[i * k + j]);
                if (double.IsFinite(measured[i * k + j]))
                {
                    gen1 += Math.Abs(requested[i * k + j] - measured[i * k + j]);
                    m++;
                }
                if (double.IsFinite(remeasured[i * k + j]))
                {
                    real += Math.Abs(other[i * k + j] - remeasured[i * k + j]);
                    mr++;
                }
            }
            result.Add(new AttributeCheck(names[j], m == 0 ? double.NaN : gen1 / m, ign / n, mr == 0 ? double.NaN : real / mr));
        }
        return result;
    }
}
