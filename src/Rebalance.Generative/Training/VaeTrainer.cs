using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Latent;
using Rebalance.Generative.Methods;
using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Training;

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
