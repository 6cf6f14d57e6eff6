using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Sampling;

namespace Rebalance.Generative.Methods;

/// <summary>Where generative rebalancers keep their models and whom they tell about training.</summary>
public sealed class GenerativeContext
{
    /// <summary>Folder for trained generators and training state (one subfolder per method, settings and seed);
    /// null keeps them in a temporary folder that is removed afterwards.</summary>
    public string? CheckpointRoot { get; init; }

    /// <summary>Progress of the GAN being trained.</summary>
    public Action<GanProgress>? Progress { get; init; }
}

/// <summary>The generative rebalancers by name: <c>gan-per-class</c>, <c>smate</c>, <c>cgan</c>, <c>vae</c>, <c>cvae</c>, <c>deepsmote</c>, <c>bagan</c>, <c>bagan-gp</c>, <c>wae-gan</c>, <c>scdl-gan</c>, <c>gamo</c>, <c>ccgan</c>.</summary>
public static class GenerativeMethods
{
    /// <summary>Known names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["gan-per-class", "smate", "cgan", "vae", "cvae", "deepsmote", "bagan", "bagan-gp", "wae-gan", "scdl-gan", "gamo", "ccgan"];

    /// <summary>Refuses a contrastive head for methods that train one GAN per class (it needs class labels).</summary>
    internal static GanSettings Unconditional(GanSettings s, string method) => s.Contrastive
        ? throw new SettingException("cond_loss", $"setting 'cond_loss' of method '{method}': '{s.CondLoss}' needs a conditional GAN (cgan); {method} trains one GAN per class")
        : s;

    /// <summary>Whether <paramref name="name"/> is a generative method.</summary>
    public static bool IsKnown(string name) => Names.Contains(name);

    /// <summary>Builds a method from its settings; unknown or bad settings throw <see cref="SettingException"/>.</summary>
    public static IRebalancer Create(string name, MethodSettings settings, GenerativeContext? context = null)
    {
        context ??= new GenerativeContext();
        IRebalancer r = name switch
        {
            "gan-per-class" => new GanPerClass(Unconditional(GanSettings.Read(settings, new GanSettings()), name), settings, context),
            "smate" => Smate.Create(settings, context),
            "cgan" => new ConditionalGan(GanSettings.Read(settings, new GanSettings { Loss = "hinge", Steps = 3000, EmaDecay = 0.999 }), settings, context),
            "vae" => new VaeRebalancer(false, VaeSettings.Read(settings), settings, context),
            "cvae" => new VaeRebalancer(true, VaeSettings.Read(settings), settings, context),
            "bagan-gp" => new BaganGp(BaganGpSettings.Read(settings), settings, context),
            "bagan" or "wae-gan" or "scdl-gan" => new Bagan(BaganSettings.Read(settings, name), settings, context),
            "gamo" => new Gamo(GamoSettings.Read(settings), settings, context),
            "ccgan" => new Ccgan(CcganSettings.Read(settings), settings, context),
            "deepsmote" => new DeepSmote(VaeSettings.Read(settings, DeepSmote.Defaults), settings, context),
            _ => throw new ArgumentException($"unknown generative method '{name}' (known: {string.Join(", ", Names)})"),
        };
        settings.CheckAllUsed();
        return r;
    }
}

/// <summary>Shared plumbing of the generative rebalancers: targets, checks, the model folder, generation.</summary>
public abstract class GenerativeRebalancer : IRebalancer
{
    private protected GenerativeRebalancer(MethodSettings settings, GenerativeContext context)
    {
        Context = context;
        SettingsText = string.Join(",", settings.Values.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
    }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public SamplingKind Kind => SamplingKind.Over;

    private protected GenerativeContext Context { get; private set; }

    /// <summary>The same method reporting GAN progress to <paramref name="progress"/>.</summary>
    public GenerativeRebalancer WithProgress(Action<GanProgress> progress)
    {
        var copy = (GenerativeRebalancer)MemberwiseClone();
        copy.Context = new GenerativeContext { CheckpointRoot = Context.CheckpointRoot, Progress = progress };
        return copy;
    }

    private protected string SettingsText { get; }

    /// <summary>What the last <see cref="Generators"/> call measured of the condition (conditional methods on
    /// measurable attributes only).</summary>
    private protected IReadOnlyList<AttributeCheck> Checks { get; set; } = [];

    /// <summary>The GAN settings that decide the image shape check.</summary>
    private protected abstract GanSettings Primary { get; }

    /// <summary>Checks, before any training, that the architecture supports the images and that every class
    /// to be filled has images to learn from.</summary>
    public virtual void CheckData(int channels, int height, int width, int numClasses)
    {
        GanArchitectures.Get(Primary.Architecture).Check(new GanShape(channels, height, width, Primary.LatentDim, IsConditional ? numClasses : 0, Primary.MaxChannels));
    }

    private protected virtual bool IsConditional => false;

    /// <inheritdoc />
    public RebalanceResult FitResample(Dataset train, SamplingStrategy strategy, ulong seed, Action<string>? log = null)
    {
        var counts = train.ClassCounts();
        var targets = strategy.Targets(counts, Kind);
        var grow = Enumerable.Range(0, counts.Length).Where(c => targets[c] > counts[c]).ToArray();
        Validate(train, grow);
        if (grow.Length == 0)
        {
            log?.Invoke("every class is at its target; nothing to generate");
            return new RebalanceResult(train);
        }
        var temp = Context.CheckpointRoot is null;
        var root = Context.CheckpointRoot ?? Path.Combine(Path.GetTempPath(), "rebalance-gan-" + Guid.NewGuid().ToString("N"));
        var dir = Path.Combine(root, $"{Name}-seed{seed}-{GanSettings.Digest(Name + ";" + SettingsText + ";" + FolderKey(train, grow) + ";" + GeneratorFile.Fingerprint(train))}");
        Directory.CreateDirectory(dir);
        try
        {
            // The images go straight into one array of the final size: a growing list of bytes held up to twice
            // the images (and as much again in the copies it left behind) while a filter drew 20 times what it keeps.
            var size = train.ImageSize;
            var labels = new int[grow.Sum(c => targets[c] - counts[c])];
            var pixels = new byte[(long)labels.Length * size];
            var notes = new List<RebalanceNote>();
            var generators = Generators(train, grow, seed, dir, log, notes);
            var sampleGen = new Tensors.Generator(seed ^ 0x510e527fade682d1UL);
            var at = 0;
            foreach (var c in grow)
            {
                var n = targets[c] - counts[c];
                var made = Generate(train, c, n, generators.GetValueOrDefault(c), sampleGen, log);
                if (made.Length != (long)n * size)
                {
                    throw new InvalidOperationException($"{Name}: class {c} came back with {made.Length} bytes for {n} images of {size}");
                }
                made.CopyTo(pixels, (long)at * size);
                labels.AsSpan(at, n).Fill(c);
                at += n;
                log?.Invoke($"class {c} ('{train.ClassNames[c]}'): {n} generated images");
            }
            return new RebalanceResult(train.WithSynthetic(pixels, labels)) { ModelFolder = temp ? null : dir, Notes = notes, ConditionCheck = Checks };
        }
        finally
        {
            if (temp)
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    /// <summary>Makes <paramref name="n"/> new images of class <paramref name="c"/>: by default decoded from
    /// N(0, I) draws by <paramref name="g"/>; a method that generates otherwise (DeepSMOTE's latent SMOTE,
    /// GAMO's convex combinations, which has no generator of this kind) overrides it.</summary>
    private protected virtual byte[] Generate(Dataset train, int c, int n, GanGenerator? g, Tensors.Generator gen, Action<string>? log) =>
        GeneratorFile.Generate(g ?? throw new InvalidOperationException($"{Name}: no generator for class {c}"), n, c, gen);

    /// <summary>Trains (or loads from <paramref name="dir"/>) a generator for each class in
    /// <paramref name="classes"/>: files <c>classN.generator.safetensors</c>, or <c>all.generator.safetensors</c>
    /// for a conditional method, plus loss logs and sample grids.</summary>
    public IReadOnlyDictionary<int, GanGenerator> TrainGenerators(Dataset train, IReadOnlyList<int> classes, ulong seed, string dir, Action<string>? log = null)
    {
        Validate(train, classes);
        Directory.CreateDirectory(dir);
        return Generators(train, [.. classes.Distinct().Order()], seed, dir, log, []);
    }

    /// <summary>What, beyond the settings and the training images, decides the models of a fill: a method
    /// whose training depends on which classes are filled (SMate pre-trains on the others) keys its
    /// folder by it, so entries that fill different classes neither collide nor reuse the wrong models.</summary>
    private protected virtual string FolderKey(Dataset train, int[] grow) => "";

    /// <summary>The architecture supports the images, and every class to train for exists and has images.</summary>
    private void Validate(Dataset train, IReadOnlyList<int> classes)
    {
        CheckData(train.Channels, train.Height, train.Width, train.NumClasses);
        var counts = train.ClassCounts();
        foreach (var c in classes)
        {
            if (c < 0 || c >= counts.Length)
            {
                throw new ArgumentException($"{Name}: there is no class {c} (the data has classes 0 to {counts.Length - 1})");
            }
            if (counts[c] == 0)
            {
                throw new ArgumentException($"{Name}: class {c} ('{train.ClassNames[c]}') has no images to train a generator on");
            }
        }
    }

    /// <summary>A trained generator for each class in <paramref name="grow"/> (the same one for several
    /// classes when it is conditional), loaded from <paramref name="dir"/> when a previous run stored it;
    /// empty for a method whose images come from elsewhere (<see cref="Generate"/>).</summary>
    private protected abstract Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes);

    /// <summary>Loads the generator file when it was trained from the same <paramref name="key"/>, or trains
    /// on <paramref name="data"/> and saves it. A file trained from something else is an error rather than
    /// silently reused or overwritten.</summary>
    private protected GanGenerator LoadOrTrain(string dir, string tag, string key, GanSettings s, Func<GanTrainer> create, Dataset data, int? forClass, Action<string>? log, List<RebalanceNote> notes)
    {
        var file = Path.Combine(dir, tag + ".generator.safetensors");
        if (File.Exists(file))
        {
            var stored = GeneratorFile.Load(file);
            if (stored.Key != key)
            {
                throw new ArgumentException($"{file} holds a generator trained with other settings, data or seed; use another output folder or delete the file");
            }
            log?.Invoke($"{tag}: reusing the trained generator {file}");
            notes.AddRange(stored.Events.Select(e => new RebalanceNote(e.Kind, e.Detail, tag, e.Step)));
            return stored.Generator;
        }
        var trainer = create();
        log?.Invoke($"{tag}: training a {s.Architecture} GAN ({s.Loss}) on {data.Count} images for {s.Steps} steps");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        trainer.Train(data, dir, tag, new GanCallbacks { Log = log, Progress = Context.Progress });
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{tag}: trained in {sw.Elapsed.TotalSeconds:F0} s, sample score {trainer.LastScore:G3}{(trainer.Restarts > 0 ? $", {trainer.Restarts} restart(s)" : "")}"));
        GeneratorFile.Save(file, trainer.Sampler, s.Architecture, forClass, data.ClassNames, key, trainer.Events);
        DiscriminatorFile.Save(DiscriminatorFile.PathOf(dir, tag), trainer.D, s.Architecture);
        GanTrainer.DeleteState(dir, tag);
        notes.AddRange(trainer.Events.Select(e => new RebalanceNote(e.Kind, e.Detail, tag, e.Step)));
        return trainer.Sampler;
    }
}
