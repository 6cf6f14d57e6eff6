using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Methods;

/// <summary>How BAGAN-GP is trained.</summary>
public sealed record BaganGpSettings
{
    /// <summary>Supervised-autoencoder steps.</summary>
    public int AeSteps { get; init; } = 2000;

    /// <summary>Generator steps.</summary>
    public int Steps { get; init; } = 2000;

    /// <summary>Critic steps per generator step (WGAN-GP's 5).</summary>
    public int DSteps { get; init; } = 5;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Adam rate of the autoencoder.</summary>
    public double AeLearningRate { get; init; } = 1e-3;

    /// <summary>Adam rate of G and the critic (the paper's 2e-4).</summary>
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>Adam betas of G and the critic (the paper's 0.5, 0.9).</summary>
    public (double Beta1, double Beta2) Betas { get; init; } = (0.5, 0.9);

    /// <summary>Weight of the gradient penalty.</summary>
    public double PenaltyWeight { get; init; } = 10;

    /// <summary>Code size.</summary>
    public int LatentDim { get; init; } = 100;

    /// <summary>Steps between checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Steps between sample grids.</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>Reads the settings.</summary>
    public static BaganGpSettings Read(MethodSettings s)
    {
        var d = new BaganGpSettings();
        return new BaganGpSettings
        {
            AeSteps = s.Int("ae_steps", d.AeSteps, 1, 10_000_000),
            Steps = s.Int("steps", d.Steps, 1, 10_000_000),
            DSteps = s.Int("d_steps", d.DSteps, 1, 100),
            BatchSize = s.Int("batch_size", d.BatchSize, 2, 4096),
            AeLearningRate = s.Double("ae_lr", d.AeLearningRate, 1e-7, 1),
            LearningRate = s.Double("lr", d.LearningRate, 1e-7, 1),
            Betas = (s.Double("beta1", d.Betas.Beta1, 0, 0.999), s.Double("beta2", d.Betas.Beta2, 0, 0.9999)),
            PenaltyWeight = s.Double("penalty_weight", d.PenaltyWeight, 0, 1000),
            LatentDim = s.Int("z_dim", d.LatentDim, 1, 1024),
            CheckpointEvery = s.Int("checkpoint_every", d.CheckpointEvery, 1, 10_000_000),
            SampleEvery = s.Int("sample_every", d.SampleEvery, 1, 10_000_000),
        };
    }

    /// <summary>The supervised autoencoder's settings.</summary>
    public VaeSettings Autoencoder => new()
    {
        Objective = "sae", Reconstruction = "mse", LatentDim = LatentDim, Steps = AeSteps, BatchSize = BatchSize,
        LearningRate = AeLearningRate, CheckpointEvery = CheckpointEvery, SampleEvery = SampleEvery,
    };

    /// <summary>Everything that decides the adversarial stage's weights.</summary>
    public string Canonical() => string.Join(";", "bagan-gp v1", Autoencoder.Canonical(), Steps, DSteps, BatchSize, LearningRate.ToString("R", CultureInfo.InvariantCulture),
        Betas.Beta1.ToString("R", CultureInfo.InvariantCulture), Betas.Beta2.ToString("R", CultureInfo.InvariantCulture), PenaltyWeight.ToString("R", CultureInfo.InvariantCulture), CheckpointEvery);
}

/// <summary>
/// BAGAN-GP (Huang and Jafari 2021, "Enhanced balancing GAN: minority-class image generation"; the ECOGAN
/// comparison calls it EBGAN): 1) a supervised autoencoder whose code is multiplied by a learned label
/// embedding before decoding; 2) G initialised from its decoder and embedding (noise times the class's
/// embedding, decoded), the critic from its encoder with a class projection; 3) WGAN-GP (5 critic steps,
/// gradient penalty 10 on interpolates between real and generated images of the same classes, Adam 2e-4,
/// β 0.5, 0.9). New images of class c: G(z, c), z ~ N(0, I). Both stages checkpoint and resume exactly.
/// </summary>
public sealed class BaganGp : GenerativeRebalancer
{
    private readonly BaganGpSettings _s;
    private BaganGpGenerator? _g;

    internal BaganGp(BaganGpSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => "bagan-gp";

    private protected override GanSettings Primary => new() { Architecture = "dcgan", LatentDim = _s.LatentDim };

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var shape = new GanShape(train.Channels, train.Height, train.Width, _s.LatentDim);
        var key = GanSettings.Digest(_s.Canonical() + ";" + shape + ";" + seed.ToString(CultureInfo.InvariantCulture) + ";" + GeneratorFile.Fingerprint(train));
        var file = Path.Combine(dir, "all.bagan-gp.safetensors");
        var aeFile = AutoencoderFile.PathOf(dir, "ae");
        var aeKey = VaeTrainer.KeyFor(_s.Autoencoder, shape, seed, train);
        VaeModel sae;
        if (File.Exists(aeFile) && AutoencoderFile.Load(aeFile) is var (storedAe, storedKey) && storedKey == aeKey)
        {
            sae = storedAe;
            log?.Invoke($"ae: reusing the trained supervised autoencoder {aeFile}");
        }
        else
        {
            var aeTrainer = new VaeTrainer(_s.Autoencoder, shape, seed, train.NumClasses);
            log?.Invoke($"ae: training bagan-gp's supervised autoencoder (code {_s.LatentDim}) on {train.Count} images for {_s.AeSteps} steps");
            aeTrainer.Train(train, dir, "ae", log, Context.Progress);
            sae = aeTrainer.Model;
            AutoencoderFile.Save(aeFile, sae, aeKey);
            VaeTrainer.DeleteState(dir, "ae");
        }
        _g = new BaganGpGenerator(sae);
        if (File.Exists(file))
        {
            var c = Checkpoint.Load(file);
            if (c.Metadata.GetValueOrDefault("bagan-gp.key") != key)
            {
                throw new ArgumentException($"{file} holds a generator trained with other settings, data or seed; use another output folder or delete the file");
            }
            c.LoadModule(_g);
            log?.Invoke($"all: reusing the trained bagan-gp generator {file}");
        }
        else
        {
            var trainer = new BaganGpTrainer(_s, sae, _g, seed);
            log?.Invoke($"all: training bagan-gp's generator and critic (WGAN-GP) for {_s.Steps} steps");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            trainer.Train(train, dir, "all", key, log, Context.Progress);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"all: trained in {sw.Elapsed.TotalSeconds:F0} s, critic loss {trainer.Last.D:G4}, G loss {trainer.Last.G:G4}"));
            var save = new Checkpoint().AddModule(_g);
            save.Metadata["bagan-gp.key"] = key;
            save.Save(file);
            File.Delete(Path.Combine(dir, "all.state.safetensors"));
        }
        return grow.ToDictionary(c => c, _ => _g.Decoder);
    }

    /// <summary>G(z, c) with z ~ N(0, I).</summary>
    private protected override byte[] Generate(Dataset train, int c, int n, GanGenerator? g, Generator gen, Action<string>? log) =>
        (_g ?? throw new InvalidOperationException("BAGAN-GP: generating before training")).Generate(c, n, gen);
}
