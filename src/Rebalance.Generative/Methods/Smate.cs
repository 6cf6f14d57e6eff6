using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Sampling;

namespace Rebalance.Generative.Methods;

/// <summary>
/// SMate-style transfer: a GAN is pre-trained on the images of the classes that are not filled (the
/// majority), then a copy of it (generator and discriminator) is fine-tuned on each class to be filled,
/// optionally with its first blocks frozen. Settings: the GAN keys for fine-tuning, the same keys with a
/// "pretrain_" prefix for pre-training.
/// </summary>
public sealed class Smate : GenerativeRebalancer
{
    private readonly GanSettings _pre;
    private readonly GanSettings _fine;

    private Smate(GanSettings pre, GanSettings fine, MethodSettings settings, GenerativeContext context) : base(settings, context) => (_pre, _fine) = (pre, fine);

    /// <inheritdoc />
    public override string Name => "smate";

    private protected override GanSettings Primary => _fine;

    internal static Smate Create(MethodSettings settings, GenerativeContext context)
    {
        var fine = GenerativeMethods.Unconditional(GanSettings.Read(settings, new GanSettings { Steps = 1000, FreezeD = 1 }), "smate");
        // Pre-training shares the architecture, loss and latent size; its other keys default to the
        // fine-tuning values with more steps.
        var pre = GanSettings.Read(settings, fine with { Steps = 2000, FreezeG = 0, FreezeD = 0 }, "pretrain_");
        if (pre.Architecture != fine.Architecture || pre.Loss != fine.Loss || pre.LatentDim != fine.LatentDim || pre.SpectralNorm != fine.SpectralNorm || pre.ProganChannels != fine.ProganChannels || pre.R1 > 0 != fine.R1 > 0)
        {
            throw new SettingException("pretrain_arch", $"method 'smate': pre-training and fine-tuning must use the same arch, loss, z_dim, spectral_norm, progan_channels and r1 on/off (the weights are transferred)");
        }
        return new Smate(pre, fine, settings, context);
    }

    private protected override string FolderKey(Dataset train, int[] grow) => "pretrain on " + string.Join(",", PretrainClasses(train, grow));

    private static int[] PretrainClasses(Dataset train, int[] grow)
    {
        var counts = train.ClassCounts();
        return [.. Enumerable.Range(0, train.NumClasses).Except(grow).Where(c => counts[c] > 0)];
    }

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var majority = PretrainClasses(train, grow);
        if (majority.Length == 0)
        {
            throw new ArgumentException("smate: every class is to be filled, so no majority class is left to pre-train on (use a strategy that leaves the largest classes alone)");
        }
        var shape = new GanShape(train.Channels, train.Height, train.Width, _fine.LatentDim, MaxChannels: _fine.MaxChannels);
        var preData = train.Subset([.. majority.SelectMany(train.IndicesOf).Order()]);
        // The pre-training set depends on which classes are filled; its files are named after it.
        var preTag = majority.Length <= 12 ? "pretrain-c" + string.Join("_", majority) : "pretrain-" + GanSettings.Digest(string.Join(",", majority));
        var preKey = GanTrainer.KeyFor(_pre, shape, seed, preData);
        GanTrainer? pre = null;
        var result = new Dictionary<int, GanGenerator>();
        foreach (var c in grow)
        {
            var data = train.Subset(train.IndicesOf(c));
            var classSeed = seed + 1 + (ulong)c;
            // A fine-tuned generator depends on its pre-training too.
            var key = GanSettings.Digest(GanTrainer.KeyFor(_fine, shape, classSeed, data) + ";after " + preKey);
            // The pre-trained pair is loaded or trained only when a fine-tuned generator is not stored.
            result[c] = LoadOrTrain(dir, $"class{c}", key, _fine, () => new GanTrainer(_fine, shape, classSeed, transferFrom: pre ??= Pretrained(shape, seed, preData, preTag, preKey, dir, log, notes)), data, c, log, notes);
        }
        return result;
    }

    private GanTrainer Pretrained(GanShape shape, ulong seed, Dataset preData, string preTag, string preKey, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var preFile = Path.Combine(dir, preTag + ".pair.safetensors");
        var pre = new GanTrainer(_pre, shape, seed);
        if (File.Exists(preFile))
        {
            var c = Nn.Checkpoint.Load(preFile);
            if (c.Metadata.GetValueOrDefault("gan.key") != preKey)
            {
                throw new ArgumentException($"{preFile} holds a pair pre-trained with other settings, data or seed; use another output folder or delete the file");
            }
            log?.Invoke($"{preTag}: reusing {preFile}");
            notes.AddRange(GanTrainer.EventsFromText(c.Metadata.GetValueOrDefault("gan.events") ?? "").Select(e => new RebalanceNote(e.Kind, e.Detail, preTag, e.Step)));
            c.LoadModule(pre.G, "g");
            c.LoadModule(pre.D, "d");
            c.LoadModule(pre.Sampler, "ema");
            return pre;
        }
        log?.Invoke($"{preTag}: {_pre.Architecture} GAN ({_pre.Loss}) on {preData.Count} images of classes {string.Join(", ", preData.ClassCounts().Select((n, k) => (n, k)).Where(x => x.n > 0).Select(x => x.k))} for {_pre.Steps} steps");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        pre.Train(preData, dir, preTag, new GanCallbacks { Log = log, Progress = Context.Progress });
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{preTag}: done in {sw.Elapsed.TotalSeconds:F0} s, sample score {pre.LastScore:G3}"));
        var pair = new Nn.Checkpoint().AddModule(pre.G, "g").AddModule(pre.D, "d").AddModule(pre.Sampler, "ema");
        pair.Metadata["gan.key"] = preKey;
        pair.Metadata["gan.events"] = GanTrainer.EventsToText(pre.Events);
        pair.Save(preFile);
        GanTrainer.DeleteState(dir, preTag);
        notes.AddRange(pre.Events.Select(e => new RebalanceNote(e.Kind, e.Detail, preTag, e.Step)));
        return pre;
    }
}
