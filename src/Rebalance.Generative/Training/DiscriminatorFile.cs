using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>
/// A trained discriminator kept beside its generator (<c>TAG.discriminator.safetensors</c>): its
/// state_dict and the metadata that rebuilds it. It is not needed to generate; it is kept so that a report
/// can show where the method's own discriminator puts real and generated images (its features, the
/// flattened input of its final linear layer), as the SCDL-GAN study plots its encoder's.
/// </summary>
public static class DiscriminatorFile
{
    /// <summary>The file of <paramref name="tag"/> in <paramref name="dir"/>.</summary>
    public static string PathOf(string dir, string tag) => Path.Combine(dir, tag + ".discriminator.safetensors");

    /// <summary>Writes the discriminator atomically.</summary>
    public static void Save(string path, GanDiscriminator d, string architecture)
    {
        var c = new Checkpoint().AddModule(d);
        var s = d.Shape;
        c.Metadata["discriminator.arch"] = architecture;
        c.Metadata["discriminator.shape"] = s.MaxChannels > 0 ? string.Join(",", s.Channels, s.Height, s.Width, s.LatentDim, s.NumClasses, s.MaxChannels) : string.Join(",", s.Channels, s.Height, s.Width, s.LatentDim, s.NumClasses);
        c.Metadata["discriminator.options"] = string.Join(",", d.Options.BatchNorm ? 1 : 0, d.Options.SpectralNorm ? 1 : 0, d.Options.AuxClassifier ? 1 : 0, d.Options.Contrastive);
        c.Save(path);
    }

    /// <summary>Reads a discriminator written by <see cref="Save"/>, in evaluation mode.</summary>
    public static GanDiscriminator Load(string path)
    {
        var c = Checkpoint.Load(path);
        string Meta(string key) => c.Metadata.TryGetValue(key, out var v) ? v : throw new CheckpointException($"{path}: not a discriminator file (no '{key}' in its metadata)");
        int[] Ints(string key, params int[] counts)
        {
            var parts = Meta(key).Split(',');
            var values = new int[parts.Length];
            if (!counts.Contains(parts.Length) || parts.Where((t, i) => !int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]) || values[i] < 0).Any())
            {
                throw new CheckpointException($"{path}: not a discriminator file ('{key}' is '{Meta(key)}')");
            }
            return values;
        }
        var s = Ints("discriminator.shape", 5, 6); // a sixth value: the channel cap (progan_channels)
        var o = Ints("discriminator.options", 3, 4); // files written before contrastive heads have 3
        var d = GanArchitectures.Get(Meta("discriminator.arch")).CreateDiscriminator(new GanShape(s[0], s[1], s[2], s[3], s[4], s.Length > 5 ? s[5] : 0), new DiscriminatorOptions(o[0] == 1, o[1] == 1, o[2] == 1, o.Length > 3 ? o[3] : 0), new Generator(0));
        c.LoadModule(d);
        d.Eval();
        return d;
    }

    /// <summary>The discriminator's features (the input of its final linear layer) of every image of
    /// <paramref name="data"/>, in evaluation mode, in batches of 256.</summary>
    public static float[][] Features(GanDiscriminator d, Dataset data)
    {
        d.Eval();
        return ImageRows.Of(data, (x, idx) =>
            d.Forward(x, d.Shape.Conditional ? Tensor.FromArray(idx.Select(data.Label).ToArray(), idx.Length) : null).Features
                ?? throw new InvalidOperationException("the discriminator reports no features"));
    }
}
