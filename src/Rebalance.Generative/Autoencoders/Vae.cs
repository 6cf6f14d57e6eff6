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
/// A (conditional) variational autoencoder for images of any channel count, 16 to 128 pixels a side. Encoder: the
/// DCGAN discriminator's convolutions (4x4 stride 2 to 64 and 128 channels, batch norm, LeakyReLU 0.2),
/// flattened, with the one-hot class appended when conditional, then a linear layer to μ and log σ².
/// Decoder: the dcgan generator (<see cref="DcganGenerator"/>, conditional batch norm and a class embedding
/// when conditional), so that a decoder is a generator file like a GAN's and the GAN-initialising
/// methods of the family can start from it.
/// </summary>
public sealed class VaeModel : Module
{
    /// <summary>A new model with weights drawn from <paramref name="gen"/>; a deterministic one
    /// (<paramref name="variational"/> false) has a code and no variance.</summary>
    public VaeModel(GanShape shape, Generator gen, bool variational = true, int latentClasses = 0, int labelEmbedding = 0)
    {
        Variational = variational;
        LatentClasses = latentClasses;
        LabelEmbedding = labelEmbedding;
        GanArchitectures.Get("dcgan").Check(shape);
        Shape = shape;
        RegisterModule("conv1", new Conv2d(shape.Channels, 64, 4, gen, stride: 2, padding: 1));
        RegisterModule("conv2", new Conv2d(64, 128, 4, gen, stride: 2, padding: 1));
        if (labelEmbedding == 0)
        {
            // BAGAN-GP's encoder becomes a WGAN-GP critic, whose per-image gradient penalty batch norm would break.
            RegisterModule("bn2", new BatchNorm2d(128));
        }
        Features = 128 * (shape.Height / 4) * (shape.Width / 4);
        RegisterModule("head", new Linear(Features + shape.NumClasses, (variational ? 2 : 1) * shape.LatentDim, gen));
        Decoder = GanArchitectures.Get("dcgan").CreateGenerator(shape, gen);
        RegisterModule("dec", Decoder);
        if (latentClasses > 0)
        {
            RegisterModule("latent_cls", new Linear(shape.LatentDim, latentClasses, gen));
        }
        if (labelEmbedding > 0)
        {
            RegisterModule("label_embed", new Embedding(labelEmbedding, shape.LatentDim, gen));
        }
    }

    /// <summary>Image shape, latent size and classes (0: unconditional).</summary>
    public GanShape Shape { get; }

    /// <summary>Whether the encoder gives a distribution (μ, log σ²) or a code.</summary>
    public bool Variational { get; }

    /// <summary>Classes of the linear classifier on the code (SCDL-GAN's L_SV); 0 for none.</summary>
    public int LatentClasses { get; }

    /// <summary>Classes of BAGAN-GP's label embedding, by which the decoder's input is multiplied; 0 for none.</summary>
    public int LabelEmbedding { get; }

    /// <summary>The decoder's input: the code, times the label's embedding when the model has one.</summary>
    public Tensor DecoderInput(Tensor code, Tensor? labels) =>
        LabelEmbedding > 0 ? code * Child("label_embed").Forward(labels ?? throw new ArgumentException("a supervised autoencoder needs the labels of its codes")) : code;

    /// <summary>Class logits of codes, by the classifier on the code.</summary>
    public Tensor ClassifyCode(Tensor code) => LatentClasses > 0 ? Child("latent_cls").Forward(code) : throw new InvalidOperationException("this autoencoder has no classifier on its code");

    /// <summary>Length of the encoder's flattened features.</summary>
    public int Features { get; }

    /// <summary>The decoder, a generator from N(0, I) (and the class).</summary>
    public GanGenerator Decoder { get; }

    /// <summary>Not used: a VAE needs labels when conditional; see <see cref="Encode"/> and <see cref="Decoder"/>.</summary>
    public override Tensor Forward(Tensor x) => Encode(x, null).Mu;

    /// <summary>The encoder's convolutional features (N, <see cref="Features"/>), before the class and the
    /// linear layer: what a report maps to show where the encoder puts real and generated images.</summary>
    public Tensor EncoderFeatures(Tensor x)
    {
        var h = F.LeakyRelu(Child("conv1").Forward(x), 0.2);
        h = Child("conv2").Forward(h);
        return F.LeakyRelu(LabelEmbedding == 0 ? Child("bn2").Forward(h) : h, 0.2).Flatten(1);
    }

    /// <summary>μ and log σ² of q(z | x, y), each (N, LatentDim); for a deterministic model the code and zeros.</summary>
    public (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels)
    {
        var h = EncoderFeatures(x);
        if (Shape.Conditional)
        {
            if (labels is null)
            {
                throw new ArgumentException("a conditional VAE needs the labels of the images it encodes");
            }
            h = Tensor.Concat([h, Tensor.OneHot(labels, Shape.NumClasses)], 1);
        }
        var out_ = Child("head").Forward(h);
        var k = Shape.LatentDim;
        return Variational ? (out_.Slice(1, 0, k), out_.Slice(1, k, 2 * k)) : (out_, Tensor.ZerosLike(out_));
    }
}

/// <summary>
/// Trains a <see cref="VaeModel"/>: each step draws a batch (class-balanced when conditional), encodes it,
/// samples z = μ + σ·ε (the reparameterisation trick), decodes and minimises reconstruction + β·KL with
/// Adam. Every random draw comes from one seeded generator whose state is checkpointed with the model and
/// optimiser in <c>TAG.state.safetensors</c>, so an interrupted run resumed from its last checkpoint ends
/// with the weights of an uninterrupted one. <c>TAG.losses.csv</c> has step, loss, reconstruction and KL;
/// <c>TAG.samples-stepNNNNNN.png</c> and <c>TAG.samples.png</c> show decoded N(0, I) draws.
/// </summary>
public sealed class VaeTrainer
{
    private const string CsvHeader = "step,loss,recon,kl,lr";
    private readonly VaeSettings _s;
    private readonly Adam _opt;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly List<string> _csv = [];

    /// <summary>A new model with weights drawn from <paramref name="seed"/>.</summary>
    public VaeTrainer(VaeSettings settings, GanShape shape, ulong seed, int latentClasses = 0)
    {
        _s = settings;
        _seed = seed;
        Model = new VaeModel(shape, new Generator(seed ^ 0x6a09e667f3bcc908UL), variational: settings.Objective == "vae",
            labelEmbedding: settings.Objective == "sae" ? (latentClasses > 1 ? latentClasses : throw new ArgumentException("a supervised autoencoder needs the number of classes (at least 2)")) : 0,
            latentClasses: settings.Objective == "scdl" ? (latentClasses > 1 ? latentClasses : throw new ArgumentException("SCDL's classifier on the code needs the number of classes (at least 2)")) : 0);
        _opt = new Adam([.. Model.Parameters()], settings.LearningRate);
        _rng = new Generator(seed);
    }

    /// <summary>The model.</summary>
    public VaeModel Model { get; }

    /// <summary>Steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The losses of the last step (total, reconstruction, KL).</summary>
    public (double Loss, double Recon, double Kl) Last { get; private set; }

    /// <summary>What decides the trained weights: settings, shape, seed and the images.</summary>
    public static string KeyFor(VaeSettings s, GanShape shape, ulong seed, Dataset data) =>
        GanSettings.Digest(s.Canonical() + ";" + shape + ";" + shape.LatentDim + ";" + shape.NumClasses + ";" + seed.ToString(CultureInfo.InvariantCulture) + ";" + GeneratorFile.Fingerprint(data));

    /// <summary>Trains up to the configured steps, resuming from <c>TAG.state.safetensors</c> in
    /// <paramref name="workDir"/> when it holds a run with the same key. Returns false when stopped early
    /// by <paramref name="stopAfter"/>.</summary>
    public bool Train(Dataset data, string workDir, string tag, Action<string>? log = null, Action<GanProgress>? progress = null, int? stopAfter = null)
    {
        var shape = Model.Shape;
        if (data.Count == 0)
        {
            throw new ArgumentException($"VAE '{tag}': no training images");
        }
        if (data.Channels != shape.Channels || data.Height != shape.Height || data.Width != shape.Width)
        {
            throw new ArgumentException($"VAE '{tag}': images are {data.Channels}x{data.Height}x{data.Width}, the model was built for {shape}");
        }
        Directory.CreateDirectory(workDir);
        var state = Path.Combine(workDir, tag + ".state.safetensors");
        var csvFile = Path.Combine(workDir, tag + ".losses.csv");
        var key = KeyFor(_s, shape, _seed, data);
        if (Parts.Resume(state, csvFile, key, _csv, log, _s.Steps) is { } resumed)
        {
            Step = resumed;
        }
        var byClass = shape.Conditional && _s.ClassBalanced ? Enumerable.Range(0, data.NumClasses).Select(data.IndicesOf).Where(ix => ix.Length > 0).ToArray() : null;
        var pick = new int[_s.BatchSize];
        var sameClass = _s.Objective != "deepsmote" ? null : Enumerable.Range(0, data.NumClasses).Select(data.IndicesOf).Where(ix => ix.Length > 1).ToArray();
        if (sameClass is { Length: 0 })
        {
            throw new ArgumentException($"DeepSMOTE '{tag}': its penalty needs a class with at least 2 images");
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        Model.Train();
        while (Step < _s.Steps)
        {
            for (var i = 0; i < pick.Length; i++)
            {
                pick[i] = byClass is not null ? byClass[_rng.NextInt(byClass.Length)] is var ix ? ix[_rng.NextInt(ix.Length)] : 0 : _rng.NextInt(data.Count);
            }
            double loss, recon, kl;
            using (TensorScope.Begin())
            {
                var x = data.ToTensor(PixelRange.MinusOneToOne, pick);
                var labels = shape.Conditional ? Tensor.FromArray([.. pick.Select(data.Label)], pick.Length) : null;
                var (mu, logVar) = Model.Encode(x, labels);
                Tensor r, k, total;
                if (Model.Variational)
                {
                    var eps = _rng.Normal([pick.Length, shape.LatentDim]);
                    var z = mu + (Tensor.Exp(logVar * 0.5) * eps);
                    r = AutoencoderLosses.Reconstruction(Model.Decoder.Forward(z, labels), x, _s.Reconstruction);
                    k = AutoencoderLosses.GaussianKl(mu, logVar);
                    total = r + (k * _s.Beta);
                }
                else if (sameClass is not null)
                {
                    // DeepSMOTE: reconstruction, plus the penalty on a batch of one class (the "kl" column
                    // of losses.csv holds the penalty).
                    r = AutoencoderLosses.Reconstruction(Model.Decoder.Forward(mu, labels), x, _s.Reconstruction);
                    var (classImages, permuted) = ClassBatch(data, sameClass);
                    k = AutoencoderLosses.PermutationPenalty(Model.Decoder.Forward(Model.Encode(data.ToTensor(PixelRange.MinusOneToOne, classImages), null).Mu, null), data.ToTensor(PixelRange.MinusOneToOne, permuted), _s.Reconstruction);
                    total = r + (k * _s.Penalty);
                }
                else if (_s.Objective is "wae" or "scdl")
                {
                    // WAE-MMD: the codes of the batch against as many N(0, I) draws (the "kl" column of
                    // losses.csv holds λ·MMD, plus λ2·L_SV for SCDL).
                    r = AutoencoderLosses.Reconstruction(Model.Decoder.Forward(mu, labels), x, _s.Reconstruction);
                    k = AutoencoderLosses.ImqMmd(mu, _rng.Normal([pick.Length, shape.LatentDim])) * _s.MmdWeight;
                    if (_s.Objective == "scdl")
                    {
                        var y = Tensor.FromArray([.. pick.Select(data.Label)], pick.Length);
                        k = k + (F.CrossEntropy(Model.ClassifyCode(mu), y) * _s.SvWeight);
                    }
                    total = r + k;
                }
                else if (_s.Objective == "sae")
                {
                    // BAGAN-GP's supervised autoencoder: the code times the label's embedding is decoded.
                    var y = Tensor.FromArray([.. pick.Select(data.Label)], pick.Length);
                    r = AutoencoderLosses.Reconstruction(Model.Decoder.Forward(Model.DecoderInput(mu, y), null), x, _s.Reconstruction);
                    k = Tensor.ZerosLike(r);
                    total = r;
                }
                else
                {
                    // A plain autoencoder (BAGAN's first stage): reconstruction only.
                    r = AutoencoderLosses.Reconstruction(Model.Decoder.Forward(mu, labels), x, _s.Reconstruction);
                    k = Tensor.ZerosLike(r);
                    total = r;
                }
                _opt.ZeroGrad();
                total.Backward();
                _opt.Step();
                (loss, recon, kl) = (total.Item(), r.Item(), k.Item());
            }
            Step++;
            Last = (loss, recon, kl);
            if (!double.IsFinite(loss))
            {
                throw new InvalidOperationException($"VAE '{tag}': the loss is {loss} at step {Step}; lower 'lr'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{loss:G6},{recon:G6},{kl:G6},{_opt.ParamGroups[0].LearningRate:G6}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data);
            }
            if (Step % _s.CheckpointEvery == 0 || Step == _s.Steps)
            {
                Parts.Save(state, csvFile, _csv, key, Step);
            }
            progress?.Invoke(new GanProgress(tag, Step, _s.Steps, recon, kl, _opt.ParamGroups[0].LearningRate, 0, 0, (Step - start) / Math.Max(1e-9, sw.Elapsed.TotalSeconds))
            {
                Stage = _s.Objective == "vae" ? "VAE" : "autoencoder",
                LossNames = ("recon", _s.Objective switch { "vae" => "KL", "deepsmote" => "penalty", "wae" => "MMD", "scdl" => "MMD+SV", _ => null }),
            });
            if (stopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data);
        return true;
    }

    /// <summary>A batch of one class (drawn uniformly among the classes with 2 or more images) and the same
    /// images in a random order: decoding the first batch's codes against the second compares each image
    /// with the decoding of another image of its class.</summary>
    private (int[] Images, int[] Permuted) ClassBatch(Dataset data, int[][] byClass)
    {
        var ix = byClass[_rng.NextInt(byClass.Length)];
        var n = Math.Min(_s.BatchSize, ix.Length);
        var images = new int[n];
        for (var i = 0; i < n; i++)
        {
            images[i] = ix[_rng.NextInt(ix.Length)];
        }
        var order = _rng.Permutation(n).ToIntArray();
        return (images, [.. order.Select(o => images[o])]);
    }

    /// <summary>The files a finished run no longer needs.</summary>
    public static void DeleteState(string workDir, string tag) => File.Delete(Path.Combine(workDir, tag + ".state.safetensors"));

    private TrainerParts Parts => new TrainerParts("vae", CsvHeader).Module("vae", Model).Optimizer("vae", _opt).Random("main", _rng);

    /// <summary>A VAE's grid: decoded N(0, I) draws from a fixed seed, one row per class for a conditional
    /// model. Another autoencoder's: per class (up to 10), a row of its first training images and a row of
    /// their reconstructions.</summary>
    private void WriteGrid(string path, Dataset data)
    {
        if (!Model.Variational)
        {
            WriteReconstructions(path, data);
            return;
        }
        var shape = Model.Shape;
        var classes = shape.Conditional ? Enumerable.Range(0, shape.NumClasses).ToArray() : [data.Count > 0 ? data.Label(0) : 0];
        var gen = new Generator(_seed ^ 0x3c6ef372fe94f82bUL);
        SampleGrid.WriteGenerated(path, data, classes, (c, n) => GeneratorFile.Generate(Model.Decoder, n, c, gen));
        Model.Train();
    }

    private void WriteReconstructions(string path, Dataset data)
    {
        var shown = Enumerable.Range(0, data.NumClasses).Select(c => data.IndicesOf(c).Take(10).ToArray()).Where(ix => ix.Length > 0).Take(10).ToArray();
        var all = shown.SelectMany(ix => ix).ToArray();
        byte[] rebuilt;
        Model.Eval();
        using (GradMode.NoGrad())
        {
            using var scope = TensorScope.Begin();
            var labels = Model.LabelEmbedding > 0 || Model.Shape.Conditional ? Tensor.FromArray([.. all.Select(data.Label)], all.Length) : null;
            var code = Model.Encode(data.ToTensor(PixelRange.MinusOneToOne, all), Model.Shape.Conditional ? labels : null).Mu;
            rebuilt = Dataset.ToBytes(Model.Decoder.Forward(Model.DecoderInput(code, labels), Model.Shape.Conditional ? labels : null));
        }
        Model.Train();
        var size = data.ImageSize;
        var pixels = new byte[2 * all.Length * size];
        for (var i = 0; i < all.Length; i++)
        {
            data.Image(all[i]).CopyTo(pixels.AsSpan(i * size, size));
        }
        rebuilt.CopyTo(pixels.AsSpan(all.Length * size));
        var grid = new Dataset("reconstructions", pixels, [.. all.Select(data.Label), .. all.Select(data.Label)], data.Channels, data.Height, data.Width, [.. data.ClassNames]);
        var rows = new List<int[]>();
        var at = 0;
        foreach (var ix in shown)
        {
            rows.Add([.. Enumerable.Range(at, ix.Length)]);
            rows.Add([.. Enumerable.Range(all.Length + at, ix.Length)]);
            at += ix.Length;
        }
        SampleGrid.Write(path, grid, rows);
    }
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
