using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Latent;
using Rebalance.Generative.Training;
using Rebalance.Sampling;

namespace Rebalance.Generative.Methods;

/// <summary>How an autoencoder of the family is trained (the settings of <c>vae</c>, <c>cvae</c> and <c>deepsmote</c>).</summary>
public sealed record VaeSettings
{
    /// <summary>What the training minimises: <c>vae</c> (reconstruction + β·KL), <c>deepsmote</c>
    /// (reconstruction + λ·the permutation penalty of Dablain et al.), <c>ae</c> (reconstruction),
    /// <c>wae</c> (reconstruction + λ·MMD to N(0, I)), <c>scdl</c> (as <c>wae</c>, + λ2·L_SV) or <c>sae</c>
    /// (BAGAN-GP's supervised autoencoder: the code times a learned label embedding is decoded).</summary>
    public string Objective { get; init; } = "vae";

    /// <summary>Weight λ of DeepSMOTE's penalty.</summary>
    public double Penalty { get; init; } = 1;

    /// <summary>Neighbours of DeepSMOTE's latent SMOTE.</summary>
    public int Neighbours { get; init; } = 5;

    /// <summary>Weight λ of WAE-MMD's MMD term (the WAE paper's 10 for MNIST).</summary>
    public double MmdWeight { get; init; } = 10;

    /// <summary>Weight λ2 of SCDL-GAN's L_SV, the cross-entropy of a classifier on the code.</summary>
    public double SvWeight { get; init; } = 1;

    /// <summary>Optimiser steps.</summary>
    public int Steps { get; init; } = 3000;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Adam learning rate (betas 0.9, 0.999).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Weight β of the KL term (1: the VAE of Kingma and Welling).</summary>
    public double Beta { get; init; } = 1;

    /// <summary>Reconstruction term: <c>bce</c> or <c>mse</c>.</summary>
    public string Reconstruction { get; init; } = "bce";

    /// <summary>Latent size.</summary>
    public int LatentDim { get; init; } = 16;

    /// <summary>Steps between resumable checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Steps between sample grids.</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>Class-balanced batches (cvae).</summary>
    public bool ClassBalanced { get; init; } = true;

    /// <summary>Bumped when training changes, so stored decoders are retrained rather than reused.</summary>
    public const int Version = 1;

    /// <summary>Reads the settings (unknown keys are left for <see cref="MethodSettings.CheckAllUsed"/>);
    /// <paramref name="d"/> gives the defaults.</summary>
    public static VaeSettings Read(MethodSettings s, VaeSettings? d = null)
    {
        d ??= new VaeSettings();
        var deepSmote = d.Objective == "deepsmote";
        return new VaeSettings
        {
            Objective = d.Objective,
            Penalty = deepSmote ? s.Double("penalty_weight", d.Penalty, 0, 1000) : d.Penalty,
            Neighbours = deepSmote ? s.Int("k", d.Neighbours, 1, 100) : d.Neighbours,
            Steps = s.Int("steps", d.Steps, 1, 10_000_000),
            BatchSize = s.Int("batch_size", d.BatchSize, 2, 4096),
            LearningRate = s.Double("lr", d.LearningRate, 1e-7, 1),
            Beta = d.Objective == "vae" ? s.Double("beta", d.Beta, 0, 1000) : d.Beta,
            MmdWeight = d.Objective is "wae" or "scdl" ? s.Double("mmd_weight", d.MmdWeight, 0, 10000) : d.MmdWeight,
            SvWeight = d.Objective == "scdl" ? s.Double("sv_weight", d.SvWeight, 0, 10000) : d.SvWeight,
            Reconstruction = s.Choice("recon", d.Reconstruction, [.. AutoencoderLosses.ReconstructionKinds]),
            LatentDim = s.Int("z_dim", d.LatentDim, 1, 1024),
            CheckpointEvery = s.Int("checkpoint_every", d.CheckpointEvery, 1, 10_000_000),
            SampleEvery = s.Int("sample_every", d.SampleEvery, 1, 10_000_000),
            ClassBalanced = s.Bool("class_balanced", d.ClassBalanced),
        };
    }

    /// <summary>Everything that decides the trained weights, for the model key.</summary>
    public string Canonical() => string.Join(";", $"vae v{Version}", Objective, Penalty.ToString("R", CultureInfo.InvariantCulture),
        MmdWeight.ToString("R", CultureInfo.InvariantCulture), SvWeight.ToString("R", CultureInfo.InvariantCulture), Steps, BatchSize, LearningRate.ToString("R", CultureInfo.InvariantCulture),
        Beta.ToString("R", CultureInfo.InvariantCulture), Reconstruction, LatentDim, CheckpointEvery, ClassBalanced);
}

/// <summary>
/// The VAE rebalancers: <c>vae</c> trains one VAE per class to be filled on that class's images,
/// <c>cvae</c> one conditional VAE on all classes (class-balanced batches); new images of class c are
/// decoded from z ~ N(0, I) (with c for <c>cvae</c>). Decoders are kept as generator files
/// (<c>classN.generator.safetensors</c> or <c>all.generator.safetensors</c>) and reused like a GAN's.
/// </summary>
public sealed class VaeRebalancer : GenerativeRebalancer
{
    private readonly VaeSettings _s;
    private readonly bool _conditional;

    internal VaeRebalancer(bool conditional, VaeSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context)
    {
        _s = s;
        _conditional = conditional;
    }

    /// <inheritdoc />
    public override string Name => _conditional ? "cvae" : "vae";

    private protected override GanSettings Primary => new() { Architecture = "dcgan", LatentDim = _s.LatentDim };

    private protected override bool IsConditional => _conditional;

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        if (_conditional)
        {
            var shape = new GanShape(train.Channels, train.Height, train.Width, _s.LatentDim, train.NumClasses);
            var g = LoadOrTrainVae(dir, "all", shape, seed, train, null, log);
            return grow.ToDictionary(c => c, _ => g);
        }
        var result = new Dictionary<int, GanGenerator>();
        foreach (var c in grow)
        {
            var shape = new GanShape(train.Channels, train.Height, train.Width, _s.LatentDim);
            result[c] = LoadOrTrainVae(dir, $"class{c}", shape, seed + (ulong)c, train.Subset(train.IndicesOf(c)), c, log);
        }
        return result;
    }

    private GanGenerator LoadOrTrainVae(string dir, string tag, GanShape shape, ulong seed, Dataset data, int? forClass, Action<string>? log)
    {
        var file = Path.Combine(dir, tag + ".generator.safetensors");
        var key = VaeTrainer.KeyFor(_s, shape, seed, data);
        if (File.Exists(file))
        {
            var stored = GeneratorFile.Load(file);
            if (stored.Key != key)
            {
                throw new ArgumentException($"{file} holds a decoder trained with other settings, data or seed; use another output folder or delete the file");
            }
            log?.Invoke($"{tag}: reusing the trained decoder {file}");
            return stored.Generator;
        }
        var trainer = new VaeTrainer(_s, shape, seed);
        log?.Invoke($"{tag}: training a {(shape.Conditional ? "conditional " : "")}VAE (z {_s.LatentDim}, β {_s.Beta.ToString(CultureInfo.InvariantCulture)}, {_s.Reconstruction}) on {data.Count} images for {_s.Steps} steps");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        trainer.Train(data, dir, tag, log, Context.Progress);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{tag}: trained in {sw.Elapsed.TotalSeconds:F0} s, reconstruction {trainer.Last.Recon:G4}, KL {trainer.Last.Kl:G4}"));
        GeneratorFile.Save(file, trainer.Model.Decoder, "dcgan", forClass, data.ClassNames, key);
        AutoencoderFile.Save(AutoencoderFile.PathOf(dir, tag), trainer.Model, key);
        VaeTrainer.DeleteState(dir, tag);
        return trainer.Model.Decoder;
    }
}
