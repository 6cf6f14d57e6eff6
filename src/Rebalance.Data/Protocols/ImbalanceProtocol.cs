using System.Globalization;
using Rebalance.Tensors;

namespace Rebalance.Data.Protocols;

/// <summary>
/// How a balanced training split is made imbalanced: a target count per class, from which a seeded
/// random subset of each class is kept. Applied to the training split only; the test split is never
/// touched. Specs (the command line's --protocol and the experiment files use these):
/// <list type="bullet">
/// <item><c>none</c>: keep everything.</item>
/// <item><c>counts:4000,2000,...</c>: explicit counts, one per class.</item>
/// <item><c>drop:5:0.99</c> or <c>drop:3,5:0.9</c>: remove a fraction of the listed classes.</item>
/// <item><c>long-tail:100</c>: n_c = n_max * rho^(-c / (K - 1)) with imbalance ratio rho.</item>
/// <item><c>step:5,6,7,8,9:100</c>: the listed minority classes cut to n_max / rho.</item>
/// <item><c>single-class:3:0.05</c>: one class cut to a fraction u of the largest (BAGAN's protocol).</item>
/// <item>presets <c>ir100</c> (4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40), <c>mnist5-99</c>
/// (99% of class 5 removed) and <c>fmnist-lt</c> (class 0 whole, class c keeps 100 * c images).</item>
/// <item><c>threshold:thickness&gt;3.5&amp;slant&gt;0.2</c>: two classes from the images' attributes (see
/// <see cref="ThresholdProtocol"/>), optionally followed by <c>+</c> and one of the above for the counts.</item>
/// </list>
/// </summary>
public abstract record ImbalanceProtocol
{
    /// <summary>The spec this protocol was parsed from (or its canonical form).</summary>
    public abstract string Spec { get; }

    /// <summary>Classes defined by the protocol itself (<see cref="ThresholdProtocol"/>): applied to both
    /// splits as soon as they are loaded, before anything is trained or held out. Others return the splits
    /// unchanged.</summary>
    public virtual (Dataset Train, Dataset? Test) Relabel(Dataset train, Dataset? test) => (train, test);

    /// <summary>Target count per class given the current counts; throws naming the class when one cannot be met.</summary>
    public abstract int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames);

    /// <summary>Keeps a seeded random subset of each class (in the original order) to meet the targets.</summary>
    public Dataset Apply(Dataset train, ulong seed)
    {
        var counts = train.ClassCounts();
        var targets = TargetCounts(counts, train.ClassNames);
        for (var c = 0; c < counts.Length; c++)
        {
            if (targets[c] > counts[c])
            {
                throw new DataException($"protocol '{Spec}' asks for {targets[c]} images of class {c} ('{train.ClassNames[c]}') but {train.Name} has {counts[c]}");
            }
            if (targets[c] < 0)
            {
                throw new DataException($"protocol '{Spec}' gives class {c} a negative count ({targets[c]})");
            }
        }
        var gen = new Generator(seed);
        var keep = new List<int>();
        for (var c = 0; c < counts.Length; c++)
        {
            var idx = train.IndicesOf(c);
            var perm = gen.Permutation(idx.Length).ToIntArray();
            keep.AddRange(perm.Take(targets[c]).Select(p => idx[p]));
        }
        keep.Sort();
        return train.Subset(keep);
    }

    /// <summary>Parses a protocol spec; the message of a bad one says what was expected.</summary>
    public static ImbalanceProtocol Parse(string spec)
    {
        var s = spec.Trim();
        if (s.StartsWith("threshold:", StringComparison.OrdinalIgnoreCase))
        {
            return ThresholdProtocol.Parse(s);
        }
        var parts = s.Split(':');
        try
        {
            return parts[0].ToLowerInvariant() switch
            {
                "none" when parts.Length == 1 => new NoImbalance(),
                "ir100" when parts.Length == 1 => new CountsProtocol([4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40], "ir100"),
                "mnist5-99" when parts.Length == 1 => new DropProtocol([5], 0.99, "mnist5-99"),
                "fmnist-lt" when parts.Length == 1 => new FmnistLongTail(),
                "counts" when parts.Length == 2 => new CountsProtocol(Ints(parts[1], "counts"), s),
                "drop" when parts.Length == 3 => new DropProtocol(Ints(parts[1], "drop"), Fraction(parts[2], "drop"), s),
                "long-tail" when parts.Length == 2 => new LongTailProtocol(Ratio(parts[1], "long-tail"), s),
                "step" when parts.Length == 3 => new StepProtocol(Ints(parts[1], "step"), Ratio(parts[2], "step"), s),
                "single-class" when parts.Length == 3 => new SingleClassProtocol(Ints(parts[1], "single-class").Single(), Fraction(parts[2], "single-class"), s),
                _ => throw new DataException($"unknown protocol '{spec}' (expected none, ir100, mnist5-99, fmnist-lt, counts:N,N,..., drop:CLASSES:FRACTION, long-tail:RATIO, step:CLASSES:RATIO, single-class:CLASS:FRACTION or threshold:ATTR>VALUE&...[+PROTOCOL])"),
            };
        }
        catch (InvalidOperationException)
        {
            throw new DataException($"protocol '{spec}': single-class takes exactly one class");
        }
    }

    private static int[] Ints(string text, string what)
    {
        var items = text.Split(',', StringSplitOptions.TrimEntries);
        var r = new int[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            if (!int.TryParse(items[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out r[i]) || r[i] < 0)
            {
                throw new DataException($"protocol {what}: '{items[i]}' is not a non-negative integer");
            }
        }
        return r;
    }

    private static double Fraction(string text, string what)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v >= 0 && v <= 1))
        {
            throw new DataException($"protocol {what}: '{text}' is not a fraction between 0 and 1");
        }
        return v;
    }

    private static double Ratio(string text, string what)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v >= 1) || double.IsInfinity(v))
        {
            throw new DataException($"protocol {what}: imbalance ratio '{text}' must be a number of at least 1");
        }
        return v;
    }

    internal static void CheckClasses(string spec, int[] classes, int k)
    {
        foreach (var c in classes)
        {
            if (c >= k)
            {
                throw new DataException($"protocol '{spec}' names class {c} but the dataset has {k} classes (0..{k - 1})");
            }
        }
    }
}

/// <summary>Keeps every image.</summary>
public sealed record NoImbalance : ImbalanceProtocol
{
    /// <inheritdoc />
    public override string Spec => "none";

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames) => (int[])counts.Clone();
}

/// <summary>Explicit counts per class.</summary>
public sealed record CountsProtocol(int[] Counts, string Name) : ImbalanceProtocol
{
    /// <inheritdoc />
    public override string Spec => Name;

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames)
    {
        if (Counts.Length != counts.Length)
        {
            throw new DataException($"protocol '{Spec}' gives {Counts.Length} counts but the dataset has {counts.Length} classes");
        }
        return (int[])Counts.Clone();
    }
}

/// <summary>Removes a fraction of the listed classes (rounded, so 99% of 5421 keeps 54).</summary>
public sealed record DropProtocol(int[] Classes, double Fraction, string Name) : ImbalanceProtocol
{
    /// <inheritdoc />
    public override string Spec => Name;

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames)
    {
        CheckClasses(Spec, Classes, counts.Length);
        var t = (int[])counts.Clone();
        foreach (var c in Classes)
        {
            t[c] = (int)Math.Round(counts[c] * (1 - Fraction), MidpointRounding.AwayFromZero);
        }
        return t;
    }
}

/// <summary>Exponential decay n_c = floor(n_max * rho^(-c / (K - 1))), as in the long-tailed CIFAR protocols.
/// n_max is the smallest class count of the source split, so that every class can meet its target
/// (MNIST, for one, is not exactly balanced).</summary>
public sealed record LongTailProtocol(double Ratio, string Name) : ImbalanceProtocol
{
    /// <inheritdoc />
    public override string Spec => Name;

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames)
    {
        var k = counts.Length;
        var nMax = counts.Min();
        return [.. Enumerable.Range(0, k).Select(c => k == 1 ? nMax : (int)Math.Floor(nMax * Math.Pow(Ratio, -c / (double)(k - 1))))];
    }
}

/// <summary>Step imbalance: the listed minority classes cut to floor(n_max / rho), the others kept.</summary>
public sealed record StepProtocol(int[] Minority, double Ratio, string Name) : ImbalanceProtocol
{
    /// <inheritdoc />
    public override string Spec => Name;

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames)
    {
        CheckClasses(Spec, Minority, counts.Length);
        var nMax = counts.Max();
        var t = (int[])counts.Clone();
        foreach (var c in Minority)
        {
            t[c] = (int)Math.Floor(nMax / Ratio);
        }
        return t;
    }
}

/// <summary>One class cut to floor(u * n_max) (BAGAN's single-minority protocol).</summary>
public sealed record SingleClassProtocol(int Class, double Fraction, string Name) : ImbalanceProtocol
{
    /// <inheritdoc />
    public override string Spec => Name;

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames)
    {
        CheckClasses(Spec, [Class], counts.Length);
        var t = (int[])counts.Clone();
        t[Class] = (int)Math.Floor(Fraction * counts.Max());
        return t;
    }
}

/// <summary>The Fashion-MNIST long-tail preset: class 0 whole, class c keeps 100 * c images.</summary>
public sealed record FmnistLongTail : ImbalanceProtocol
{
    /// <inheritdoc />
    public override string Spec => "fmnist-lt";

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames) =>
        [.. counts.Select((n, c) => c == 0 ? n : 100 * c)];
}

/// <summary>One condition of a <see cref="ThresholdProtocol"/>: attribute, comparison, value.</summary>
public sealed record AttributeCondition(string Attribute, string Operator, float Value)
{
    /// <summary>Whether <paramref name="v"/> meets it.</summary>
    public bool Holds(float v) => Operator switch
    {
        ">" => v > Value,
        ">=" => v >= Value,
        "<" => v < Value,
        _ => v <= Value,
    };
}

/// <summary>
/// Classes from attributes (a folder's metadata.csv): <c>threshold:A&gt;x&amp;B&lt;=y</c> makes two classes, the
/// images meeting every condition ("A&gt;x&amp;B&lt;=y") and the others ("not A&gt;x&amp;B&lt;=y"), in both splits, so a
/// boolean label made from continuous quantities (the galaxy study's setting) exists on any dataset with
/// attributes. <c>+PROTOCOL</c> then sets the counts of the training split (e.g. <c>+counts:1000,500</c>);
/// without it every image is kept. An image without a value of a named attribute is an error.
/// </summary>
public sealed record ThresholdProtocol(IReadOnlyList<AttributeCondition> Conditions, ImbalanceProtocol Then, string Name) : ImbalanceProtocol
{
    private static readonly string[] Operators = [">=", "<=", ">", "<"];

    /// <inheritdoc />
    public override string Spec => Name;

    /// <summary>The conditions as written ("thickness&gt;3.5&amp;slant&gt;0.2"): the second class's name.</summary>
    public string Expression => string.Join("&", Conditions.Select(c => $"{c.Attribute}{c.Operator}{c.Value.ToString("R", CultureInfo.InvariantCulture)}"));

    /// <summary>Parses <c>threshold:CONDITIONS[+PROTOCOL]</c>.</summary>
    public static new ThresholdProtocol Parse(string spec)
    {
        var body = spec["threshold:".Length..];
        var plus = body.IndexOf('+', StringComparison.Ordinal);
        var expression = plus < 0 ? body : body[..plus];
        ImbalanceProtocol then = new NoImbalance();
        if (plus >= 0)
        {
            var rest = body[(plus + 1)..].Trim();
            then = rest.StartsWith("threshold:", StringComparison.OrdinalIgnoreCase)
                ? throw new DataException($"protocol '{spec}': one threshold per protocol")
                : ImbalanceProtocol.Parse(rest);
        }
        var conditions = new List<AttributeCondition>();
        foreach (var raw in expression.Split('&'))
        {
            var part = raw.Trim();
            var op = Operators.Select(o => (o, at: part.IndexOf(o, StringComparison.Ordinal))).Where(x => x.at > 0).OrderBy(x => x.at).ThenByDescending(x => x.o.Length).FirstOrDefault();
            if (op.o is null || !float.TryParse(part[(op.at + op.o.Length)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !float.IsFinite(value) || part[..op.at].Trim().Length == 0 || part[..op.at].IndexOfAny(['<', '>', '=']) >= 0)
            {
                throw new DataException($"protocol '{spec}': '{part}' is not ATTRIBUTE>VALUE, ATTRIBUTE>=VALUE, ATTRIBUTE<VALUE or ATTRIBUTE<=VALUE (conditions joined by &)");
            }
            conditions.Add(new AttributeCondition(part[..op.at].Trim(), op.o, value));
        }
        return new ThresholdProtocol(conditions, then, spec.Trim());
    }

    /// <inheritdoc />
    public override (Dataset Train, Dataset? Test) Relabel(Dataset train, Dataset? test)
    {
        string[] names = [$"not {Expression}", Expression];
        return (Split(train, names), test is null ? null : Split(test, names));
    }

    private Dataset Split(Dataset data, string[] names)
    {
        var columns = Conditions.Select(c =>
        {
            var k = data.AttributeNames.ToList().IndexOf(c.Attribute);
            return k >= 0 ? k : throw new DataException($"protocol '{Spec}': {data.Name} has no attribute '{c.Attribute}' ({(data.AttributeNames.Count == 0 ? "it has no metadata.csv attributes" : $"its attributes: {string.Join(", ", data.AttributeNames)}")})");
        }).ToArray();
        var labels = new int[data.Count];
        for (var i = 0; i < data.Count; i++)
        {
            var row = data.Attributes(i);
            var yes = true;
            for (var k = 0; k < columns.Length; k++)
            {
                var v = row[columns[k]];
                if (float.IsNaN(v))
                {
                    throw new DataException($"protocol '{Spec}': image {i} of {data.Name} has no value of '{Conditions[k].Attribute}' (NaN)");
                }
                yes &= Conditions[k].Holds(v);
            }
            labels[i] = yes ? 1 : 0;
        }
        return data.WithLabels(labels, names);
    }

    /// <inheritdoc />
    public override int[] TargetCounts(int[] counts, IReadOnlyList<string> classNames) => Then.TargetCounts(counts, classNames);
}
