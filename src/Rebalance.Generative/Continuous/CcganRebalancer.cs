using System.Globalization;
using System.Security.Cryptography;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Architectures;
using Rebalance.Nn;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Continuous;

/// <summary>The attributes a <c>ccgan</c> model is conditioned on and how they are standardised: z = (a − mean) / std.</summary>
/// <param name="Names">Attribute names, in the model's order.</param>
/// <param name="Mean">Their training means.</param>
/// <param name="Std">Their training standard deviations (1 where constant).</param>
public sealed record AttributeScale(string[] Names, double[] Mean, double[] Std)
{
    /// <summary>Standardised values of one row of raw values.</summary>
    public float[] Standardise(ReadOnlySpan<float> raw)
    {
        var z = new float[Names.Length];
        for (var k = 0; k < z.Length; k++)
        {
            z[k] = (float)((raw[k] - Mean[k]) / Std[k]);
        }
        return z;
    }

    /// <summary>Raw value of attribute k from its standardised value.</summary>
    public double Raw(int k, double standardised) => Mean[k] + (Std[k] * standardised);

    /// <summary>Mean and standard deviation of each attribute over <paramref name="rows"/> (row-major, k per row).</summary>
    public static AttributeScale Fit(string[] names, float[] rows)
    {
        var k = names.Length;
        var n = rows.Length / k;
        var mean = new double[k];
        var std = new double[k];
        for (var j = 0; j < k; j++)
        {
            double s = 0, ss = 0;
            for (var i = 0; i < n; i++)
            {
                s += rows[i * k + j];
            }
            mean[j] = s / n;
            for (var i = 0; i < n; i++)
            {
                var d = rows[i * k + j] - mean[j];
                ss += d * d;
            }
            std[j] = n > 1 && ss > 0 ? Math.Sqrt(ss / (n - 1)) : 1;
        }
        return new AttributeScale(names, mean, std);
    }
}

/// <summary>
/// <c>ccgan</c>: one GAN on all training images conditioned on their continuous attributes (a folder's
/// metadata.csv, or morpho-mnist's measures), after the galaxy study: the attributes (standardised) enter
/// G's input and every normalisation layer (<see cref="CcganGenerator"/>, upsampling + convolution), D has a
/// real/fake head, a predictor head regressing the attributes and optional minibatch discrimination
/// (<see cref="CcganDiscriminator"/>), and the losses are <see cref="CcganLosses"/>'s. G is fed the
/// attributes of the real batch it is compared with. New images of class c are drawn at attribute values
/// sampled from c's real attributes by a Gaussian kernel density (a random training image's values plus
/// noise of Scott's bandwidth, n_c^(−1/(k+4)) times the class's standard deviation per attribute, times
/// <c>bandwidth</c>). The model (<c>all.ccgan.safetensors</c>: modules g and d, the attribute scale) is
/// reused for the same settings, data and seed; training checkpoints and resumes exactly.
/// </summary>
public sealed class Ccgan : GenerativeRebalancer
{
    private readonly CcganSettings _s;
    private CcganGenerator? _g;
    private AttributeScale? _scale;

    internal Ccgan(CcganSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => "ccgan";

    private protected override GanSettings Primary => new() { LatentDim = _s.LatentDim };

    /// <summary>The attribute scale of the last model trained or loaded.</summary>
    public AttributeScale? Scale => _scale;

    /// <summary>Any channel count and any size from 16 to 128 pixels a side.</summary>
    public override void CheckData(int channels, int height, int width, int numClasses)
    {
        if (height is < 16 or > 128 || width is < 16 or > 128)
        {
            throw new ArgumentException($"ccgan: images of {height}x{width} are outside the sizes it takes (16 to 128 pixels a side, square or not)");
        }
    }

    /// <summary>The names the model conditions on, checked against the data's.</summary>
    internal static string[] AttributeNames(CcganSettings s, Dataset train)
    {
        if (train.AttributeNames.Count == 0)
        {
            throw new ArgumentException($"ccgan: the images of {train.Name} carry no attributes to condition on (give the folder a metadata.csv, or use morpho-mnist)");
        }
        var names = s.Attributes.Count > 0 ? [.. s.Attributes] : train.AttributeNames.ToArray();
        foreach (var a in names)
        {
            if (!train.AttributeNames.Contains(a))
            {
                throw new SettingException("attributes", $"setting 'attributes' of method 'ccgan': '{a}' is not an attribute of the data (it has {string.Join(", ", train.AttributeNames)})");
            }
        }
        return names;
    }

    /// <summary>(row indices of images with every attribute known, their raw values row-major).</summary>
    internal static (int[] Rows, float[] Values) KnownRows(Dataset train, string[] names, IEnumerable<int>? candidates = null)
    {
        var cols = names.Select(a => train.AttributeNames.ToList().IndexOf(a)).ToArray();
        var rows = new List<int>();
        var values = new List<float>();
        foreach (var i in candidates ?? Enumerable.Range(0, train.Count))
        {
            var all = train.Attributes(i).ToArray();
            if (cols.All(c => float.IsFinite(all[c])))
            {
                rows.Add(i);
                values.AddRange(cols.Select(c => all[c]));
            }
        }
        return ([.. rows], [.. values]);
    }

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        Checks = [];
        var names = AttributeNames(_s, train);
        var (rows, values) = KnownRows(train, names);
        if (rows.Length < _s.BatchSize)
        {
            throw new ArgumentException($"ccgan: {rows.Length} training images have every attribute of {string.Join(", ", names)} known; a batch needs {_s.BatchSize}");
        }
        if (rows.Length < train.Count)
        {
            notes.Add(new RebalanceNote("attributes", $"{train.Count - rows.Length} of {train.Count} training images lack an attribute value and are left out of ccgan's training", "all"));
        }
        var scale = AttributeScale.Fit(names, values);
        var key = GanSettings.Digest(_s.Canonical() + ";" + seed.ToString(CultureInfo.InvariantCulture) + ";" + GeneratorFile.Fingerprint(train) + ";" + AttributeDigest(values));
        var file = Path.Combine(dir, CcganModel.FileName);
        var (g, d) = Create(_s, train.Channels, train.Height, train.Width, names.Length, seed);
        if (StoredModel.Open(file, "ccgan", key, "a ccgan model") is { } stored)
        {
            stored.LoadModule(g, "g");
            log?.Invoke($"all: reusing the trained ccgan model {file}");
        }
        else
        {
            var standardised = new float[values.Length];
            for (var i = 0; i < rows.Length; i++)
            {
                scale.Standardise(values.AsSpan(i * names.Length, names.Length)).CopyTo(standardised, i * names.Length);
            }
            log?.Invoke($"all: training ccgan on {rows.Length} images conditioned on {string.Join(", ", names)} for {_s.Steps} steps ({_s.Loss}, predictor {(_s.Predictor ? $"on, λ {_s.PredictorWeight:G3}" : "off")}, minibatch discrimination {(_s.MinibatchKernels > 0 ? _s.MinibatchKernels + " kernels" : "off")})");
            var trainer = new CcganTrainer(_s, g, d, seed);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            trainer.Train(train, rows, standardised, dir, "all", key, log, Context.Progress,
                (path, gen) => WriteGrid(path, train, grow, g, scale, gen));
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"all: trained in {sw.Elapsed.TotalSeconds:F0} s, loss D {trainer.Last.D:G4}, G {trainer.Last.G:G4}, predictor error real {trainer.Last.PredReal:G3}, generated {trainer.Last.PredFake:G3}"));
            CcganModel.Save(file, g, d, scale, _s, key, train.ClassNames);
            File.Delete(Path.Combine(dir, "all.state.safetensors"));
        }
        g.Eval();
        (_g, _scale) = (g, scale);
        if (ConditionError.CanMeasure(names, train.Channels))
        {
            // How well the condition is followed, on 500 requests drawn from the training images' attributes.
            var checks = ConditionError.Evaluate(g, scale, train, 500, new Generator(seed ^ 0x9b05688c2b3e6c1fUL));
            foreach (var e in checks)
            {
                log?.Invoke("all: condition check, " + e);
            }
            Checks = checks;
        }
        return [];
    }

    private static string AttributeDigest(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
    }

    /// <summary>The generator and discriminator, with weights drawn from <paramref name="seed"/>.</summary>
    internal static (CcganGenerator G, CcganDiscriminator D) Create(CcganSettings s, int channels, int height, int width, int attributes, ulong seed) =>
        (new CcganGenerator(channels, height, width, s.LatentDim, attributes, s.Width, new Generator(seed ^ 0x6a09e667f3bcc908UL)),
         new CcganDiscriminator(channels, height, width, attributes, s.Width, s.MinibatchKernels, s.MinibatchKernelDim, new Generator(seed ^ 0xbb67ae8584caa73bUL)));

    private protected override byte[] Generate(Dataset train, int c, int n, GanGenerator? g, Generator gen, Action<string>? log)
    {
        var model = _g ?? throw new InvalidOperationException("ccgan: generating before training");
        var scale = _scale!;
        return GenerateAt(model, DrawAttributes(train, scale, c, n, _s.Bandwidth, gen), gen);
    }

    /// <summary><paramref name="n"/> standardised attribute rows for class <paramref name="c"/> from a Gaussian
    /// kernel density over its training images' values (Scott's bandwidth times <paramref name="bandwidth"/>).</summary>
    public static float[] DrawAttributes(Dataset train, AttributeScale scale, int c, int n, double bandwidth, Generator gen)
    {
        var k = scale.Names.Length;
        var (rows, raw) = KnownRows(train, scale.Names, train.IndicesOf(c));
        if (rows.Length == 0)
        {
            throw new ArgumentException($"ccgan: no training image of class {c} ('{train.ClassNames[c]}') has every attribute of {string.Join(", ", scale.Names)}, so there is nothing to draw its attributes from");
        }
        var z = new float[raw.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            scale.Standardise(raw.AsSpan(i * k, k)).CopyTo(z, i * k);
        }
        var classScale = AttributeScale.Fit(scale.Names, z);
        var factor = bandwidth * Math.Pow(rows.Length, -1.0 / (k + 4));
        var noise = gen.Normal([n, k]).ToFloatArray();
        var result = new float[n * k];
        for (var i = 0; i < n; i++)
        {
            var pick = gen.NextInt(rows.Length);
            for (var j = 0; j < k; j++)
            {
                var sd = rows.Length > 1 ? classScale.Std[j] : 0;
                result[i * k + j] = (float)(z[pick * k + j] + (factor * sd * noise[i * k + j]));
            }
        }
        return result;
    }

    /// <summary>Images as bytes for standardised attribute rows (row-major, the model's attributes), the
    /// generator in evaluation mode.</summary>
    public static byte[] GenerateAt(CcganGenerator g, float[] attributes, Generator gen)
    {
        var k = g.NumAttributes;
        return ImageRows.Generate(g, attributes.Length / k, g.Channels * g.Height * g.Width,
            (start, len) => g.Forward(gen.Normal([len, g.LatentDim]), Tensor.FromArray(attributes.AsSpan(start * k, len * k).ToArray(), len, k)));
    }

    private void WriteGrid(string path, Dataset train, int[] grow, CcganGenerator g, AttributeScale scale, Generator gen) =>
        SampleGrid.WriteGenerated(path, train, [.. grow.Take(10)], (c, n) => GenerateAt(g, DrawAttributes(train, scale, c, n, _s.Bandwidth, gen), gen));
}

/// <summary>A trained <c>ccgan</c> model file (<c>all.ccgan.safetensors</c>): the generator and discriminator,
/// and in its metadata the image shape, the settings that size the networks, the attribute scale and the
/// data's class names, so <c>gan sample --set</c> can draw from it without the data.</summary>
/// <param name="Generator">The generator, in evaluation mode.</param>
/// <param name="Scale">The attributes it is conditioned on and their scale.</param>
/// <param name="ClassNames">The class names of the data it was trained on.</param>
public sealed record CcganModel(CcganGenerator Generator, AttributeScale Scale, IReadOnlyList<string> ClassNames)
{
    /// <summary>The file name in a model folder.</summary>
    public const string FileName = "all.ccgan.safetensors";

    private static string Join(IEnumerable<double> v) => string.Join(",", v.Select(x => x.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>Writes the model.</summary>
    public static void Save(string file, CcganGenerator g, CcganDiscriminator d, AttributeScale scale, CcganSettings s, string key, IReadOnlyList<string> classNames)
    {
        var save = new Checkpoint().AddModule(g, "g").AddModule(d, "d");
        save.Metadata["ccgan.key"] = key;
        save.Metadata["ccgan.shape"] = $"{g.Channels},{g.Height},{g.Width}";
        save.Metadata["ccgan.z_dim"] = s.LatentDim.ToString(CultureInfo.InvariantCulture);
        save.Metadata["ccgan.width"] = s.Width.ToString(CultureInfo.InvariantCulture);
        save.Metadata["ccgan.attributes"] = string.Join(",", scale.Names);
        save.Metadata["ccgan.mean"] = Join(scale.Mean);
        save.Metadata["ccgan.std"] = Join(scale.Std);
        save.Metadata["ccgan.classes"] = string.Join("\n", classNames);
        save.Save(file);
    }

    /// <summary>Reads a model written by <see cref="Save"/>; anything missing or malformed is one line naming the file.</summary>
    public static CcganModel Load(string file)
    {
        Checkpoint c;
        try
        {
            c = Checkpoint.Load(file);
        }
        catch (Exception e) when (e is IOException or CheckpointException or InvalidDataException or FormatException)
        {
            throw new ArgumentException($"{file}: not a readable ccgan model ({e.Message})");
        }
        string Meta(string k) => c.Metadata.GetValueOrDefault("ccgan." + k) ?? throw new ArgumentException($"{file}: not a ccgan model (no '{k}' in its metadata)");
        static double[] Numbers(string text) => [.. text.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture))];
        try
        {
            var shape = Meta("shape").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var names = Meta("attributes").Split(',');
            var scale = new AttributeScale(names, Numbers(Meta("mean")), Numbers(Meta("std")));
            var g = new CcganGenerator(shape[0], shape[1], shape[2], int.Parse(Meta("z_dim"), CultureInfo.InvariantCulture), names.Length, int.Parse(Meta("width"), CultureInfo.InvariantCulture), new Generator(0));
            c.LoadModule(g, "g");
            g.Eval();
            return new CcganModel(g, scale, Meta("classes").Split("\n"));
        }
        catch (Exception e) when (e is FormatException or IndexOutOfRangeException or CheckpointException)
        {
            throw new ArgumentException($"{file}: a damaged ccgan model ({e.Message})");
        }
    }

    /// <summary>Standardised attribute rows for <paramref name="n"/> images at the raw values given by name;
    /// every attribute of the model must be given.</summary>
    public float[] At(IReadOnlyDictionary<string, double> values, int n)
    {
        var missing = Scale.Names.Where(a => !values.ContainsKey(a)).ToArray();
        if (missing.Length > 0)
        {
            throw new ArgumentException($"--set: give a value for every attribute the model is conditioned on ({string.Join(", ", Scale.Names)}); missing: {string.Join(", ", missing)}");
        }
        var extra = values.Keys.Where(a => !Scale.Names.Contains(a)).ToArray();
        if (extra.Length > 0)
        {
            throw new ArgumentException($"--set: {string.Join(", ", extra)} is not an attribute of the model (it has {string.Join(", ", Scale.Names)})");
        }
        var row = Scale.Standardise([.. Scale.Names.Select(a => (float)values[a])]);
        return [.. Enumerable.Range(0, n).SelectMany(_ => row)];
    }
}

/// <summary><c>ccgan</c>'s training loop: each step one D update and one G update on a uniformly drawn batch
/// (G drawn for the batch's own attributes), Adam for both; resumable from <c>TAG.state.safetensors</c>.</summary>
public sealed class CcganTrainer
{
    private const string CsvHeader = "step,loss_d,loss_g,predictor_error_real,predictor_error_fake";
    private readonly CcganSettings _s;
    private readonly CcganGenerator _g;
    private readonly CcganDiscriminator _d;
    private readonly AdversarialLoss _loss;
    private readonly Adam _optG;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly List<string> _csv = [];

    /// <summary>A trainer for <paramref name="g"/> and <paramref name="d"/>.</summary>
    public CcganTrainer(CcganSettings s, CcganGenerator g, CcganDiscriminator d, ulong seed)
    {
        (_s, _g, _d, _seed) = (s, g, d, seed);
        _loss = AdversarialLoss.Get(s.Loss);
        _optG = new Adam([.. g.Parameters()], s.LrG, s.Beta1);
        _optD = new Adam([.. d.Parameters()], s.LrD, s.Beta1);
        _rng = new Generator(seed ^ 0x243f6a8885a308d3UL);
    }

    /// <summary>Steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The last step's losses and the predictor's errors on real and generated images.</summary>
    public (double D, double G, double PredReal, double PredFake) Last { get; private set; }

    /// <summary>Trains on the images <paramref name="rows"/> of <paramref name="data"/> with their standardised
    /// attributes (<paramref name="attributes"/>, row-major in the same order), resuming from
    /// <c>TAG.state.safetensors</c> when it holds a run with <paramref name="key"/>. <paramref name="grid"/>
    /// writes a sample grid. Returns false when stopped early by <paramref name="stopAfter"/>.</summary>
    public bool Train(Dataset data, int[] rows, float[] attributes, string workDir, string tag, string key, Action<string>? log = null, Action<GanProgress>? progress = null, Action<string, Generator>? grid = null, int? stopAfter = null)
    {
        Directory.CreateDirectory(workDir);
        var k = _g.NumAttributes;
        var state = Path.Combine(workDir, tag + ".state.safetensors");
        var csvFile = Path.Combine(workDir, tag + ".losses.csv");
        if (Parts.Resume(state, csvFile, key, _csv, log, _s.Steps) is { } resumed)
        {
            Step = resumed;
        }
        var n = _s.BatchSize;
        var pick = new int[n];
        var batchAttributes = new float[n * k];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        _g.Train();
        _d.Train();
        while (Step < _s.Steps)
        {
            double lossD, lossG, errReal = double.NaN, errFake = double.NaN;
            using (TensorScope.Begin())
            {
                for (var i = 0; i < n; i++)
                {
                    var r = _rng.NextInt(rows.Length);
                    pick[i] = rows[r];
                    Array.Copy(attributes, r * k, batchAttributes, i * k, k);
                }
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick);
                var a = Tensor.FromArray((float[])batchAttributes.Clone(), n, k);
                var fake = _g.Forward(_rng.Normal([n, _g.LatentDim]), a);

                var (realLogit, realPred) = _d.Score(real);
                var (fakeLogit, fakePred) = _d.Score(fake.Detach());
                var d = _loss.Discriminator(realLogit, fakeLogit);
                if (_s.Predictor)
                {
                    var er = CcganLosses.PredictorError(realPred, a);
                    var ef = CcganLosses.PredictorError(fakePred, a);
                    d = CcganLosses.Discriminator(d, er, ef, _s.PredictorWeight);
                    errReal = er.Item();
                }
                _optD.ZeroGrad();
                d.Backward();
                _optD.Step();

                var (logit, pred) = _d.Score(fake);
                var g = _loss.Generator(logit);
                if (_s.Predictor)
                {
                    var ef = CcganLosses.PredictorError(pred, a);
                    g = CcganLosses.Generator(g, ef, _s.PredictorWeight);
                    errFake = ef.Item();
                }
                _optG.ZeroGrad();
                _optD.ZeroGrad();
                g.Backward();
                _optG.Step();
                (lossD, lossG) = (d.Item(), g.Item());
            }
            Step++;
            Last = (lossD, lossG, errReal, errFake);
            if (!double.IsFinite(lossD) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"ccgan '{tag}': non-finite loss at step {Step} (D {lossD}, G {lossG}); lower 'lr_g' and 'lr_d'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{lossD:G6},{lossG:G6},{errReal:G6},{errFake:G6}"));
            if (grid is not null && (Step % _s.SampleEvery == 0 || Step == _s.Steps))
            {
                grid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), new Generator(_seed ^ 0x510e527fade682d1UL));
            }
            if (Step % _s.CheckpointEvery == 0 || Step == _s.Steps)
            {
                Parts.Save(state, csvFile, _csv, key, Step);
            }
            progress?.Invoke(new GanProgress(tag, Step, _s.Steps, lossD, lossG, _s.LrG, _s.LrD, 0, (Step - start) / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            if (stopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        grid?.Invoke(Path.Combine(workDir, $"{tag}.samples.png"), new Generator(_seed ^ 0x510e527fade682d1UL));
        return true;
    }

    private TrainerParts Parts => new TrainerParts("ccgan", CsvHeader).Module("g", _g).Module("d", _d).Optimizer("g", _optG).Optimizer("d", _optD).Random("main", _rng);
}
