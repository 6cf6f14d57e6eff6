using System.Globalization;
using Rebalance.Sampling;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Rebalance.Evaluation;

/// <summary>A bad experiment file: the message starts with the file, line and field. It is one line, cut
/// to <see cref="MaxLength"/> characters (a 100,000-character value is not repeated back in full).</summary>
public sealed class ExperimentException(string message) : Exception(OneLine(message))
{
    /// <summary>Longest message kept.</summary>
    public const int MaxLength = 600;

    private static string OneLine(string message)
    {
        var line = message.ReplaceLineEndings(" ");
        return line.Length <= MaxLength ? line : line[..(MaxLength - 1)] + "…";
    }
}

/// <summary>One method of an experiment: a label unique in the experiment, the method, its strategy and settings.</summary>
public sealed record MethodSpec(string Label, string Method, SamplingStrategy Strategy, MethodSettings Settings)
{
    /// <summary>Whether the images the method adds are judged (<c>quality: true|false</c>); null: judged when
    /// the method is generative.</summary>
    public bool? Quality { get; init; }

    /// <summary>Whether a classifier is also trained on the method's generated images alone (<c>cas: true</c>).</summary>
    public bool Cas { get; init; }

    /// <summary>The method's hyper-parameter search (<c>search:</c>), or null. Until the search has chosen,
    /// <see cref="Settings"/> holds the entry's fixed settings only; the runner merges the choice in (<see cref="Evaluation.Search.WithSettings"/>).</summary>
    public SearchSpec? Search { get; init; }

    /// <summary>Whether the method's added images are judged in this experiment.</summary>
    public bool Judged => Quality ?? Generative.Methods.GenerativeMethods.IsKnown(Method);

    /// <summary>For <c>auto</c>: the candidates screened and the screening budget; null for other methods.</summary>
    public AutoSpec? Auto { get; init; }

    /// <summary>The entry's own <c>train_on</c>, <c>schedule</c> and <c>synthetic_epochs</c> (over the
    /// classifier's), so one experiment can compare training on generated images alone or first; null where
    /// the entry does not set them.</summary>
    public (TrainOn? TrainOn, TrainSchedule? Schedule, int? SyntheticEpochs) TrainingOverride { get; init; }

    /// <summary>How this entry's classifier trains: <paramref name="classifier"/> with the entry's own
    /// <see cref="TrainingOverride"/> applied.</summary>
    public TrainSettings TrainingFor(TrainSettings classifier) => classifier with
    {
        TrainOn = TrainingOverride.TrainOn ?? classifier.TrainOn,
        Schedule = TrainingOverride.Schedule ?? classifier.Schedule,
        SyntheticEpochs = TrainingOverride.SyntheticEpochs ?? classifier.SyntheticEpochs,
    };

    /// <summary>The settings as "k=5, kind=2" for reports (empty when none).</summary>
    public string SettingsText => Auto is { } a ? a.SettingsText : string.Join(", ", Settings.Values.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}").Concat(OverrideText()));

    private IEnumerable<string> OverrideText()
    {
        if (TrainingOverride.TrainOn is { } on)
        {
            yield return "train_on=" + (on == TrainOn.Synthetic ? "synthetic" : "real");
        }
        if (TrainingOverride.Schedule is { } schedule)
        {
            yield return "schedule=" + (schedule == TrainSchedule.SyntheticThenReal ? "synthetic-then-real" : "together");
        }
        if (TrainingOverride.SyntheticEpochs is { } epochs)
        {
            yield return "synthetic_epochs=" + epochs.ToString(CultureInfo.InvariantCulture);
        }
    }
}

/// <summary>
/// An experiment: which data, which imbalance, which methods, how the judging classifier is trained,
/// which seeds, and where results go. Defaults live here, once; a file holds overrides only.
/// </summary>
public sealed record Experiment
{
    /// <summary>Name used in reports (default: the file name without extension).</summary>
    public string Name { get; init; } = "experiment";

    /// <summary>A known dataset name or a folder.</summary>
    public string Dataset { get; init; } = "fashion-mnist";

    /// <summary>Imbalance protocol spec for the training split.</summary>
    public string Protocol { get; init; } = "none";

    /// <summary>Stratified fraction of the imbalanced training split held out for model selection.</summary>
    public double Validation { get; init; } = 0.1;

    /// <summary>Fraction held out as the test set when the dataset has no test split of its own.</summary>
    public double TestSplit { get; init; } = 0.2;

    /// <summary>Default sampling strategy of the methods.</summary>
    public string Strategy { get; init; } = "auto";

    /// <summary>Seeds; each (method, seed) pair is one run.</summary>
    public IReadOnlyList<ulong> Seeds { get; init; } = [0, 1, 2];

    /// <summary>The file's seeds when <see cref="Seeds"/> is a share of them (<c>rebalance run --seeds</c>);
    /// null when every seed runs. What belongs to "the first seed" (the t-SNE maps) stays with the file's.</summary>
    public IReadOnlyList<ulong>? ShareOf { get; init; }

    /// <summary>Output folder.</summary>
    public string Output { get; init; } = "runs/experiment";

    /// <summary>Classifier name (<see cref="Classifiers.Names"/>).</summary>
    public string Classifier { get; init; } = "simple-cnn";

    /// <summary>Classifier training settings.</summary>
    public TrainSettings Training { get; init; } = new();

    /// <summary>The methods to compare.</summary>
    public IReadOnlyList<MethodSpec> Methods { get; init; } = [];

    /// <summary>How added images are judged (the <c>quality:</c> block).</summary>
    public QualitySettings Quality { get; init; } = new();

    /// <summary>The file it came from, for messages (null when built in code).</summary>
    public string? Source { get; init; }

    /// <summary>The YAML it was parsed from (null when built in code): kept in the output folder, so that
    /// <c>rebalance report DIR</c> can rebuild the summaries from the runs alone.</summary>
    public string? Text { get; init; }

    private static readonly string[] TopKeys = ["name", "dataset", "protocol", "validation", "test_split", "strategy", "seeds", "output", "classifier", "methods", "quality"];
    private static readonly string[] QualityKeys = ["per_class", "tsne_per_class", "cas_per_class", "judge_epochs", "judge_max_images", "judge_seed"];
    private static readonly string[] ClassifierKeys = ["name", "epochs", "batch_size", "optimizer", "lr", "weight_decay", "momentum", "augment", "patience", "epoch_size", "train_on", "schedule", "synthetic_epochs"];

    /// <summary>Largest experiment file read (a real one is a few kilobytes).</summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>Deepest nesting of lists and mappings accepted (a real file nests three levels).</summary>
    public const int MaxDepth = 16;

    /// <summary>Reads and validates an experiment file. Relative output folders are taken from the current directory.</summary>
    public static Experiment Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ExperimentException($"{path}: no such experiment file");
        }
        byte[] bytes;
        try
        {
            var length = new FileInfo(path).Length;
            if (length > MaxFileBytes)
            {
                throw new ExperimentException($"{path}: {length:N0} bytes is too large for an experiment file (at most {MaxFileBytes:N0})");
            }
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ExperimentException($"{path}: cannot be read: {e.Message}");
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses the bytes of an experiment file, which must be UTF-8 text.</summary>
    public static Experiment Parse(byte[] bytes, string source)
    {
        var start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        string text;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, start, bytes.Length - start);
        }
        catch (System.Text.DecoderFallbackException bad)
        {
            var at = start + Math.Max(0, bad.Index);
            var before = bytes.AsSpan(0, Math.Min(at, bytes.Length));
            var line = before.Count((byte)'\n') + 1;
            var column = before.Length - (before.LastIndexOf((byte)'\n') + 1) + 1;
            throw new ExperimentException($"{source}:{line}:{column}: byte 0x{bytes[Math.Min(at, bytes.Length - 1)]:X2} is not UTF-8 text; save the file as UTF-8");
        }
        return Parse(text, source);
    }

    /// <summary>Parses experiment YAML; <paramref name="source"/> names it in messages. Any malformed input
    /// gives an <see cref="ExperimentException"/> naming the line and column, never another exception.</summary>
    public static Experiment Parse(string yaml, string source)
    {
        var root = LoadRoot(yaml, source);
        var r = new Reader(source);
        var map = r.Map(root, "", TopKeys);
        var stem = Path.GetFileNameWithoutExtension(source);
        var name = r.Text(map, "name") ?? stem;
        var e = new Experiment { Name = name, Output = Path.Combine("runs", name), Source = source, Text = yaml };
        e = e with
        {
            Dataset = r.Text(map, "dataset") ?? e.Dataset,
            Protocol = r.Text(map, "protocol") ?? e.Protocol,
            Validation = r.Number(map, "validation", 0, 0.9) ?? e.Validation,
            TestSplit = r.Number(map, "test_split", 0.01, 0.9) ?? e.TestSplit,
            Strategy = r.Text(map, "strategy") ?? e.Strategy,
            Output = r.Text(map, "output") ?? e.Output,
        };
        if (map.TryGetValue("seeds", out var seedsNode))
        {
            var seeds = r.Sequence(seedsNode, "seeds").Select((n, i) => r.Unsigned(n, $"seeds[{i}]")).ToList();
            if (seeds.Count == 0)
            {
                throw r.Error(seedsNode, "seeds", "needs at least one seed");
            }
            if (seeds.Distinct().Count() != seeds.Count)
            {
                throw r.Error(seedsNode, "seeds", "lists a seed twice");
            }
            e = e with { Seeds = seeds };
        }
        r.Check("protocol", map, () => Data.Protocols.ImbalanceProtocol.Parse(e.Protocol));
        r.Check("strategy", map, () => SamplingStrategy.Parse(e.Strategy));
        if (map.TryGetValue("classifier", out var clsNode))
        {
            e = ReadClassifier(r, clsNode, e);
        }
        if (map.TryGetValue("quality", out var qNode))
        {
            var q = r.Map(qNode, "quality", QualityKeys);
            var d = e.Quality;
            e = e with
            {
                Quality = new QualitySettings
                {
                    PerClass = (int?)r.Number(q, "per_class", 2, 1_000_000, "quality.", integer: true) ?? d.PerClass,
                    TsnePerClass = (int?)r.Number(q, "tsne_per_class", 0, 1000, "quality.", integer: true) ?? d.TsnePerClass,
                    CasPerClass = (int?)r.Number(q, "cas_per_class", 0, 1_000_000, "quality.", integer: true) ?? d.CasPerClass,
                    JudgeEpochs = (int?)r.Number(q, "judge_epochs", 1, 1000, "quality.", integer: true) ?? d.JudgeEpochs,
                    JudgeMaxImages = (int?)r.Number(q, "judge_max_images", 0, int.MaxValue, "quality.", integer: true) ?? d.JudgeMaxImages,
                    JudgeSeed = q.TryGetValue("judge_seed", out var js) ? r.Unsigned(js, "quality.judge_seed") : d.JudgeSeed,
                },
            };
        }
        if (!map.TryGetValue("methods", out var methodsNode))
        {
            throw new ExperimentException($"{source}: methods: missing; list at least one method (known: {string.Join(", ", MethodCatalog.Names)})");
        }
        var methods = new List<MethodSpec>();
        var items = r.Sequence(methodsNode, "methods");
        if (items.Count == 0)
        {
            throw r.Error(methodsNode, "methods", "list at least one method");
        }
        for (var i = 0; i < items.Count; i++)
        {
            var m = ReadMethod(r, items[i], $"methods[{i}]", e.Strategy);
            if (methods.Any(x => x.Label == m.Label))
            {
                throw r.Error(items[i], $"methods[{i}]", $"the label '{m.Label}' is used twice; give one of them a 'label'");
            }
            if (m.Auto is not null && e.Validation <= 0)
            {
                throw r.Error(items[i], $"methods[{i}]", "auto screens its candidates on the validation split, and 'validation' is 0; set validation: 0.1, say");
            }
            // An entry's own schedule combined with the classifier's must still make sense.
            var own = m.TrainingOverride;
            if (own.TrainOn is not null || own.Schedule is not null || own.SyntheticEpochs is not null)
            {
                var t = m.TrainingFor(e.Training);
                if (t.TrainOn == TrainOn.Synthetic && t.Schedule == TrainSchedule.SyntheticThenReal)
                {
                    throw r.Error(items[i], $"methods[{i}]", "train_on: synthetic with schedule: synthetic-then-real (one of them from the classifier): the schedule ends on the real images, so the two do not go together");
                }
                if (own.SyntheticEpochs is not null && t.Schedule != TrainSchedule.SyntheticThenReal)
                {
                    throw r.Error(items[i], $"methods[{i}].synthetic_epochs", "only used with schedule: synthetic-then-real (on the entry or the classifier)");
                }
            }
            if (m.Search is { } search)
            {
                if (e.Validation <= 0)
                {
                    throw r.Error(items[i], $"methods[{i}].search", "trials are scored on the validation split, and 'validation' is 0; set validation: 0.1, say");
                }
                if (search.Seeds > e.Seeds.Count)
                {
                    throw r.Error(items[i], $"methods[{i}].search.seeds", $"{search.Seeds} seeds asked for, the file has {e.Seeds.Count}");
                }
            }
            methods.Add(m);
        }
        return e with { Methods = methods };
    }

    /// <summary>Checks the raw text, walks the YAML events once (no recursion, so no depth can overflow the
    /// stack) to bound the nesting and count documents, then builds the tree.</summary>
    private static YamlMappingNode LoadRoot(string yaml, string source)
    {
        if (yaml.Length > MaxFileBytes)
        {
            throw new ExperimentException($"{source}: {yaml.Length:N0} characters is too large for an experiment file (at most {MaxFileBytes:N0})");
        }
        var (line, column) = (1, 1);
        foreach (var ch in yaml)
        {
            if (char.IsControl(ch) && ch is not ('\t' or '\n' or '\r'))
            {
                throw new ExperimentException($"{source}:{line}:{column}: control character U+{(int)ch:X4}; an experiment file is plain text");
            }
            if (char.IsSurrogate(ch) || ch is '\uFFFE' or '\uFFFF')
            {
                throw new ExperimentException($"{source}:{line}:{column}: character U+{(int)ch:X4} is not allowed in an experiment file");
            }
            (line, column) = ch == '\n' ? (line + 1, 1) : (line, column + 1);
        }
        Mark position = Mark.Empty;
        try
        {
            var parser = new Parser(new StringReader(yaml));
            var depth = 0;
            var documents = 0;
            while (parser.MoveNext())
            {
                var ev = parser.Current!;
                position = ev.Start;
                switch (ev)
                {
                    case YamlDotNet.Core.Events.DocumentStart:
                        if (++documents > 1)
                        {
                            throw new ExperimentException($"{source}:{ev.Start.Line}:{ev.Start.Column}: a second YAML document ('---'); an experiment file holds one");
                        }
                        break;
                    case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                        if (++depth > MaxDepth)
                        {
                            throw new ExperimentException($"{source}:{ev.Start.Line}:{ev.Start.Column}: lists and mappings nested more than {MaxDepth} deep");
                        }
                        break;
                    case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                        depth--;
                        break;
                    case YamlDotNet.Core.Events.AnchorAlias alias:
                        throw new ExperimentException($"{source}:{ev.Start.Line}:{ev.Start.Column}: alias '*{alias.Value}': anchors and aliases are not used in experiment files; write the value out");
                }
            }
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            {
                var at = stream.Documents.Count == 0 ? Mark.Empty : stream.Documents[0].RootNode.Start;
                throw new ExperimentException($"{source}:{Math.Max(1, at.Line)}:{Math.Max(1, at.Column)}: expected a mapping of settings (dataset, protocol, methods, ...)");
            }
            return root;
        }
        catch (YamlException bad)
        {
            var problem = (bad.InnerException?.Message ?? bad.Message).ReplaceLineEndings(" ");
            throw new ExperimentException($"{source}:{Math.Max(1, bad.Start.Line)}:{Math.Max(1, bad.Start.Column)}: not valid YAML: {problem}");
        }
        catch (Exception bad) when (bad is not ExperimentException and not OutOfMemoryException)
        {
            // YamlDotNet's scanner throws more than YamlException on some malformed input (an
            // InvalidOperationException for some unclosed flow collections): still the file's fault.
            throw new ExperimentException($"{source}:{Math.Max(1, position.Line)}:{Math.Max(1, position.Column)}: not valid YAML near here ({bad.Message.ReplaceLineEndings(" ")})");
        }
    }

    private static Experiment ReadClassifier(Reader r, YamlNode node, Experiment e)
    {
        if (node is YamlScalarNode)
        {
            var n = r.Text(node, "classifier")!;
            r.Check(node, "classifier", () => CheckClassifier(n));
            return e with { Classifier = n };
        }
        var map = r.Map(node, "classifier", ClassifierKeys);
        var t = e.Training;
        var name = r.Text(map, "name", "classifier.") ?? e.Classifier;
        if (map.TryGetValue("name", out var nameNode))
        {
            r.Check(nameNode, "classifier.name", () => CheckClassifier(name));
        }
        t = t with
        {
            Epochs = (int?)r.Number(map, "epochs", 1, 10000, "classifier.", integer: true) ?? t.Epochs,
            BatchSize = (int?)r.Number(map, "batch_size", 2, 65536, "classifier.", integer: true) ?? t.BatchSize,
            Optimizer = r.Choice(map, "optimizer", ["adam", "adamw", "sgd"], "classifier.") ?? t.Optimizer,
            LearningRate = r.Number(map, "lr", 1e-9, 10, "classifier.") ?? t.LearningRate,
            WeightDecay = r.Number(map, "weight_decay", 0, 1, "classifier.") ?? t.WeightDecay,
            Momentum = r.Number(map, "momentum", 0, 0.999, "classifier.") ?? t.Momentum,
            Patience = (int?)r.Number(map, "patience", 0, 10000, "classifier.", integer: true) ?? t.Patience,
            EpochSize = r.Choice(map, "epoch_size", ["resampled", "original"], "classifier.") switch
            {
                "original" => EpochSize.Original,
                "resampled" => EpochSize.Resampled,
                _ => t.EpochSize,
            },
            TrainOn = r.Choice(map, "train_on", ["real", "synthetic"], "classifier.") switch
            {
                "synthetic" => TrainOn.Synthetic,
                "real" => TrainOn.Real,
                _ => t.TrainOn,
            },
            Schedule = r.Choice(map, "schedule", ["together", "synthetic-then-real"], "classifier.") switch
            {
                "synthetic-then-real" => TrainSchedule.SyntheticThenReal,
                "together" => TrainSchedule.Together,
                _ => t.Schedule,
            },
            SyntheticEpochs = (int?)r.Number(map, "synthetic_epochs", 1, 10000, "classifier.", integer: true) ?? t.SyntheticEpochs,
        };
        if (t.TrainOn == TrainOn.Synthetic && t.Schedule == TrainSchedule.SyntheticThenReal)
        {
            r.Check(map["schedule"], "classifier.schedule", () => throw new ArgumentException("synthetic-then-real ends on the real images, so it does not go with train_on: synthetic"));
        }
        if (t.SyntheticEpochs > 0 && t.Schedule != TrainSchedule.SyntheticThenReal)
        {
            r.Check(map["synthetic_epochs"], "classifier.synthetic_epochs", () => throw new ArgumentException("only used with schedule: synthetic-then-real"));
        }
        if (map.TryGetValue("augment", out var aug))
        {
            var names = r.Sequence(aug, "classifier.augment").Select((n, i) => r.Text(n, $"classifier.augment[{i}]")!).ToList();
            r.Check(aug, "classifier.augment", () => Augmentations.Parse(names));
            t = t with { Augment = names };
        }
        return e with { Classifier = name, Training = t };
    }

    private static void CheckClassifier(string name)
    {
        if (!Classifiers.Names.Contains(name))
        {
            throw new ArgumentException($"unknown classifier '{name}' (known: {string.Join(", ", Classifiers.Names)})");
        }
    }

    private static MethodSpec ReadMethod(Reader r, YamlNode node, string field, string defaultStrategy)
    {
        string method;
        string? label = null;
        var strategy = defaultStrategy;
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        bool? quality = null;
        var cas = false;
        YamlNode? searchNode = null;
        YamlNode nameNode = node;
        if (node is YamlScalarNode)
        {
            method = r.Text(node, field)!;
        }
        else
        {
            var map = r.Map(node, field, null);
            if (!map.TryGetValue("name", out var n))
            {
                throw r.Error(node, field, $"a method needs a 'name' (known: {string.Join(", ", MethodCatalog.Names)})");
            }
            nameNode = n;
            method = r.Text(n, field + ".name")!;
            label = r.Text(map, "label", field + ".");
            strategy = r.Text(map, "strategy", field + ".") ?? strategy;
            if (map.TryGetValue("strategy", out var sNode))
            {
                r.Check(sNode, field + ".strategy", () => SamplingStrategy.Parse(strategy));
            }
            quality = r.Flag(map, "quality", field + ".");
            cas = r.Flag(map, "cas", field + ".") ?? false;
            map.TryGetValue("search", out searchNode);
            if (method == AutoSpec.Name)
            {
                return ReadAuto(r, node, field, label, strategy);
            }
            foreach (var (key, value) in map)
            {
                if (key is "name" or "label" or "strategy" or "quality" or "cas" or "search" or "train_on" or "schedule" or "synthetic_epochs")
                {
                    continue;
                }
                settings[key] = value is YamlSequenceNode seq
                    ? string.Join(",", seq.Children.Select((c, i) => r.Text(c, $"{field}.{key}[{i}]")))
                    : r.Text(value, $"{field}.{key}")!;
            }
        }
        if (method == AutoSpec.Name)
        {
            return ReadAuto(r, node, field, label, strategy);
        }
        if (!MethodCatalog.IsKnown(method))
        {
            throw r.Error(nameNode, field + ".name", $"unknown method '{method}' (known: {string.Join(", ", MethodCatalog.Names)}, auto)");
        }
        var ms = new MethodSettings(method, settings);
        try
        {
            MethodCatalog.Create(method, ms);
        }
        catch (SettingException e)
        {
            var at = node is YamlMappingNode m && m.Children.Keys.FirstOrDefault(k => k is YamlScalarNode s && s.Value == e.Key) is { } keyNode ? keyNode : node;
            throw r.Error(at, $"{field}.{e.Key}", e.Message);
        }
        catch (ArgumentException e)
        {
            // A setting whose value the method itself rejects (an unknown augmentation name, say).
            throw r.Error(node, field, e.Message);
        }
        if (cas && quality == false)
        {
            throw r.Error(node, field + ".cas", "train-on-synthetic is part of judging the images, which 'quality: false' turns off");
        }
        var search = searchNode is null ? null : ReadSearch(r, searchNode, field + ".search", method, settings);
        var training = node is YamlMappingNode entry ? ReadTrainingOverride(r, r.Map(entry, field, null), field) : default;
        if (search is not null && (training.TrainOn is not null || training.Schedule is not null || training.SyntheticEpochs is not null))
        {
            throw r.Error(node, field + ".search", "a search's trials train the classifier as the experiment's 'classifier' says; set train_on and schedule there, not on a searched entry");
        }
        return new MethodSpec(label ?? method, method, SamplingStrategy.Parse(strategy), new MethodSettings(method, settings)) { Quality = quality ?? (cas ? true : null), Cas = cas, Search = search, TrainingOverride = training };
    }

    /// <summary>An entry's own <c>train_on</c>, <c>schedule</c> and <c>synthetic_epochs</c>.</summary>
    private static (TrainOn? TrainOn, TrainSchedule? Schedule, int? SyntheticEpochs) ReadTrainingOverride(Reader r, Dictionary<string, YamlNode> map, string field)
    {
        TrainOn? on = r.Choice(map, "train_on", ["real", "synthetic"], field + ".") switch
        {
            "synthetic" => TrainOn.Synthetic,
            "real" => TrainOn.Real,
            _ => null,
        };
        TrainSchedule? schedule = r.Choice(map, "schedule", ["together", "synthetic-then-real"], field + ".") switch
        {
            "synthetic-then-real" => TrainSchedule.SyntheticThenReal,
            "together" => TrainSchedule.Together,
            _ => null,
        };
        var epochs = (int?)r.Number(map, "synthetic_epochs", 1, 10000, field + ".", integer: true);
        if (on == TrainOn.Synthetic && schedule == TrainSchedule.SyntheticThenReal)
        {
            r.Check(map["schedule"], field + ".schedule", () => throw new ArgumentException("synthetic-then-real ends on the real images, so it does not go with train_on: synthetic"));
        }
        return (on, schedule, epochs);
    }

    /// <summary>Reads <c>auto</c>: its candidates (method entries; by default every method, with the
    /// experiment's strategy) and the screening budget.</summary>
    private static MethodSpec ReadAuto(Reader r, YamlNode node, string field, string? label, string strategy)
    {
        var candidates = new List<MethodSpec>();
        var budget = AutoSpec.DefaultBudget;
        var all = true;
        if (node is YamlMappingNode)
        {
            var map = r.Map(node, field, ["name", "label", "strategy", "candidates", "budget"]);
            budget = r.Number(map, "budget", 0.01, 1, field + ".") ?? budget;
            if (map.TryGetValue("candidates", out var list))
            {
                all = false;
                var items = r.Sequence(list, field + ".candidates");
                if (items.Count < 2)
                {
                    throw r.Error(list, field + ".candidates", "list at least two methods to choose from");
                }
                for (var i = 0; i < items.Count; i++)
                {
                    var item = items[i];
                    var c = ReadMethod(r, item, $"{field}.candidates[{i}]", strategy);
                    if (c.Auto is not null || c.Search is not null)
                    {
                        throw r.Error(item, $"{field}.candidates[{i}]", "a candidate of auto is a plain method entry (no auto, no search)");
                    }
                    if (candidates.Any(x => x.Label == c.Label))
                    {
                        throw r.Error(item, $"{field}.candidates[{i}]", $"the label '{c.Label}' is used twice; give one of them a 'label'");
                    }
                    candidates.Add(c);
                }
            }
        }
        if (all)
        {
            var parsed = SamplingStrategy.Parse(strategy);
            candidates = [.. MethodCatalog.Names.Select(n => new MethodSpec(n, n, parsed, new MethodSettings(n)))];
        }
        return new MethodSpec(label ?? AutoSpec.Name, AutoSpec.Name, SamplingStrategy.Parse(strategy), new MethodSettings(AutoSpec.Name))
        {
            Auto = new AutoSpec(candidates, budget, all),
            Quality = false,
        };
    }

    /// <summary>Reads a method's <c>search:</c> block; every listed value and range end is checked by
    /// building the method with it, so a bad value fails here, before any training.</summary>
    private static SearchSpec ReadSearch(Reader r, YamlNode node, string field, string method, Dictionary<string, string> fixedSettings)
    {
        var map = r.Map(node, field, null);
        var dims = new List<SearchDimension>();
        foreach (var (key, value) in map)
        {
            if (SearchSpec.Reserved.Contains(key))
            {
                continue;
            }
            var path = $"{field}.{key}";
            if (fixedSettings.ContainsKey(key))
            {
                throw r.Error(value, path, $"'{key}' is also set in the method entry; set it in one place");
            }
            SearchDimension d;
            if (value is YamlSequenceNode)
            {
                var values = r.Sequence(value, path).Select((v, i) => r.Text(v, $"{path}[{i}]")!).ToList();
                if (values.Count == 0 || values.Distinct(StringComparer.Ordinal).Count() != values.Count)
                {
                    throw r.Error(value, path, "expected a list of distinct values");
                }
                d = new SearchDimension(key, values);
            }
            else if (value is YamlMappingNode)
            {
                var range = r.Map(value, path, ["min", "max", "log", "int"]);
                var min = r.Number(range, "min", double.MinValue, double.MaxValue, path + ".") ?? throw r.Error(value, path, "a range needs 'min' and 'max'");
                var max = r.Number(range, "max", double.MinValue, double.MaxValue, path + ".") ?? throw r.Error(value, path, "a range needs 'min' and 'max'");
                var log = r.Flag(range, "log", path + ".") ?? false;
                if (!(max > min) || (log && min <= 0))
                {
                    throw r.Error(value, path, log ? "a log range needs 0 < min < max" : "a range needs min < max");
                }
                d = new SearchDimension(key, null, min, max, log, r.Flag(range, "int", path + ".") ?? false);
            }
            else
            {
                throw r.Error(value, path, "expected a list of values ([a, b, c]) or a range ({min: A, max: B, log: true})");
            }
            // A range is probed at its ends and inside (a setting that takes integers needs int: true).
            var probes = d.Values ?? [d.Format(d.Min), d.Format(d.Max), d.Format(d.Log ? Math.Sqrt(d.Min * d.Max) * 1.037 : d.Min + (0.37 * (d.Max - d.Min)))];
            foreach (var v in probes)
            {
                var trial = new Dictionary<string, string>(fixedSettings, StringComparer.Ordinal) { [key] = v };
                try
                {
                    MethodCatalog.Create(method, new MethodSettings(method, trial));
                }
                catch (ArgumentException e)
                {
                    throw r.Error(value, path, $"value '{v}': {e.Message}");
                }
            }
            dims.Add(d);
        }
        if (dims.Count == 0)
        {
            throw r.Error(node, field, "name at least one setting to search, with a list of values or a range");
        }
        var strategy = r.Choice(map, "strategy", [.. SearchSpec.Strategies], field + ".") ?? (dims.All(d => !d.IsRange) && !map.ContainsKey("trials") ? "grid" : "random");
        var trials = (int?)r.Number(map, "trials", 1, 10_000, field + ".", integer: true);
        var eta = (int?)r.Number(map, "eta", 2, 100, field + ".", integer: true) ?? 3;
        var seeds = (int?)r.Number(map, "seeds", 1, 1000, field + ".", integer: true) ?? 1;
        if (strategy == "grid")
        {
            if (dims.FirstOrDefault(d => d.IsRange) is { } range)
            {
                throw r.Error(map[range.Key], $"{field}.{range.Key}", "a grid needs lists of values; use strategy: random or halving for a range");
            }
            var size = dims.Aggregate(1L, (n, d) => Math.Min(long.MaxValue / 2, n * d.Values!.Count));
            if (size > SearchSpec.MaxGrid)
            {
                throw r.Error(node, field, $"the grid has {size:N0} combinations (at most {SearchSpec.MaxGrid:N0}); use strategy: random with 'trials'");
            }
            trials = (int)size;
        }
        else if (trials is null)
        {
            throw r.Error(node, field, $"strategy {strategy} needs 'trials' (how many settings to draw)");
        }
        if (strategy == "halving" && dims.FirstOrDefault(d => SearchSpec.BudgetKeys.Contains(d.Key)) is { } budget)
        {
            throw r.Error(map[budget.Key], $"{field}.{budget.Key}", "successive halving scales this setting as the budget; search it with strategy: random or grid");
        }
        return new SearchSpec(dims, strategy, trials!.Value, eta, seeds);
    }

    /// <summary>Walks YAML nodes and turns every problem into one line with file, line, column and field.</summary>
    private sealed class Reader(string source)
    {
        public ExperimentException Error(YamlNode node, string field, string problem) =>
            new($"{source}:{node.Start.Line}:{node.Start.Column}: {field}: {problem}");

        public Dictionary<string, YamlNode> Map(YamlNode node, string field, string[]? allowed)
        {
            if (node is not YamlMappingNode map)
            {
                throw Error(node, field == "" ? "(top level)" : field, "expected a mapping of keys to values");
            }
            var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var (k, v) in map.Children)
            {
                var key = k is YamlScalarNode s ? s.Value ?? "" : throw Error(k, field, "keys must be plain names");
                var path = field == "" ? key : $"{field}.{key}";
                if (allowed is not null && !allowed.Contains(key))
                {
                    throw Error(k, path, $"unknown key (known: {string.Join(", ", allowed)})");
                }
                if (!result.TryAdd(key, v))
                {
                    throw Error(k, path, "given twice");
                }
            }
            return result;
        }

        public IReadOnlyList<YamlNode> Sequence(YamlNode node, string field) =>
            node is YamlSequenceNode seq ? [.. seq.Children] : throw Error(node, field, "expected a list");

        public string? Text(YamlNode node, string field)
        {
            if (node is not YamlScalarNode s)
            {
                throw Error(node, field, "expected a single value, not a list or mapping");
            }
            var v = s.Value ?? "";
            if (v.FirstOrDefault(char.IsControl) is var bad && bad != '\0' || v.Contains('\0', StringComparison.Ordinal))
            {
                throw Error(node, field, $"the value holds a control character (U+{(int)v.First(char.IsControl):X4}); write plain text");
            }
            return v;
        }

        public string? Text(Dictionary<string, YamlNode> map, string key, string prefix = "") =>
            map.TryGetValue(key, out var n) ? Text(n, prefix + key) : null;

        public string? Choice(Dictionary<string, YamlNode> map, string key, string[] allowed, string prefix)
        {
            var v = Text(map, key, prefix);
            if (v is not null && !allowed.Contains(v))
            {
                throw Error(map[key], prefix + key, $"expected one of {string.Join(", ", allowed)}, got '{v}'");
            }
            return v;
        }

        public double? Number(Dictionary<string, YamlNode> map, string key, double min, double max, string prefix = "", bool integer = false)
        {
            if (!map.TryGetValue(key, out var node))
            {
                return null;
            }
            var text = Text(node, prefix + key)!;
            var kind = integer ? "an integer" : "a number";
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || (integer && v != Math.Floor(v)))
            {
                throw Error(node, prefix + key, $"expected {kind}, got '{text}'");
            }
            if (v < min || v > max)
            {
                throw Error(node, prefix + key, $"expected {kind} from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got {text}");
            }
            return v;
        }

        public bool? Flag(Dictionary<string, YamlNode> map, string key, string prefix = "")
        {
            var text = Text(map, key, prefix);
            return text switch
            {
                null => null,
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                _ => throw Error(map[key], prefix + key, $"expected true or false, got '{text}'"),
            };
        }

        public ulong Unsigned(YamlNode node, string field)
        {
            var text = Text(node, field)!;
            return ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
                ? v
                : throw Error(node, field, $"expected a non-negative integer, got '{text}'");
        }

        public void Check(string key, Dictionary<string, YamlNode> map, Action validate)
        {
            if (map.TryGetValue(key, out var node))
            {
                Check(node, key, validate);
            }
        }

        public void Check(YamlNode node, string field, Action validate)
        {
            try
            {
                validate();
            }
            catch (Exception e) when (e is ArgumentException or Data.DataException)
            {
                throw Error(node, field, e.Message);
            }
        }
    }
}

/// <summary>How the images a method adds are judged in <c>rebalance run</c> (the experiment's <c>quality:</c> block).</summary>
public sealed record QualitySettings
{
    /// <summary>At most this many added images per class are judged (a seeded sample); the SCDL study judged 1,000.</summary>
    public int PerClass { get; init; } = 1000;

    /// <summary>Points per class and side in the t-SNE map (0: no map).</summary>
    public int TsnePerClass { get; init; } = 100;

    /// <summary>Generated images per class for train-on-synthetic; 0: as many as the class has in the
    /// dataset's training split before the protocol.</summary>
    public int CasPerClass { get; init; }

    /// <summary>Epochs of the judge's training (see <see cref="Quality.JudgeSettings"/>).</summary>
    public int JudgeEpochs { get; init; } = new Quality.JudgeSettings().Epochs;

    /// <summary>Train the judge on at most this many images (0: the whole training split; tests use fewer).</summary>
    public int JudgeMaxImages { get; init; }

    /// <summary>Seed of the judge; one judge judges every method and seed of an experiment.</summary>
    public ulong JudgeSeed { get; init; }

    /// <summary>The judge's training settings.</summary>
    public Quality.JudgeSettings Judge => new() { Epochs = JudgeEpochs, MaxImages = JudgeMaxImages };

    /// <summary>What decides the quality figures, for the digest that says whether stored ones can be reused.</summary>
    public string Canonical => string.Join(";", PerClass, TsnePerClass, CasPerClass, JudgeEpochs, JudgeMaxImages, JudgeSeed);
}
