using System.Globalization;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Methods;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>A trained <c>ccgan</c> model file (<c>all.ccgan.safetensors</c>): the generator and discriminator,
/// and in its metadata the image shape, the settings that size the networks, the attribute scale and the
/// data's class names, so <c>gan sample --set</c> can draw from it without the data.</summary>
/// <param name="Generator">The generator, in evaluation mode.</param>
/// <param name="Scale">The attributes it is conditioned on and their scale.</param>
/// <param name="ClassNames">The class names of the data it was trained on.</param>
public sealed record CcganModel(CcganGenerator Generator, AttributeScale Scale, IReadOnlyList<string> ClassNames)
{
    /// <summary>The file name in a model folder.</summary>
    public const string FileName = "all.ccgan.safetensors";

    private static string Join(IEnumerable<double> v) => string.Join(",", v.Select(x => x.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>Writes the model.</summary>
    public static void Save(string file, CcganGenerator g, CcganDiscriminator d, AttributeScale scale, CcganSettings s, string key, IReadOnlyList<string> classNames)
    {
        var save = new Checkpoint().AddModule(g, "g").AddModule(d, "d");
        save.Metadata["ccgan.key"] = key;
        save.Metadata["ccgan.shape"] = $"{g.Channels},{g.Height},{g.Width}";
        save.Metadata["ccgan.z_dim"] = s.LatentDim.ToString(CultureInfo.InvariantCulture);
        save.Metadata["ccgan.width"] = s.Width.ToString(CultureInfo.InvariantCulture);
        save.Metadata["ccgan.attributes"] = string.Join(",", scale.Names);
        save.Metadata["ccgan.mean"] = Join(scale.Mean);
        save.Metadata["ccgan.std"] = Join(scale.Std);
        save.Metadata["ccgan.classes"] = string.Join("\n", classNames);
        save.Save(file);
    }

    /// <summary>Reads a model written by <see cref="Save"/>; anything missing or malformed is one line naming the file.</summary>
    public static CcganModel Load(string file)
    {
        Checkpoint c;
        try
        {
            c = Checkpoint.Load(file);
        }
        catch (Exception e) when (e is IOException or CheckpointException or InvalidDataException or FormatException)
        {
            throw new ArgumentException($"{file}: not a readable ccgan model ({e.Message})");
        }
        string Meta(string k) => c.Metadata.GetValueOrDefault("ccgan." + k) ?? throw new ArgumentException($"{file}: not a ccgan model (no '{k}' in its metadata)");
        static double[] Numbers(string text) => [.. text.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture))];
        try
        {
            var shape = Meta("shape").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var names = Meta("attributes").Split(',');
            var scale = new AttributeScale(names, Numbers(Meta("mean")), Numbers(Meta("std")));
            var g = new CcganGenerator(shape[0], shape[1], shape[2], int.Parse(Meta("z_dim"), CultureInfo.InvariantCulture), names.Length, int.Parse(Meta("width"), CultureInfo.InvariantCulture), new Generator(0));
            c.LoadModule(g, "g");
            g.Eval();
            return new CcganModel(g, scale, Meta("classes").Split("\n"));
        }
        catch (Exception e) when (e is FormatException or IndexOutOfRangeException or CheckpointException)
        {
            throw new ArgumentException($"{file}: a damaged ccgan model ({e.Message})");
        }
    }

    /// <summary>Standardised attribute rows for <paramref name="n"/> images at the raw values given by name;
    /// every attribute of the model must be given.</summary>
    public float[] At(IReadOnlyDictionary<string, double> values, int n)
    {
        var missing = Scale.Names.Where(a => !values.ContainsKey(a)).ToArray();
        if (missing.Length > 0)
        {
            throw new ArgumentException($"--set: give a value for every attribute the model is conditioned on ({string.Join(", ", Scale.Names)}); missing: {string.Join(", ", missing)}");
        }
        var extra = values.Keys.Where(a => !Scale.Names.Contains(a)).ToArray();
        if (extra.Length > 0)
        {
            throw new ArgumentException($"--set: {string.Join(", ", extra)} is not an attribute of the model (it has {string.Join(", ", Scale.Names)})");
        }
        var row = Scale.Standardise([.. Scale.Names.Select(a => (float)values[a])]);
        return [.. Enumerable.Range(0, n).SelectMany(_ => row)];
    }
}
