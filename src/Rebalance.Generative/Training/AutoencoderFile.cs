using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>
/// A whole trained autoencoder (<c>TAG.autoencoder.safetensors</c>): its state_dict and the metadata that
/// rebuilds it. DeepSMOTE needs its encoder to generate; for the VAEs it is kept so that a report can map
/// the encoder's features.
/// </summary>
public static class AutoencoderFile
{
    /// <summary>The file of <paramref name="tag"/> in <paramref name="dir"/>.</summary>
    public static string PathOf(string dir, string tag) => Path.Combine(dir, tag + ".autoencoder.safetensors");

    /// <summary>Writes the model with <paramref name="key"/> (what it was trained from).</summary>
    public static void Save(string path, VaeModel model, string key)
    {
        var c = new Checkpoint().AddModule(model);
        var s = model.Shape;
        c.Metadata["autoencoder.key"] = key;
        c.Metadata["autoencoder.shape"] = string.Join(",", s.Channels, s.Height, s.Width, s.LatentDim, s.NumClasses);
        c.Metadata["autoencoder.variational"] = model.Variational ? "1" : "0";
        c.Metadata["autoencoder.latent_classes"] = model.LatentClasses.ToString(CultureInfo.InvariantCulture);
        c.Metadata["autoencoder.label_embedding"] = model.LabelEmbedding.ToString(CultureInfo.InvariantCulture);
        c.Save(path);
    }

    /// <summary>Reads a model written by <see cref="Save"/>, with its key, in evaluation mode.</summary>
    public static (VaeModel Model, string Key) Load(string path)
    {
        var c = Checkpoint.Load(path);
        string Meta(string key) => c.Metadata.TryGetValue(key, out var v) ? v : throw new CheckpointException($"{path}: not an autoencoder file (no '{key}' in its metadata)");
        var parts = Meta("autoencoder.shape").Split(',');
        var v = new int[parts.Length];
        if (parts.Length != 5 || parts.Where((t, i) => !int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out v[i]) || v[i] < 0).Any())
        {
            throw new CheckpointException($"{path}: not an autoencoder file ('autoencoder.shape' is '{Meta("autoencoder.shape")}')");
        }
        var latentClasses = int.TryParse(c.Metadata.GetValueOrDefault("autoencoder.latent_classes"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var lc) ? lc : 0;
        var labelEmbedding = int.TryParse(c.Metadata.GetValueOrDefault("autoencoder.label_embedding"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var le) ? le : 0;
        var model = new VaeModel(new GanShape(v[0], v[1], v[2], v[3], v[4]), new Generator(0), Meta("autoencoder.variational") == "1", latentClasses, labelEmbedding);
        c.LoadModule(model);
        model.Eval();
        return (model, Meta("autoencoder.key"));
    }

    /// <summary>The encoder's features of every image of <paramref name="data"/> (evaluation mode).</summary>
    public static float[][] Features(VaeModel model, Dataset data)
    {
        model.Eval();
        return ImageRows.Of(data, (x, _) => model.EncoderFeatures(x));
    }
}
