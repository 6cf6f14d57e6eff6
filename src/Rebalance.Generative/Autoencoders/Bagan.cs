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

/// <summary>One multivariate normal per class, fitted to the class's codes: mean and Cholesky factor of
/// the covariance (plus 1e-4·I, so a class of one image, or of fewer images than code values, still has one).</summary>
public sealed class ClassGaussians
{
    private ClassGaussians(double[][] mean, double[][] chol) => (Mean, Chol) = (mean, chol);

    /// <summary>Mean per class (empty for a class without images).</summary>
    public double[][] Mean { get; }

    /// <summary>Lower-triangular Cholesky factor per class, row-major d x d (empty for a class without images).</summary>
    public double[][] Chol { get; }

    /// <summary>Fits a Gaussian to each class's codes (sample covariance, n − 1; only its diagonal when
    /// <paramref name="diagonal"/>: N(mean_c, std_c) per code value).</summary>
    public static ClassGaussians Fit(float[][] codes, IReadOnlyList<int> labels, int classes, bool diagonal = false)
    {
        var d = codes.Length == 0 ? 0 : codes[0].Length;
        var mean = new double[classes][];
        var chol = new double[classes][];
        for (var c = 0; c < classes; c++)
        {
            var rows = Enumerable.Range(0, codes.Length).Where(i => labels[i] == c).Select(i => codes[i]).ToArray();
            if (rows.Length == 0)
            {
                (mean[c], chol[c]) = ([], []);
                continue;
            }
            var m = new double[d];
            foreach (var r in rows)
            {
                for (var j = 0; j < d; j++)
                {
                    m[j] += r[j];
                }
            }
            for (var j = 0; j < d; j++)
            {
                m[j] /= rows.Length;
            }
            var cov = new double[d * d];
            foreach (var r in rows)
            {
                for (var a = 0; a < d; a++)
                {
                    for (var b = 0; b <= a; b++)
                    {
                        cov[(a * d) + b] += (r[a] - m[a]) * (r[b] - m[b]);
                    }
                }
            }
            for (var a = 0; a < d; a++)
            {
                for (var b = 0; b <= a; b++)
                {
                    cov[(a * d) + b] = (rows.Length > 1 && (a == b || !diagonal) ? cov[(a * d) + b] / (rows.Length - 1) : 0) + (a == b ? 1e-4 : 0);
                    cov[(b * d) + a] = cov[(a * d) + b];
                }
            }
            mean[c] = m;
            chol[c] = Cholesky(cov, d);
        }
        return new ClassGaussians(mean, chol);
    }

    /// <summary>The lower-triangular L with L Lᵀ = A (A symmetric positive definite, row-major).</summary>
    public static double[] Cholesky(double[] a, int d)
    {
        var l = new double[d * d];
        for (var i = 0; i < d; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                var s = a[(i * d) + j];
                for (var k = 0; k < j; k++)
                {
                    s -= l[(i * d) + k] * l[(j * d) + k];
                }
                if (i == j)
                {
                    if (!(s > 0))
                    {
                        throw new ArgumentException($"Cholesky: the matrix is not positive definite (pivot {i} is {s})");
                    }
                    l[(i * d) + i] = Math.Sqrt(s);
                }
                else
                {
                    l[(i * d) + j] = s / l[(j * d) + j];
                }
            }
        }
        return l;
    }

    /// <summary>Codes of class <paramref name="c"/>: μ + L ε with ε ~ N(0, I) from <paramref name="gen"/>, (n, d) float32.</summary>
    public Tensor Sample(int c, int n, Generator gen)
    {
        var m = Mean[c];
        var l = Chol[c];
        var d = m.Length;
        if (d == 0)
        {
            throw new ArgumentException($"class {c} had no images to fit a code distribution to");
        }
        var values = new float[n * d];
        var eps = new double[d];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < d; j++)
            {
                eps[j] = gen.NextNormal();
            }
            for (var a = 0; a < d; a++)
            {
                var s = m[a];
                for (var b = 0; b <= a; b++)
                {
                    s += l[(a * d) + b] * eps[b];
                }
                values[(i * d) + a] = (float)s;
            }
        }
        return Tensor.FromArray(values, n, d);
    }

    /// <summary>As tensors for a checkpoint: <c>PREFIX.mean.C</c> and <c>PREFIX.chol.C</c>.</summary>
    public void AddTo(Checkpoint c, string prefix)
    {
        for (var k = 0; k < Mean.Length; k++)
        {
            if (Mean[k].Length > 0)
            {
                c.Tensors[$"{prefix}.mean.{k}"] = Tensor.FromArray(Mean[k], Mean[k].Length);
                c.Tensors[$"{prefix}.chol.{k}"] = Tensor.FromArray(Chol[k], Chol[k].Length);
            }
        }
        c.Metadata[$"{prefix}.classes"] = Mean.Length.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Reads what <see cref="AddTo"/> wrote.</summary>
    public static ClassGaussians From(Checkpoint c, string prefix)
    {
        var k = int.Parse(c.Metadata[$"{prefix}.classes"], CultureInfo.InvariantCulture);
        var mean = new double[k][];
        var chol = new double[k][];
        for (var i = 0; i < k; i++)
        {
            mean[i] = c.Tensors.TryGetValue($"{prefix}.mean.{i}", out var m) ? m.ToDoubleArray() : [];
            chol[i] = c.Tensors.TryGetValue($"{prefix}.chol.{i}", out var l) ? l.ToDoubleArray() : [];
        }
        return new ClassGaussians(mean, chol);
    }
}

/// <summary>BAGAN's discriminator: the autoencoder's encoder convolutions with a (K+1)-way head (the K
/// classes and "generated").</summary>
public sealed class BaganDiscriminator : Module
{
    /// <summary>A discriminator for <paramref name="shape"/>'s images and <paramref name="classes"/> classes.</summary>
    public BaganDiscriminator(GanShape shape, int classes, Generator gen)
    {
        RegisterModule("conv1", new Conv2d(shape.Channels, 64, 4, gen, stride: 2, padding: 1));
        RegisterModule("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1));
        RegisterModule("bn2", new BatchNorm2d(128));
        RegisterModule("head", new Linear(128 * (shape.Height / 4) * (shape.Width / 4), classes + 1, gen));
    }

    /// <summary>Logits (N, K+1); the last column is "generated".</summary>
    public override Tensor Forward(Tensor x)
    {
        var h = F.LeakyRelu(Child("conv1").Forward(x), 0.2);
        h = F.LeakyRelu(Child("bn2").Forward(Child("conv2").Forward(h)), 0.2).Flatten(1);
        return Child("head").Forward(h);
    }
}

/// <summary>BAGAN's loss terms (Mariani et al. 2018).</summary>
public static class BaganLosses
{
    /// <summary>The discriminator's: cross-entropy of real images against their class and of generated
    /// images against the extra class K ("generated"), each averaged over its batch, summed.</summary>
    public static Tensor Discriminator(Tensor realLogits, Tensor realLabels, Tensor fakeLogits)
    {
        var k = fakeLogits.Size(1) - 1;
        var fakeTarget = Tensor.Full([fakeLogits.Size(0)], k, DType.Int32);
        return F.CrossEntropy(realLogits, realLabels) + F.CrossEntropy(fakeLogits, fakeTarget);
    }

    /// <summary>The generator's: cross-entropy of its images against the class their codes were drawn for.</summary>
    public static Tensor Generator(Tensor fakeLogits, Tensor intendedLabels) => F.CrossEntropy(fakeLogits, intendedLabels);
}

/// <summary>The adversarial stage of WAE-GAN and SCDL-GAN: a non-saturating GAN whose discriminator also
/// predicts the class (its last logit is real-against-generated, the first K the class).</summary>
public static class WaeGanLosses
{
    private static (Tensor Adversarial, Tensor Classes) Split(Tensor logits)
    {
        var k = logits.Size(1) - 1;
        return (logits.Slice(1, k, k + 1).Reshape(-1), logits.Slice(1, 0, k));
    }

    /// <summary>D: BCE(real → 1) + BCE(generated → 0) + CE(class of the real images).</summary>
    public static Tensor Discriminator(Tensor realLogits, Tensor realLabels, Tensor fakeLogits)
    {
        var (ar, cr) = Split(realLogits);
        var (af, _) = Split(fakeLogits);
        return F.BinaryCrossEntropyWithLogits(ar, Tensor.OnesLike(ar)) + F.BinaryCrossEntropyWithLogits(af, Tensor.ZerosLike(af)) + F.CrossEntropy(cr, realLabels);
    }

    /// <summary>G: BCE(generated → 1) + CE(the class of the image whose code it decoded).</summary>
    public static Tensor Generator(Tensor fakeLogits, Tensor sourceLabels)
    {
        var (af, cf) = Split(fakeLogits);
        return F.BinaryCrossEntropyWithLogits(af, Tensor.OnesLike(af)) + F.CrossEntropy(cf, sourceLabels);
    }
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

/// <summary>BAGAN's adversarial stage (see <see cref="Bagan"/>).</summary>
public sealed class BaganTrainer
{
    private const string CsvHeader = "step,loss_d,loss_g";
    private readonly BaganSettings _s;
    private readonly ClassGaussians _gaussians;
    private readonly Adam _optG;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly int _classes;
    private readonly List<string> _csv = [];
    private readonly VaeModel _ae;

    /// <summary>G from <paramref name="ae"/>'s decoder; D with a (K+1)-way head, from the encoder for BAGAN.</summary>
    public BaganTrainer(BaganSettings s, GanShape shape, int classes, ulong seed, VaeModel ae, ClassGaussians gaussians)
    {
        _s = s;
        _seed = seed;
        _classes = classes;
        _gaussians = gaussians;
        var init = new Generator(seed ^ 0xbb67ae8584caa73bUL);
        G = GanArchitectures.Get("dcgan").CreateGenerator(shape, init);
        G.LoadStateDict(ae.Decoder.StateDict());
        D = new BaganDiscriminator(shape, classes, init);
        _ae = ae;
        if (s.Variant == "bagan")
        {
            // BAGAN's D starts from the encoder; WAE-GAN's and SCDL-GAN's from scratch.
            var encoder = ae.StateDict().Where(kv => kv.Key.StartsWith("conv", StringComparison.Ordinal) || kv.Key.StartsWith("bn2", StringComparison.Ordinal)).ToDictionary();
            var dState = D.StateDict();
            foreach (var (name, t) in encoder)
            {
                using (GradMode.NoGrad())
                {
                    dState[name].CopyFrom_(t);
                }
            }
        }
        _optG = new Adam([.. G.Parameters()], s.LearningRate, s.Beta1, 0.999);
        _optD = new Adam([.. D.Parameters()], s.LearningRate, s.Beta1, 0.999);
        _rng = new Generator(seed ^ 0x3c6ef372fe94f82bUL);
    }

    /// <summary>The generator.</summary>
    public GanGenerator G { get; }

    /// <summary>The (K+1)-way discriminator.</summary>
    public BaganDiscriminator D { get; }

    /// <summary>Steps done.</summary>
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
        var present = Enumerable.Range(0, _classes).Where(c => _gaussians.Mean[c].Length > 0).ToArray();
        var pick = new int[_s.BatchSize];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        G.Train();
        D.Train();
        while (Step < _s.Steps)
        {
            for (var i = 0; i < pick.Length; i++)
            {
                pick[i] = _rng.NextInt(data.Count);
            }
            double lossD, lossG;
            using (TensorScope.Begin())
            {
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick);
                var realLabels = Tensor.FromArray([.. pick.Select(data.Label)], pick.Length);
                Tensor z;
                int[] intendedClasses;
                if (_s.Variant == "bagan")
                {
                    // Codes drawn from the normal of a uniformly drawn class.
                    intendedClasses = [.. Enumerable.Range(0, pick.Length).Select(_ => present[_rng.NextInt(present.Length)])];
                    z = Tensor.Concat([.. intendedClasses.Select(c => _gaussians.Sample(c, 1, _rng))], 0);
                }
                else
                {
                    // The codes of uniformly drawn real images, instead of noise.
                    var source = Enumerable.Range(0, pick.Length).Select(_ => _rng.NextInt(data.Count)).ToArray();
                    intendedClasses = [.. source.Select(data.Label)];
                    using (GradMode.NoGrad())
                    {
                        _ae.Eval();
                        z = _ae.Encode(data.ToTensor(PixelRange.MinusOneToOne, source), null).Mu;
                    }
                }
                var intended = Tensor.FromArray(intendedClasses, intendedClasses.Length);
                var fake = G.Forward(z, null);
                var d = _s.Variant == "bagan"
                    ? BaganLosses.Discriminator(D.Forward(real), realLabels, D.Forward(fake.Detach()))
                    : WaeGanLosses.Discriminator(D.Forward(real), realLabels, D.Forward(fake.Detach()));
                _optD.ZeroGrad();
                d.Backward();
                _optD.Step();
                var g = _s.Variant == "bagan" ? BaganLosses.Generator(D.Forward(fake), intended) : WaeGanLosses.Generator(D.Forward(fake), intended);
                _optG.ZeroGrad();
                g.Backward();
                _optG.Step();
                (lossD, lossG) = (d.Item(), g.Item());
            }
            Step++;
            Last = (lossD, lossG);
            if (!double.IsFinite(lossD) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"BAGAN '{tag}': non-finite loss at step {Step} (D {lossD}, G {lossG}); lower 'lr'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{lossD:G6},{lossG:G6}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data);
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
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data);
        return true;
    }

    private TrainerParts Parts => new TrainerParts("bagan", CsvHeader).Module("g", G).Module("d", D).Optimizer("g", _optG).Optimizer("d", _optD).Random("main", _rng);

    /// <summary>Ten images per class from fixed draws of each class's code distribution.</summary>
    private void WriteGrid(string path, Dataset data)
    {
        var gen = new Generator(_seed ^ 0x510e527fade682d1UL);
        var present = Enumerable.Range(0, _classes).Where(c => _gaussians.Mean[c].Length > 0).ToArray();
        G.Eval();
        using (GradMode.NoGrad())
        {
            SampleGrid.WriteGenerated(path, data, present, (c, n) =>
            {
                using var scope = TensorScope.Begin();
                return Dataset.ToBytes(G.Forward(_gaussians.Sample(c, n, gen), null));
            });
        }
        G.Train();
    }
}
