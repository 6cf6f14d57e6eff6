using Rebalance.Tensors;

namespace Rebalance.Data.Protocols;

/// <summary>Train/validation splits.</summary>
public static class Splits
{
    /// <summary>
    /// A stratified split: from each class, round(fraction * count) images (seeded random choice) go to
    /// validation, but a class keeps at least one training image and, when it has two or more and the
    /// fraction is positive, gives at least one to validation. Both parts keep the original order.
    /// </summary>
    public static (Dataset Train, Dataset Validation) Stratified(Dataset data, double fraction, ulong seed)
    {
        if (!(fraction >= 0 && fraction < 1))
        {
            throw new DataException($"validation fraction must lie in [0, 1), got {fraction}");
        }
        var gen = new Generator(seed);
        var train = new List<int>();
        var val = new List<int>();
        for (var c = 0; c < data.NumClasses; c++)
        {
            var idx = data.IndicesOf(c);
            var perm = gen.Permutation(idx.Length).ToIntArray();
            var k = (int)Math.Round(fraction * idx.Length, MidpointRounding.AwayFromZero);
            if (fraction > 0 && idx.Length >= 2)
            {
                k = Math.Clamp(k, 1, idx.Length - 1);
            }
            else
            {
                k = Math.Min(k, Math.Max(0, idx.Length - 1));
            }
            val.AddRange(perm.Take(k).Select(p => idx[p]));
            train.AddRange(perm.Skip(k).Select(p => idx[p]));
        }
        train.Sort();
        val.Sort();
        return (data.Subset(train), data.Subset(val, data.Name + " (validation)"));
    }
}
