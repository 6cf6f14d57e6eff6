using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Latent;
using Rebalance.Generative.Training;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Methods;

/// <summary>How the two-stage autoencoder-then-GAN methods are trained: <c>bagan</c>, <c>wae-gan</c> and <c>scdl-gan</c>.</summary>
public sealed record BaganSettings
{
    /// <summary><c>bagan</c>, <c>wae-gan</c> or <c>scdl-gan</c>.</summary>
    public string Variant { get; init; } = "bagan";

    /// <summary>wae-gan, scdl-gan: weight λ of the MMD term of stage 1.</summary>
    public double MmdWeight { get; init; } = 10;

    /// <summary>scdl-gan: weight λ2 of L_SV in stage 1.</summary>
    public double SvWeight { get; init; } = 1;

    /// <summary>The class code distributions: <c>full</c> covariance or <c>diag</c>onal.</summary>
    public string Covariance { get; init; } = "full";

    /// <summary>Autoencoder steps (stage 1).</summary>
    public int AeSteps { get; init; } = 2000;

    /// <summary>Adversarial steps (stage 2).</summary>
    public int Steps { get; init; } = 2000;

    /// <summary>Mini-batch size of both stages.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Adam rate of the autoencoder.</summary>
    public double AeLearningRate { get; init; } = 1e-3;

    /// <summary>Adam rate of G and D (the paper's 5e-5).</summary>
    public double LearningRate { get; init; } = 5e-5;

    /// <summary>Adam β1 of G and D (the paper's 0.5).</summary>
    public double Beta1 { get; init; } = 0.5;

    /// <summary>Code size.</summary>
    public int LatentDim { get; init; } = 100;

    /// <summary>Steps between checkpoints and between sample grids.</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Steps between sample grids.</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>The defaults of a variant: BAGAN's Adam 5e-5 and full covariances; WAE-GAN and SCDL-GAN
    /// with Adam 2e-4, a 16-value code and diagonal class distributions.</summary>
    public static BaganSettings Defaults(string variant) => variant == "bagan"
        ? new BaganSettings()
        : new BaganSettings { Variant = variant, LearningRate = 2e-4, LatentDim = 16, Covariance = "diag" };

    /// <summary>Reads the settings of <paramref name="variant"/>.</summary>
    public static BaganSettings Read(MethodSettings s, string variant = "bagan")
    {
        var d = Defaults(variant);
        var wae = variant != "bagan";
        return new BaganSettings
        {
            Variant = variant,
            MmdWeight = wae ? s.Double("mmd_weight", d.MmdWeight, 0, 10000) : d.MmdWeight,
            SvWeight = variant == "scdl-gan" ? s.Double("sv_weight", d.SvWeight, 0, 10000) : d.SvWeight,
            Covariance = s.Choice("covariance", d.Covariance, "full", "diag"),
            AeSteps = s.Int("ae_steps", d.AeSteps, 1, 10_000_000),
            Steps = s.Int("steps", d.Steps, 1, 10_000_000),
            BatchSize = s.Int("batch_size", d.BatchSize, 2, 4096),
            AeLearningRate = s.Double("ae_lr", d.AeLearningRate, 1e-7, 1),
            LearningRate = s.Double("lr", d.LearningRate, 1e-7, 1),
            Beta1 = s.Double("beta1", d.Beta1, 0, 0.999),
            LatentDim = s.Int("z_dim", d.LatentDim, 1, 1024),
            CheckpointEvery = s.Int("checkpoint_every", d.CheckpointEvery, 1, 10_000_000),
            SampleEvery = s.Int("sample_every", d.SampleEvery, 1, 10_000_000),
        };
    }

    /// <summary>The autoencoder stage's settings.</summary>
    public VaeSettings Autoencoder => new()
    {
        Objective = Variant switch { "wae-gan" => "wae", "scdl-gan" => "scdl", _ => "ae" }, MmdWeight = MmdWeight, SvWeight = SvWeight,
        Reconstruction = "mse", LatentDim = LatentDim, Steps = AeSteps, BatchSize = BatchSize,
        LearningRate = AeLearningRate, CheckpointEvery = CheckpointEvery, SampleEvery = SampleEvery,
    };

    /// <summary>Everything that decides the adversarial stage's weights.</summary>
    public string Canonical() => string.Join(";", "bagan v1", Variant, Covariance, Autoencoder.Canonical(), Steps, BatchSize, LearningRate.ToString("R", CultureInfo.InvariantCulture), Beta1.ToString("R", CultureInfo.InvariantCulture), CheckpointEvery);
}

/// <summary>
/// The two-stage autoencoder-then-GAN methods. WAE-GAN (stage 1 a Wasserstein autoencoder, Tolstikhin et
/// al. 2018, WAE-MMD with the inverse multiquadratic kernel) and SCDL-GAN (Cai et al. 2019: stage 1 adds
/// λ2·L_SV, the cross-entropy of a classifier on the code, so classes do not overlap in latent space):
/// stage 2 trains a GAN whose generator has the decoder's architecture and starts from it, fed the codes of
/// uniformly drawn real images instead of noise, with a discriminator that also predicts the class; new
/// images of class c are G of codes drawn from N(mean_c, std_c) of the class's codes (diagonal by default,
/// <c>covariance: full</c> for the full matrix).
/// BAGAN (Mariani, Scheidegger, Istrate, Bekas and Malossi 2018, "BAGAN: Data Augmentation with Balancing
/// GAN"): 1) an autoencoder on every class; 2) a multivariate normal fitted to each class's codes; 3) G
/// initialised from the decoder, D from the encoder with a (K+1)-way head; 4) D learns real images as
/// their class and generated ones as "generated", G learns to make D see the class its code was drawn
/// for (class drawn uniformly). New images of class c: G of codes drawn from class c's normal. Stage 1 is
/// the family's autoencoder trainer; stage 2 checkpoints G, D, both optimisers and the random state in
/// <c>all.state.safetensors</c> and resumes exactly.
/// </summary>
public sealed class Bagan : GenerativeRebalancer
{
    private readonly BaganSettings _s;
    private ClassGaussians? _gaussians;

    internal Bagan(BaganSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => _s.Variant;

    private protected override GanSettings Primary => new() { Architecture = "dcgan", LatentDim = _s.LatentDim };

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var shape = new GanShape(train.Channels, train.Height, train.Width, _s.LatentDim);
        var key = GanSettings.Digest(_s.Canonical() + ";" + shape + ";" + seed.ToString(CultureInfo.InvariantCulture) + ";" + GeneratorFile.Fingerprint(train));
        var file = Path.Combine(dir, "all.generator.safetensors");
        var gaussiansFile = Path.Combine(dir, "all.codes.safetensors");
        if (File.Exists(file) && File.Exists(gaussiansFile))
        {
            var stored = GeneratorFile.Load(file);
            if (stored.Key != key)
            {
                throw new ArgumentException($"{file} holds a generator trained with other settings, data or seed; use another output folder or delete the file");
            }
            _gaussians = ClassGaussians.From(Checkpoint.Load(gaussiansFile), "codes");
            log?.Invoke($"all: reusing the trained {Name} generator {file}");
            return grow.ToDictionary(c => c, _ => stored.Generator);
        }
        // Stage 1: the autoencoder (its own resumable state and file, reused by a rerun).
        var aeFile = AutoencoderFile.PathOf(dir, "ae");
        var aeKey = VaeTrainer.KeyFor(_s.Autoencoder, shape, seed, train);
        VaeModel ae;
        if (File.Exists(aeFile) && AutoencoderFile.Load(aeFile) is var (storedAe, storedKey) && storedKey == aeKey)
        {
            ae = storedAe;
            log?.Invoke($"ae: reusing the trained autoencoder {aeFile}");
        }
        else
        {
            var aeTrainer = new VaeTrainer(_s.Autoencoder, shape, seed, train.NumClasses);
            log?.Invoke($"ae: training {Name}'s autoencoder ({_s.Autoencoder.Objective}, code {_s.LatentDim}) on {train.Count} images for {_s.AeSteps} steps");
            aeTrainer.Train(train, dir, "ae", log, Context.Progress);
            ae = aeTrainer.Model;
            AutoencoderFile.Save(aeFile, ae, aeKey);
            VaeTrainer.DeleteState(dir, "ae");
        }
        // Stage 2: class-conditional latent distributions, then the adversarial training.
        var all = Enumerable.Range(0, train.Count).ToArray();
        var gaussians = ClassGaussians.Fit(DeepSmote.Codes(ae, train, all), [.. train.Labels], train.NumClasses, diagonal: _s.Covariance == "diag");
        var trainer = new BaganTrainer(_s, shape, train.NumClasses, seed, ae, gaussians);
        log?.Invoke($"all: training {Name}'s generator (from the decoder) and discriminator for {_s.Steps} steps");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        trainer.Train(train, dir, "all", key, log, Context.Progress);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"all: trained in {sw.Elapsed.TotalSeconds:F0} s, D loss {trainer.Last.D:G4}, G loss {trainer.Last.G:G4}"));
        var save = new Checkpoint();
        gaussians.AddTo(save, "codes");
        save.Save(gaussiansFile);
        GeneratorFile.Save(file, trainer.G, "dcgan", null, train.ClassNames, key);
        File.Delete(Path.Combine(dir, "all.state.safetensors"));
        _gaussians = gaussians;
        return grow.ToDictionary(c => c, _ => trainer.G);
    }

    /// <summary>G of codes drawn from class <paramref name="c"/>'s normal.</summary>
    private protected override byte[] Generate(Dataset train, int c, int n, GanGenerator? g, Generator gen, Action<string>? log)
    {
        var gaussians = _gaussians ?? throw new InvalidOperationException("BAGAN: generating before training");
        ArgumentNullException.ThrowIfNull(g);
        return ImageRows.Generate(g, n, train.ImageSize, (_, len) => g.Forward(gaussians.Sample(c, len, gen), null));
    }
}
