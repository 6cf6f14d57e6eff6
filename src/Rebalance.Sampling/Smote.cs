using Rebalance.Data;
using Rebalance.Tensors;

namespace Rebalance.Sampling;

/// <summary>Building blocks shared by the samplers that add images.</summary>
internal static class Synthesis
{
    /// <summary>Copies of the images at <paramref name="sources"/> (with their attributes), appended as synthetic.</summary>
    public static Dataset AddCopies(Dataset data, IReadOnlyList<int> sources)
    {
        if (sources.Count == 0)
        {
            return data;
        }
        var size = data.ImageSize;
        var pixels = new byte[sources.Count * size];
        var labels = new int[sources.Count];
        var a = data.AttributeNames.Count;
        var attributes = new float[sources.Count * a];
        for (var i = 0; i < sources.Count; i++)
        {
            data.Image(sources[i]).CopyTo(pixels.AsSpan(i * size, size));
            labels[i] = data.Label(sources[i]);
            data.Attributes(sources[i]).CopyTo(attributes.AsSpan(i * a, a));
        }
        // A copy is the same image, so it keeps its attributes.
        return data.WithSynthetic(pixels, labels, attributes);
    }

    /// <summary>x_a + lambda (x_b - x_a), pixel by pixel, rounded to bytes.</summary>
    public static void Interpolate(Dataset data, int a, int b, double lambda, Span<byte> output)
    {
        var xa = data.Image(a);
        var xb = data.Image(b);
        var l = (float)lambda;
        for (var j = 0; j < output.Length; j++)
        {
            output[j] = (byte)Math.Clamp(MathF.Round(xa[j] + (l * (xb[j] - xa[j]))), 0f, 255f);
        }
    }
}

/// <summary>
/// SMOTE (Chawla et al. 2002): each new image lies on the segment between a randomly chosen image of the
/// class and one of its k nearest neighbours within the class, at a uniform random position.
/// Borderline-SMOTE and ADASYN choose where to synthesise differently and share the interpolation.
/// </summary>
public class Smote(int k = 5) : IRebalancer
{
    /// <summary>Neighbours considered per image.</summary>
    public int K { get; } = k;

    /// <inheritdoc />
    public virtual string Name => "smote";

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Over;

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null)
    {
        var counts = train.ClassCounts();
        var targets = strategy.Targets(counts, Kind);
        SamplingStrategy.CheckGrowable(train, counts, targets, Name);
        var gen = new Generator(seed);
        var size = train.ImageSize;
        var total = targets.Zip(counts, (t, n) => t - n).Sum();
        var pixels = new byte[total * size];
        var labels = new int[total];
        var filled = 0;
        var notes = new List<RebalanceNote>();
        Neighbors? all = null;
        for (var c = 0; c < counts.Length; c++)
        {
            var need = targets[c] - counts[c];
            if (need <= 0)
            {
                continue;
            }
            var members = train.IndicesOf(c);
            var made = members.Length == 1
                ? Copies(train, members[0], need, pixels.AsSpan(filled * size), log, c, notes)
                : Synthesize(train, c, members, need, gen, () => all ??= new Neighbors(train), pixels.AsSpan(filled * size, need * size), log, notes);
            labels.AsSpan(filled, made).Fill(c);
            filled += made;
        }
        var result = filled == 0 ? train : train.WithSynthetic(pixels[..(filled * size)], labels[..filled]);
        return new RebalanceResult(result) { Notes = notes };
    }

    /// <summary>Makes <paramref name="need"/> images of class <paramref name="c"/> into <paramref name="output"/>.</summary>
    private protected virtual int Synthesize(Dataset train, int c, int[] members, int need, Generator gen, Func<Neighbors> allNeighbors, Span<byte> output, Action<string>? log, List<RebalanceNote> notes)
    {
        var inClass = new Neighbors(train, members).Search(members, K);
        var seeds = new int[need];
        for (var i = 0; i < need; i++)
        {
            seeds[i] = gen.NextInt(members.Length);
        }
        return Interpolate(train, members, inClass, seeds, gen, output);
    }

    /// <summary>For each seed position: a random in-class neighbour and a point on the segment.</summary>
    private protected static int Interpolate(Dataset train, int[] members, int[][] inClass, IReadOnlyList<int> seeds, Generator gen, Span<byte> output)
    {
        var size = train.ImageSize;
        for (var i = 0; i < seeds.Count; i++)
        {
            var s = seeds[i];
            var nn = inClass[s];
            var j = nn[gen.NextInt(nn.Length)];
            Synthesis.Interpolate(train, members[s], members[j], gen.NextDouble(), output.Slice(i * size, size));
        }
        return seeds.Count;
    }

    private static int Copies(Dataset train, int source, int need, Span<byte> output, Action<string>? log, int c, List<RebalanceNote> notes)
    {
        var note = new RebalanceNote("copies", $"the class has a single image and interpolation needs two, so its {need} new images are copies of it", $"class {c} ('{train.ClassNames[c]}')");
        log?.Invoke(note.ToString());
        notes.Add(note);
        var size = train.ImageSize;
        for (var i = 0; i < need; i++)
        {
            train.Image(source).CopyTo(output.Slice(i * size, size));
        }
        return need;
    }
}

/// <summary>
/// Borderline-SMOTE (Han et al. 2005): only images "in danger" seed new ones, those with at least half,
/// but not all, of their m nearest neighbours (over all classes) in other classes. Kind 1 interpolates
/// toward in-class neighbours; kind 2 toward any of the k nearest images, stopping at most halfway when
/// the neighbour is of another class. A class with no image in danger is left as it is, as
/// imbalanced-learn's BorderlineSMOTE does; the run records that in its notes.
/// </summary>
public sealed class BorderlineSmote(int kind = 1, int k = 5, int m = 10) : Smote(k)
{
    /// <inheritdoc />
    public override string Name => "borderline-smote";

    private protected override int Synthesize(Dataset train, int c, int[] members, int need, Generator gen, Func<Neighbors> allNeighbors, Span<byte> output, Action<string>? log, List<RebalanceNote> notes)
    {
        var all = allNeighbors();
        var near = all.Search(members, Math.Max(m, K));
        var danger = new List<int>();
        for (var i = 0; i < members.Length; i++)
        {
            var others = near[i].Take(m).Count(j => train.Label(all.Indices[j]) != c);
            if (others * 2 >= m && others < m)
            {
                danger.Add(i);
            }
        }
        if (danger.Count == 0)
        {
            var note = new RebalanceNote("class-unchanged", $"no image is in danger (at least half but not all of its {m} nearest neighbours in other classes), so the class was left at {members.Length} images instead of {members.Length + need}", $"class {c} ('{train.ClassNames[c]}')");
            log?.Invoke(note.ToString());
            notes.Add(note);
            return 0;
        }
        log?.Invoke($"class {c}: {danger.Count} of {members.Length} images are in danger");
        var seeds = new int[need];
        for (var i = 0; i < need; i++)
        {
            seeds[i] = danger[gen.NextInt(danger.Count)];
        }
        if (kind == 1)
        {
            return Interpolate(train, members, new Neighbors(train, members).Search(members, K), seeds, gen, output);
        }
        var size = train.ImageSize;
        for (var i = 0; i < need; i++)
        {
            var s = seeds[i];
            var nn = near[s].Take(K).ToArray();
            var j = all.Indices[nn[gen.NextInt(nn.Length)]];
            var lambda = gen.NextDouble() * (train.Label(j) == c ? 1.0 : 0.5);
            Synthesis.Interpolate(train, members[s], j, lambda, output.Slice(i * size, size));
        }
        return need;
    }
}

/// <summary>
/// ADASYN (He et al. 2008): each image of the class seeds a number of new ones proportional to the share
/// of other-class images among its k nearest neighbours (over all classes), so hard regions get more;
/// interpolation is toward in-class neighbours as in SMOTE. Counts are rounded by largest remainder so the
/// class meets its target exactly. A class with no other-class neighbours at all is an error, as in
/// imbalanced-learn (the density ratios would divide by zero): ADASYN does not suit such data.
/// </summary>
public sealed class Adasyn(int k = 5) : Smote(k)
{
    /// <inheritdoc />
    public override string Name => "adasyn";

    private protected override int Synthesize(Dataset train, int c, int[] members, int need, Generator gen, Func<Neighbors> allNeighbors, Span<byte> output, Action<string>? log, List<RebalanceNote> notes)
    {
        var all = allNeighbors();
        var near = all.Search(members, K);
        var hardness = near.Select(nn => nn.Count(j => train.Label(all.Indices[j]) != c) / (double)Math.Max(1, nn.Length)).ToArray();
        var sum = hardness.Sum();
        if (sum == 0)
        {
            throw new ArgumentException($"adasyn: no image of class {c} ('{train.ClassNames[c]}') has a neighbour of another class among its {K} nearest, so ADASYN's weights are undefined; use smote for this data");
        }
        var share = hardness.Select(h => h / sum * need).ToArray();
        var per = share.Select(s => (int)Math.Floor(s)).ToArray();
        var left = need - per.Sum();
        foreach (var i in Enumerable.Range(0, per.Length).OrderByDescending(i => share[i] - per[i]).ThenBy(i => i).Take(left))
        {
            per[i]++;
        }
        var seeds = new List<int>(need);
        for (var i = 0; i < per.Length; i++)
        {
            seeds.AddRange(Enumerable.Repeat(i, per[i]));
        }
        return Interpolate(train, members, new Neighbors(train, members).Search(members, K), seeds, gen, output);
    }
}
