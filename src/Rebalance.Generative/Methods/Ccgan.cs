using System.Globalization;
using System.Security.Cryptography;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;

namespace Rebalance.Generative.Methods;

/// <summary>How <c>ccgan</c> is trained.</summary>
public sealed record CcganSettings
{
    /// <summary>Attributes the GAN is conditioned on (empty: all the data has).</summary>
    public IReadOnlyList<string> Attributes { get; init; } = [];

    /// <summary>Training steps (one D step and one G step each).</summary>
    public int Steps { get; init; } = 3000;

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Noise size.</summary>
    public int LatentDim { get; init; } = 64;

    /// <summary>Channels of the last generator stage and the first discriminator stage.</summary>
    public int Width { get; init; } = 64;

    /// <summary>Adversarial loss: <c>gan</c> (the study's cross-entropy), <c>lsgan</c> or <c>hinge</c>.</summary>
    public string Loss { get; init; } = "gan";

    /// <summary>Whether D has the predictor head and its loss terms are used.</summary>
    public bool Predictor { get; init; } = true;

    /// <summary>λ of the predictor terms.</summary>
    public double PredictorWeight { get; init; } = 1;

    /// <summary>Minibatch discrimination kernels (0: off).</summary>
    public int MinibatchKernels { get; init; }

    /// <summary>Dimensions per minibatch-discrimination kernel.</summary>
    public int MinibatchKernelDim { get; init; } = 8;

    /// <summary>Adam rate of G.</summary>
    public double LrG { get; init; } = 2e-4;

    /// <summary>Adam rate of D.</summary>
    public double LrD { get; init; } = 2e-4;

    /// <summary>Adam β1.</summary>
    public double Beta1 { get; init; } = 0.5;

    /// <summary>Scale of the kernel density's bandwidth over Scott's rule.</summary>
    public double Bandwidth { get; init; } = 1;

    /// <summary>Steps between checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Steps between sample grids.</summary>
    public int SampleEvery { get; init; } = 500;

    /// <summary>Reads the settings.</summary>
    public static CcganSettings Read(MethodSettings s)
    {
        var d = new CcganSettings();
        var r = new CcganSettings
        {
            Attributes = s.List("attributes", d.Attributes),
            Steps = s.Int("steps", d.Steps, 1, 10_000_000),
            BatchSize = s.Int("batch_size", d.BatchSize, 2, 4096),
            LatentDim = s.Int("z_dim", d.LatentDim, 1, 1024),
            Width = s.Int("width", d.Width, 8, 1024),
            Loss = s.Choice("loss", d.Loss, "gan", "lsgan", "hinge"),
            Predictor = s.Bool("predictor", d.Predictor),
            PredictorWeight = s.Double("predictor_weight", d.PredictorWeight, 0, 1e6),
            MinibatchKernels = s.Int("minibatch", d.MinibatchKernels, 0, 1024),
            MinibatchKernelDim = s.Int("minibatch_dim", d.MinibatchKernelDim, 1, 256),
            LrG = s.Double("lr_g", d.LrG, 1e-7, 1),
            LrD = s.Double("lr_d", d.LrD, 1e-7, 1),
            Beta1 = s.Double("beta1", d.Beta1, 0, 0.999),
            Bandwidth = s.Double("bandwidth", d.Bandwidth, 0, 100),
            CheckpointEvery = s.Int("checkpoint_every", d.CheckpointEvery, 1, 10_000_000),
            SampleEvery = s.Int("sample_every", d.SampleEvery, 1, 10_000_000),
        };
        if (r.Width % 2 != 0)
        {
            throw new SettingException("width", $"setting 'width' of method 'ccgan': {r.Width} must be even");
        }
        return r;
    }

    /// <summary>Everything that decides the trained weights.</summary>
    public string Canonical() => string.Join(";", "ccgan v1", string.Join(",", Attributes), Steps, BatchSize, LatentDim, Width, Loss, Predictor,
        D(PredictorWeight), MinibatchKernels, MinibatchKernelDim, D(LrG), D(LrD), D(Beta1), CheckpointEvery);

    private static string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

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
