using System.Globalization;
using System.Text;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Architectures;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Autoencoders;

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

/// <summary>BAGAN-GP's generator: the decoder fed noise times the class's learned embedding.</summary>
public sealed class BaganGpGenerator : Module
{
    /// <summary>From the supervised autoencoder's decoder and label embedding (copied).</summary>
    public BaganGpGenerator(VaeModel sae)
    {
        Decoder = GanArchitectures.Get("dcgan").CreateGenerator(new GanShape(sae.Shape.Channels, sae.Shape.Height, sae.Shape.Width, sae.Shape.LatentDim), new Generator(0));
        Decoder.LoadStateDict(sae.Decoder.StateDict());
        RegisterModule("dec", Decoder);
        var embed = new Embedding(sae.LabelEmbedding, sae.Shape.LatentDim, new Generator(0));
        embed.LoadStateDict(sae.StateDict().Where(kv => kv.Key.StartsWith("label_embed.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["label_embed.".Length..], kv => kv.Value));
        RegisterModule("label_embed", embed);
    }

    /// <summary>The decoder part.</summary>
    public GanGenerator Decoder { get; }

    /// <summary>Not used: the generator needs labels.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("BAGAN-GP's generator needs the labels: Forward(z, labels)");

    /// <summary>Images of the given classes from noise <paramref name="z"/>.</summary>
    public Tensor Forward(Tensor z, Tensor labels) => Decoder.Forward(z * Child("label_embed").Forward(labels), null);

    /// <summary><paramref name="n"/> images of class <paramref name="c"/> as bytes, noise from <paramref name="gen"/>.</summary>
    public byte[] Generate(int c, int n, Generator gen)
    {
        var size = Decoder.Shape.Channels * Decoder.Shape.Height * Decoder.Shape.Width;
        return ImageRows.Generate(this, n, size, (_, len) => Forward(gen.Normal([len, Decoder.Shape.LatentDim]), Tensor.Full([len], c, DType.Int32)));
    }
}

/// <summary>BAGAN-GP's class-conditional critic: the encoder's convolutions (from the autoencoder, without
/// batch norm), a linear score and a projection of the class embedding on the features (Miyato and Koyama 2018).</summary>
public sealed class BaganGpCritic : Module
{
    /// <summary>From the supervised autoencoder's encoder.</summary>
    public BaganGpCritic(VaeModel sae, Generator gen)
    {
        RegisterModule("conv1", new Conv2d(sae.Shape.Channels, 64, 4, gen, stride: 2, padding: 1));
        RegisterModule("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1));
        RegisterModule("fc", new Linear(sae.Features, 1, gen));
        RegisterModule("embed", new Embedding(sae.LabelEmbedding, sae.Features, gen));
        LoadStateDict(sae.StateDict().Where(kv => kv.Key.StartsWith("conv", StringComparison.Ordinal)).ToDictionary(), strict: false);
    }

    /// <summary>Not used: the critic needs labels.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("BAGAN-GP's critic needs the labels: Forward(x, labels)");

    /// <summary>One score per image (N).</summary>
    public Tensor Forward(Tensor x, Tensor labels)
    {
        var h = F.LeakyRelu(Child("conv1").Forward(x), 0.2);
        h = F.LeakyRelu(Child("conv2").Forward(h), 0.2).Flatten(1);
        return Child("fc").Forward(h).Reshape(-1) + (Child("embed").Forward(labels) * h).Sum(1);
    }
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

/// <summary>BAGAN-GP's adversarial stage (see <see cref="BaganGp"/>).</summary>
public sealed class BaganGpTrainer
{
    private const string CsvHeader = "step,loss_d,loss_g,penalty";
    private readonly BaganGpSettings _s;
    private readonly BaganGpGenerator _g;
    private readonly BaganGpCritic _d;
    private readonly Adam _optG;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly List<string> _csv = [];

    /// <summary>Trains <paramref name="g"/> against a critic built from <paramref name="sae"/>'s encoder.</summary>
    public BaganGpTrainer(BaganGpSettings s, VaeModel sae, BaganGpGenerator g, ulong seed)
    {
        _s = s;
        _g = g;
        _seed = seed;
        _d = new BaganGpCritic(sae, new Generator(seed ^ 0xa54ff53a5f1d36f1UL));
        _optG = new Adam([.. g.Parameters()], s.LearningRate, s.Betas.Beta1, s.Betas.Beta2);
        _optD = new Adam([.. _d.Parameters()], s.LearningRate, s.Betas.Beta1, s.Betas.Beta2);
        _rng = new Generator(seed ^ 0x9b05688c2b3e6c1fUL);
    }

    /// <summary>The critic.</summary>
    public BaganGpCritic Critic => _d;

    /// <summary>Generator steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The last step's losses.</summary>
    public (double D, double G) Last { get; private set; }

    /// <summary>Trains to the configured steps, resuming from <c>TAG.state.safetensors</c> when it holds a
    /// run with <paramref name="key"/>. Returns false when stopped early by <paramref name="stopAfter"/>.</summary>
    public bool Train(Dataset data, string workDir, string tag, string key, Action<string>? log = null, Action<GanProgress>? progress = null, int? stopAfter = null)
    {
        Directory.CreateDirectory(workDir);
        var state = Path.Combine(workDir, tag + ".state.safetensors");
        var csvFile = Path.Combine(workDir, tag + ".losses.csv");
        if (Parts.Resume(state, csvFile, key, _csv, log, _s.Steps) is { } resumed)
        {
            Step = resumed;
        }
        var present = Enumerable.Range(0, data.NumClasses).Where(c => data.IndicesOf(c).Length > 0).ToArray();
        var pick = new int[_s.BatchSize];
        var n = pick.Length;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        _g.Train();
        _d.Train();
        while (Step < _s.Steps)
        {
            double lossD = 0, lossG, penalty = 0;
            for (var k = 0; k < _s.DSteps; k++)
            {
                for (var i = 0; i < n; i++)
                {
                    pick[i] = _rng.NextInt(data.Count);
                }
                using var scope = TensorScope.Begin();
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick);
                var labels = Tensor.FromArray([.. pick.Select(data.Label)], n);
                Tensor fake;
                using (GradMode.NoGrad())
                {
                    fake = _g.Forward(_rng.Normal([n, _s.LatentDim]), labels);
                }
                var gp = Penalties.GradientNorm(x => _d.Forward(x, labels), Penalties.Interpolates(real, fake, _rng));
                var d = _d.Forward(fake, labels).Mean() - _d.Forward(real, labels).Mean() + (gp * _s.PenaltyWeight);
                _optD.ZeroGrad();
                d.Backward();
                _optD.Step();
                (lossD, penalty) = (d.Item(), gp.Item());
            }
            using (TensorScope.Begin())
            {
                var classes = Enumerable.Range(0, n).Select(_ => present[_rng.NextInt(present.Length)]).ToArray();
                var labels = Tensor.FromArray(classes, n);
                var g = -_d.Forward(_g.Forward(_rng.Normal([n, _s.LatentDim]), labels), labels).Mean();
                _optG.ZeroGrad();
                g.Backward();
                _optG.Step();
                lossG = g.Item();
            }
            Step++;
            Last = (lossD, lossG);
            if (!double.IsFinite(lossD) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"BAGAN-GP '{tag}': non-finite loss at step {Step} (critic {lossD}, G {lossG}); lower 'lr'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{lossD:G6},{lossG:G6},{penalty:G6}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data, present);
            }
            if (Step % _s.CheckpointEvery == 0 || Step == _s.Steps)
            {
                Parts.Save(state, csvFile, _csv, key, Step);
            }
            progress?.Invoke(new GanProgress(tag, Step, _s.Steps, lossD, lossG, _s.LearningRate, _s.LearningRate, 0, (Step - start) / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            if (stopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data, present);
        return true;
    }

    private TrainerParts Parts => new TrainerParts("bagan-gp", CsvHeader).Module("g", _g).Module("d", _d).Optimizer("g", _optG).Optimizer("d", _optD).Random("main", _rng);

    private void WriteGrid(string path, Dataset data, int[] present)
    {
        var gen = new Generator(_seed ^ 0x510e527fade682d1UL);
        SampleGrid.WriteGenerated(path, data, [.. present.Take(10)], (c, n) => _g.Generate(c, n, gen));
    }
}
