using System.Globalization;
using System.Security.Cryptography;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>
/// A trained generator on disk: one safetensors file with the generator's state_dict (PyTorch names,
/// e.g. "fc.weight", "up1.weight", "bn1.running_mean") and metadata that rebuilds it: architecture,
/// latent size, image shape, classes, and for a per-class generator the class it draws.
/// </summary>
public sealed record GeneratorFile(GanGenerator Generator, string Architecture, int? Class, IReadOnlyList<string> ClassNames, string? Key)
{
    /// <summary>The restarts and plateau cuts of the training run that made it.</summary>
    public IReadOnlyList<GanEvent> Events { get; init; } = [];

    /// <summary>Writes the generator atomically; <paramref name="key"/> (see <see cref="GanTrainer.KeyFor"/>)
    /// records what it was trained from.</summary>
    public static void Save(string path, GanGenerator g, string architecture, int? forClass, IReadOnlyList<string> classNames, string? key = null, IEnumerable<GanEvent>? events = null)
    {
        var c = new Checkpoint().AddModule(g);
        if (events?.Any() == true)
        {
            c.Metadata["generator.events"] = GanTrainer.EventsToText(events);
        }
        if (key is not null)
        {
            c.Metadata["generator.key"] = key;
        }
        c.Metadata["generator.arch"] = architecture;
        c.Metadata["generator.z_dim"] = g.Shape.LatentDim.ToString(CultureInfo.InvariantCulture);
        c.Metadata["generator.shape"] = $"{g.Shape.Channels},{g.Shape.Height},{g.Shape.Width}";
        c.Metadata["generator.num_classes"] = g.Shape.NumClasses.ToString(CultureInfo.InvariantCulture);
        if (g.Shape.MaxChannels > 0)
        {
            c.Metadata["generator.max_channels"] = g.Shape.MaxChannels.ToString(CultureInfo.InvariantCulture);
        }
        c.Metadata["generator.class_names"] = string.Join("\n", classNames);
        if (forClass is { } k)
        {
            c.Metadata["generator.class"] = k.ToString(CultureInfo.InvariantCulture);
        }
        c.Save(path);
    }

    /// <summary>Reads a generator written by <see cref="Save"/>; a file that is not one throws naming it.</summary>
    public static GeneratorFile Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such generator file", path);
        }
        var c = Checkpoint.Load(path);
        string Meta(string key) => c.Metadata.TryGetValue(key, out var v) ? v : throw new CheckpointException($"{path}: not a generator file (no '{key}' in its metadata)");
        int[] Ints(string key, int count)
        {
            var parts = Meta(key).Split(',');
            var values = new int[parts.Length];
            if (parts.Length != count || parts.Where((t, i) => !int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]) || values[i] < 0).Any())
            {
                throw new CheckpointException($"{path}: not a generator file ('{key}' is '{Meta(key)}', expected {count} non-negative integer(s))");
            }
            return values;
        }
        var shape = Ints("generator.shape", 3);
        var gs = new GanShape(shape[0], shape[1], shape[2], Ints("generator.z_dim", 1)[0], Ints("generator.num_classes", 1)[0],
            c.Metadata.ContainsKey("generator.max_channels") ? Ints("generator.max_channels", 1)[0] : 0);
        var arch = Meta("generator.arch");
        var g = GanArchitectures.Get(arch).CreateGenerator(gs, new Tensors.Generator(0));
        c.LoadModule(g);
        g.Eval();
        g.RequiresGrad_(false);
        int? cls = c.Metadata.ContainsKey("generator.class") ? Ints("generator.class", 1)[0] : null;
        return new GeneratorFile(g, arch, cls, Meta("generator.class_names").Split('\n'), c.Metadata.GetValueOrDefault("generator.key"))
        {
            Events = GanTrainer.EventsFromText(c.Metadata.GetValueOrDefault("generator.events") ?? ""),
        };
    }

    /// <summary>Generated images as a tensor (N, C, H, W) in [-1, 1]; <paramref name="label"/> is used by
    /// conditional generators. The generator runs in evaluation mode without gradients.</summary>
    public static Tensor GenerateTensor(GanGenerator g, int count, int label, Tensors.Generator gen)
    {
        var wasTraining = g.Training;
        g.Eval();
        try
        {
            using (GradMode.NoGrad())
            {
                var z = gen.Normal([count, g.Shape.LatentDim]);
                var labels = g.Shape.Conditional ? Tensor.Full([count], label, DType.Int32) : null;
                return g.Forward(z, labels);
            }
        }
        finally
        {
            g.Train(wasTraining);
        }
    }

    /// <summary>Generated images as bytes in the dataset layout, in chunks of 256.</summary>
    public static byte[] Generate(GanGenerator g, int count, int label, Tensors.Generator gen)
    {
        var size = g.Shape.Channels * g.Shape.Height * g.Shape.Width;
        var bytes = new byte[count * size];
        for (var start = 0; start < count; start += 256)
        {
            var n = Math.Min(256, count - start);
            using var scope = TensorScope.Begin();
            Dataset.ToBytes(GenerateTensor(g, n, label, gen)).CopyTo(bytes.AsSpan(start * size));
        }
        return bytes;
    }

    /// <summary>A digest of a dataset's images and labels, so that stored generators are reused only for the same data.</summary>
    public static string Fingerprint(Dataset data)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> label = stackalloc byte[4];
        for (var i = 0; i < data.Count; i++)
        {
            h.AppendData(data.Image(i));
            BitConverter.TryWriteBytes(label, data.Label(i));
            h.AppendData(label);
        }
        return Convert.ToHexStringLower(h.GetHashAndReset())[..16];
    }
}
