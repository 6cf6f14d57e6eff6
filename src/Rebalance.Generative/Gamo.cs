using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Architectures;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative;

/// <summary>How GAMO is trained.</summary>
public sealed record GamoSettings
{
    /// <summary>Training steps (each updates the classifier, the discriminator and the generator once).</summary>
    public int Steps { get; init; } = 3000;

    /// <summary>Real images per step, drawn uniformly (so each class appears at its prior, as the objective assumes).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Generated images per filled class per step; 0: the batch size over the number of classes.</summary>
    public int GeneratedPerClass { get; init; }

    /// <summary>Noise size fed to the transient mapping unit with the class.</summary>
    public int LatentDim { get; init; } = 32;

    /// <summary>Adam rate of all three players.</summary>
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>Adam β1.</summary>
    public double Beta1 { get; init; } = 0.5;

    /// <summary>Steps between checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Steps between sample grids.</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>Reads the settings.</summary>
    public static GamoSettings Read(MethodSettings s)
    {
        var d = new GamoSettings();
        return new GamoSettings
        {
            Steps = s.Int("steps", d.Steps, 1, 10_000_000),
            BatchSize = s.Int("batch_size", d.BatchSize, 2, 4096),
            GeneratedPerClass = s.Int("gen_per_class", d.GeneratedPerClass, 0, 4096),
            LatentDim = s.Int("z_dim", d.LatentDim, 1, 1024),
            LearningRate = s.Double("lr", d.LearningRate, 1e-7, 1),
            Beta1 = s.Double("beta1", d.Beta1, 0, 0.999),
            CheckpointEvery = s.Int("checkpoint_every", d.CheckpointEvery, 1, 10_000_000),
            SampleEvery = s.Int("sample_every", d.SampleEvery, 1, 10_000_000),
        };
    }

    /// <summary>Everything that decides the trained weights.</summary>
    public string Canonical() => string.Join(";", "gamo v1", Steps, BatchSize, GeneratedPerClass, LatentDim,
        LearningRate.ToString("R", CultureInfo.InvariantCulture), Beta1.ToString("R", CultureInfo.InvariantCulture), CheckpointEvery);
}

/// <summary>
/// GAMO's objectives (Mullick, Datta and Das 2019), with M_k(x) the classifier's softmax probability of class k,
/// D(x|k) the conditional discriminator's probability that x is a real image of class k, P_k the class
/// priors, c the largest class and G(z|i) the convex generator's sample for class i:
/// <list type="bullet">
/// <item>J(G, M) = Σ_i P_i E_{x~p_i}[ℓ(x, i)] + Σ_{i≠c} (P_c − P_i) E_z[ℓ(G(z|i), i)], with the
/// one-against-rest term ℓ(x, i) = −log M_i(x) − Σ_{k≠i} log(1 − M_k(x)) (the paper's J_i1 ... J_i4 regrouped
/// by sample); M minimises J, G maximises it (its samples are to be hard for M).</item>
/// <item>Q(G, D) = Σ_i P_i E_{x~p_i}[log D(x|i)] + Σ_{i≠c} (P_c − P_i) E_z[log(1 − D(G(z|i)|i))]; D maximises Q,
/// G minimises it (the minimax form the paper writes, not the non-saturating one).</item>
/// </list>
/// Each class's generated share P_c − P_i is what brings it up to the largest class, so the game is played on
/// the balanced distribution. Expectations over real data are means over a uniformly drawn batch (Σ_i P_i
/// E_{p_i} is the mean over the data); those over generated samples are means over each class's samples.
/// </summary>
public static class GamoLosses
{
    /// <summary>ℓ(x, y) per row of <paramref name="logits"/> (N, K): −log M_y − Σ_{k≠y} log(1 − M_k), M the
    /// softmax. log(1 − M_k) is taken as the log-sum-exp of the other logits minus that of all, which stays
    /// finite however sure the classifier is.</summary>
    public static Tensor OneAgainstRest(Tensor logits, Tensor labels)
    {
        if (logits.Rank != 2 || labels.Rank != 1 || labels.Size(0) != logits.Size(0) || logits.Size(1) < 2)
        {
            throw new ArgumentException($"GAMO: expected logits (N, K ≥ 2) and N labels; got [{string.Join(", ", logits.Shape)}] and [{string.Join(", ", labels.Shape)}]");
        }
        var k = logits.Size(1);
        var all = logits.LogSumExp(1, keepDim: true);                       // (N, 1)
        var logM = logits - all;                                             // log M_k
        // (K, K): row k masks out logit k.
        var mask = new float[k * k];
        for (var i = 0; i < k; i++)
        {
            mask[(i * k) + i] = float.NegativeInfinity;
        }
        var excluded = Tensor.FromArray(mask, k, k).To(logits.DType);
        var others = (logits.Unsqueeze(1) + excluded).LogSumExp(2);        // (N, K): log Σ_{j≠k} exp(l_j)
        var log1mM = others - all;                                           // log(1 − M_k)
        var onehot = Tensor.OneHot(labels, k, logits.DType);
        return -((onehot * logM) + ((1.0 - onehot) * log1mM)).Sum(1);
    }

    /// <summary>J's estimate: mean ℓ over the real batch plus Σ_s w_s ℓ(generated_s), w_s = (P_c − P_i)/m for
    /// a sample of class i among m generated for it (<paramref name="genWeights"/>).</summary>
    public static Tensor ClassifierObjective(Tensor realLogits, Tensor realLabels, Tensor genLogits, Tensor genLabels, Tensor genWeights) =>
        OneAgainstRest(realLogits, realLabels).Mean() + GeneratedPart(genLogits, genLabels, genWeights);

    /// <summary>The generated samples' part of J (what G maximises).</summary>
    public static Tensor GeneratedPart(Tensor genLogits, Tensor genLabels, Tensor genWeights) =>
        (OneAgainstRest(genLogits, genLabels) * genWeights).Sum();

    /// <summary>Q's estimate from D's logits: mean log D over the real batch plus Σ_s w_s log(1 − D(generated_s)).</summary>
    public static Tensor DiscriminatorObjective(Tensor realScores, Tensor genScores, Tensor genWeights) =>
        -F.Softplus(-realScores).Mean() + FakePart(genScores, genWeights);

    /// <summary>The generated samples' part of Q (what G minimises): Σ_s w_s log(1 − σ(s)).</summary>
    public static Tensor FakePart(Tensor genScores, Tensor genWeights) => (-F.Softplus(genScores) * genWeights).Sum();
}

/// <summary>GAMO's convex generator: a conditional transient mapping unit (noise and one-hot class through
/// three dense layers with batch norm) shared by all classes, and one instance generation unit per filled
/// class that turns its output into softmax weights over that class's n_i training images; the sample is
/// their convex combination, so it stays inside the class's convex hull in pixel space.</summary>
public sealed class GamoGenerator : Module
{
    private readonly int _latent;
    private readonly int _numClasses;
    private readonly int[] _classes;

    /// <summary>Creates the generator for <paramref name="counts"/>[i] images of each class in <paramref name="classes"/>.</summary>
    public GamoGenerator(int latentDim, int numClasses, IReadOnlyList<int> classes, IReadOnlyList<int> counts, Generator gen)
    {
        (_latent, _numClasses, _classes) = (latentDim, numClasses, [.. classes]);
        RegisterModule("tmu", new Sequential(
            new Linear(latentDim + numClasses, 64, gen), Activation.LeakyReLU(0.2), new BatchNorm1d(64),
            new Linear(64, 128, gen), Activation.LeakyReLU(0.2), new BatchNorm1d(128),
            new Linear(128, 256, gen), Activation.LeakyReLU(0.2), new BatchNorm1d(256)));
        var igu = new ModuleList();
        for (var i = 0; i < _classes.Length; i++)
        {
            igu.Add(new Linear(256, counts[i], gen));
        }
        RegisterModule("igu", igu);
    }

    /// <summary>Noise size.</summary>
    public int LatentDim => _latent;

    /// <summary>Not used: the generator needs the classes and their images.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("GAMO's generator needs noise, classes and the classes' images: Forward(z, classes, images)");

    /// <summary>
    /// Samples for the filled classes: rows of <paramref name="z"/> (N, z) in blocks of
    /// <paramref name="perClass"/>[i] for the i-th filled class, <paramref name="images"/>[i] (n_i, pixels) its
    /// training images. Returns (N, pixels) and the convex weights of each block.
    /// </summary>
    public (Tensor Samples, Tensor[] Weights) Forward(Tensor z, IReadOnlyList<int> perClass, IReadOnlyList<Tensor> images)
    {
        var labels = perClass.SelectMany((m, i) => Enumerable.Repeat(_classes[i], m)).ToArray();
        var h = Child("tmu").Forward(Tensor.Concat([z, Tensor.OneHot(Tensor.FromArray(labels, labels.Length), _numClasses, z.DType)], 1));
        var igu = (ModuleList)Child("igu");
        var parts = new List<Tensor>();
        var weights = new Tensor[perClass.Count];
        var start = 0;
        for (var i = 0; i < perClass.Count; i++)
        {
            if (perClass[i] == 0)
            {
                weights[i] = Tensor.Zeros([0, images[i].Size(0)], z.DType);
                continue;
            }
            weights[i] = F.Softmax(igu[i].Forward(h.Slice(0, start, start + perClass[i])), 1);
            parts.Add(Tensor.MatMul(weights[i], images[i]));
            start += perClass[i];
        }
        return (Tensor.Concat([.. parts], 0), weights);
    }
}

/// <summary>
/// GAMO (Mullick, Datta and Das 2019, "Generative adversarial minority oversampling"): a three-player game
/// between a convex generator (<see cref="GamoGenerator"/>), a classifier M and a class-conditional
/// discriminator D, with the objectives of <see cref="GamoLosses"/>, on flattened pixels as the authors do
/// for MNIST and Fashion-MNIST (M and D are dense networks; images of any size and channel count work).
/// Each step updates M, then D, then G, each with Adam (2e-4, β1 0.5). New images of a filled class: the
/// generator's convex combinations of that class's training images for fresh noise. The classifier is a
/// by-product, kept beside the generator in <c>all.gamo.safetensors</c> (modules <c>g</c>, <c>m</c>,
/// <c>d</c>). Training checkpoints and resumes exactly.
/// </summary>
public sealed class Gamo : GenerativeRebalancer
{
    private readonly GamoSettings _s;
    private GamoGenerator? _g;
    private Dictionary<int, Tensor>? _images;

    internal Gamo(GamoSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => "gamo";

    private protected override GanSettings Primary => new() { LatentDim = _s.LatentDim };

    /// <summary>GAMO works on flattened pixels, so any image size and channel count will do.</summary>
    public override void CheckData(int channels, int height, int width, int numClasses)
    {
        if (numClasses < 2)
        {
            throw new ArgumentException($"gamo: needs at least 2 classes, the data has {numClasses}");
        }
    }

    /// <summary>The three networks, for a dataset of <paramref name="pixels"/> values per image.</summary>
    internal static (GamoGenerator G, Sequential M, Sequential D) Create(GamoSettings s, int pixels, int numClasses, int[] grow, int[] counts, ulong seed) =>
        (new GamoGenerator(s.LatentDim, numClasses, grow, [.. grow.Select(c => counts[c])], new Generator(seed ^ 0x6a09e667f3bcc908UL)),
         new Sequential(new Linear(pixels, 256, new Generator(seed ^ 0xbb67ae8584caa73bUL)), Activation.LeakyReLU(0.2), new Linear(256, 128, new Generator(seed ^ 0x3c6ef372fe94f82bUL)), Activation.LeakyReLU(0.2), new Linear(128, numClasses, new Generator(seed ^ 0xa54ff53a5f1d36f1UL))),
         new Sequential(new Linear(pixels + numClasses, 256, new Generator(seed ^ 0x510e527fade682d1UL)), Activation.LeakyReLU(0.2), new Linear(256, 128, new Generator(seed ^ 0x9b05688c2b3e6c1fUL)), Activation.LeakyReLU(0.2), new Linear(128, 1, new Generator(seed ^ 0x1f83d9abfb41bd6bUL))));

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var counts = train.ClassCounts();
        var key = GanSettings.Digest(_s.Canonical() + ";" + string.Join(",", grow) + ";" + seed.ToString(CultureInfo.InvariantCulture) + ";" + GeneratorFile.Fingerprint(train));
        var file = Path.Combine(dir, "all.gamo.safetensors");
        var pixels = train.Channels * train.Height * train.Width;
        var (g, m, d) = Create(_s, pixels, train.NumClasses, grow, counts, seed);
        _images = grow.ToDictionary(c => c, c => ClassImages(train, c));
        foreach (var c in grow.Where(c => counts[c] == 1))
        {
            notes.Add(new RebalanceNote("copies", $"class {c} ('{train.ClassNames[c]}') has one training image, so every convex combination of it is a copy", $"class{c}"));
        }
        if (StoredModel.Open(file, "gamo", key, "a GAMO model") is { } stored)
        {
            stored.LoadModule(g, "g");
            log?.Invoke($"all: reusing the trained GAMO model {file}");
        }
        else
        {
            var trainer = new GamoTrainer(_s, g, m, d, grow, counts, [.. grow.Select(c => _images[c])], seed);
            log?.Invoke($"all: training GAMO (convex generator, classifier and discriminator) on {train.Count} images for {_s.Steps} steps, filling class(es) {string.Join(", ", grow)}");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            trainer.Train(train, dir, "all", key, log, Context.Progress);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"all: trained in {sw.Elapsed.TotalSeconds:F0} s, J {trainer.Last.J:G4}, Q {trainer.Last.Q:G4}"));
            var save = new Checkpoint().AddModule(g, "g").AddModule(m, "m").AddModule(d, "d");
            save.Metadata["gamo.key"] = key;
            save.Metadata["gamo.classes"] = string.Join(",", grow);
            save.Save(file);
            File.Delete(Path.Combine(dir, "all.state.safetensors"));
        }
        g.Eval();
        _g = g;
        return [];
    }

    /// <summary>The training images of class <paramref name="c"/> as rows of pixels in [-1, 1].</summary>
    internal static Tensor ClassImages(Dataset train, int c)
    {
        var idx = train.IndicesOf(c);
        return train.ToTensor(PixelRange.MinusOneToOne, idx).Reshape(idx.Length, -1);
    }

    private protected override byte[] Generate(Dataset train, int c, int n, GanGenerator? g, Generator gen, Action<string>? log)
    {
        var model = _g ?? throw new InvalidOperationException("GAMO: generating before training");
        var images = _images ?? throw new InvalidOperationException("GAMO: generating before training");
        return GamoTrainer.Generate(model, [.. images.Keys], [.. images.Values], c, n, gen, train.Channels, train.Height, train.Width);
    }
}

/// <summary>GAMO's training loop (see <see cref="Gamo"/>).</summary>
public sealed class GamoTrainer
{
    private const string CsvHeader = "step,j,q,loss_g";
    private readonly GamoSettings _s;
    private readonly GamoGenerator _g;
    private readonly Sequential _m;
    private readonly Sequential _d;
    private readonly int[] _grow;
    private readonly Tensor[] _images;
    private readonly double[] _weights;
    private readonly int _perClass;
    private readonly int _numClasses;
    private readonly Adam _optG;
    private readonly Adam _optM;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly List<string> _csv = [];

    /// <summary>Trains <paramref name="g"/>, <paramref name="m"/> and <paramref name="d"/> to fill the classes
    /// <paramref name="grow"/> (<paramref name="images"/>: their training images, in that order) of data whose
    /// class sizes are <paramref name="counts"/>.</summary>
    public GamoTrainer(GamoSettings s, GamoGenerator g, Sequential m, Sequential d, int[] grow, int[] counts, Tensor[] images, ulong seed)
    {
        (_s, _g, _m, _d, _grow, _images, _seed, _numClasses) = (s, g, m, d, grow, images, seed, counts.Length);
        var total = (double)counts.Sum();
        var largest = counts.Max() / total;
        // The generated share of class i, P_c − P_i, spread over its m samples per step.
        _weights = [.. grow.Select(c => largest - (counts[c] / total))];
        _perClass = s.GeneratedPerClass > 0 ? s.GeneratedPerClass : Math.Max(2, (s.BatchSize + counts.Length - 1) / counts.Length);
        _optG = new Adam([.. g.Parameters()], s.LearningRate, s.Beta1);
        _optM = new Adam([.. m.Parameters()], s.LearningRate, s.Beta1);
        _optD = new Adam([.. d.Parameters()], s.LearningRate, s.Beta1);
        _rng = new Generator(seed ^ 0x243f6a8885a308d3UL);
    }

    /// <summary>Steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The last step's J (classifier objective), Q (discriminator objective) and G's loss.</summary>
    public (double J, double Q, double G) Last { get; private set; }

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
        var n = _s.BatchSize;
        var pick = new int[n];
        var perClass = Enumerable.Repeat(_perClass, _grow.Length).ToArray();
        var genLabels = Tensor.FromArray([.. _grow.SelectMany(c => Enumerable.Repeat(c, _perClass))], _grow.Length * _perClass);
        var genWeights = Tensor.FromArray([.. _weights.SelectMany(w => Enumerable.Repeat((float)(w / _perClass), _perClass))], _grow.Length * _perClass);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        _g.Train();
        _m.Train();
        _d.Train();
        while (Step < _s.Steps)
        {
            double j, q, lossG;
            using (TensorScope.Begin())
            {
                for (var i = 0; i < n; i++)
                {
                    pick[i] = _rng.NextInt(data.Count);
                }
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick).Reshape(n, -1);
                var labels = Tensor.FromArray([.. pick.Select(data.Label)], n);
                var (fake, _) = _g.Forward(_rng.Normal([genLabels.Size(0), _s.LatentDim]), perClass, _images);
                var still = fake.Detach();

                // M minimises J.
                var jLoss = GamoLosses.ClassifierObjective(_m.Forward(real), labels, _m.Forward(still), genLabels, genWeights);
                _optM.ZeroGrad();
                jLoss.Backward();
                _optM.Step();

                // D maximises Q.
                var qValue = GamoLosses.DiscriminatorObjective(Score(real, labels), Score(still, genLabels), genWeights);
                _optD.ZeroGrad();
                (-qValue).Backward();
                _optD.Step();

                // G maximises J and minimises Q (only its generated parts depend on it).
                var g = -GamoLosses.GeneratedPart(_m.Forward(fake), genLabels, genWeights) + GamoLosses.FakePart(Score(fake, genLabels), genWeights);
                _optG.ZeroGrad();
                _optM.ZeroGrad();
                _optD.ZeroGrad();
                g.Backward();
                _optG.Step();
                (j, q, lossG) = (jLoss.Item(), qValue.Item(), g.Item());
            }
            Step++;
            Last = (j, q, lossG);
            if (!double.IsFinite(j) || !double.IsFinite(q) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"GAMO '{tag}': non-finite loss at step {Step} (J {j}, Q {q}, G {lossG}); lower 'lr'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{j:G6},{q:G6},{lossG:G6}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data);
            }
            if (Step % _s.CheckpointEvery == 0 || Step == _s.Steps)
            {
                Parts.Save(state, csvFile, _csv, key, Step);
            }
            progress?.Invoke(new GanProgress(tag, Step, _s.Steps, -q, lossG, _s.LearningRate, _s.LearningRate, 0, (Step - start) / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            if (stopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data);
        return true;
    }

    /// <summary>D's logit for images (N, pixels) claimed to be of <paramref name="labels"/>.</summary>
    private Tensor Score(Tensor x, Tensor labels) =>
        _d.Forward(Tensor.Concat([x, Tensor.OneHot(labels, _numClasses, x.DType)], 1)).Reshape(-1);

    /// <summary><paramref name="n"/> images of class <paramref name="c"/> as bytes: convex combinations of its
    /// training images (<paramref name="images"/>[i] for <paramref name="classes"/>[i]) for noise from
    /// <paramref name="gen"/>, the generator in evaluation mode.</summary>
    public static byte[] Generate(GamoGenerator g, int[] classes, Tensor[] images, int c, int n, Generator gen, int channels, int height, int width)
    {
        var index = Array.IndexOf(classes, c);
        if (index < 0)
        {
            throw new ArgumentException($"GAMO: the generator was trained to fill class(es) {string.Join(", ", classes)}, not class {c}");
        }
        return ImageRows.Generate(g, n, channels * height * width, (_, len) =>
            g.Forward(gen.Normal([len, g.LatentDim]), [.. classes.Select((_, i) => i == index ? len : 0)], images).Samples.Reshape(len, channels, height, width));
    }

    private TrainerParts Parts => new TrainerParts("gamo", CsvHeader).Module("g", _g).Module("m", _m).Module("d", _d).Optimizer("g", _optG).Optimizer("m", _optM).Optimizer("d", _optD).Random("main", _rng);

    private void WriteGrid(string path, Dataset data)
    {
        var gen = new Generator(_seed ^ 0x510e527fade682d1UL);
        SampleGrid.WriteGenerated(path, data, [.. _grow.Take(10)], (c, n) => Generate(_g, _grow, _images, c, n, gen, data.Channels, data.Height, data.Width));
    }
}
