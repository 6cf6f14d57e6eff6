using System.Globalization;
using System.Text;
using Rebalance.Data;
using Rebalance.Nn;

namespace Rebalance.Generative.Training;

/// <summary>The resumable state the GAN trainer and the autoencoder family's trainers share: a checkpoint with the trainer's
/// modules, optimisers and random state, plus its key, step and the number of rows of its loss log, which
/// is written first so that a crash between the two leaves a log a resume cuts back.</summary>
internal static class ResumableState
{
    /// <summary>Writes the loss log, then <paramref name="c"/> with its metadata under <paramref name="prefix"/>;
    /// a tensor holding NaN or Inf is an error instead.</summary>
    public static void Save(Checkpoint c, string path, string csvFile, IReadOnlyList<string> csv, string prefix, string key, int step)
    {
        if (c.NonFiniteTensor() is { } bad)
        {
            throw new InvalidOperationException($"{path}: non-finite values in '{bad}' at step {step}; lower 'lr'");
        }
        c.Metadata[$"{prefix}.key"] = key;
        c.Metadata[$"{prefix}.step"] = step.ToString(CultureInfo.InvariantCulture);
        c.Metadata[$"{prefix}.csv_rows"] = csv.Count.ToString(CultureInfo.InvariantCulture);
        AtomicFile.Write(csvFile, Encoding.UTF8.GetBytes(string.Join("\n", csv) + "\n"));
        c.Save(path);
    }

    /// <summary>The stored state when it was saved with <paramref name="key"/> (null, with a log line, when
    /// it is unreadable or from other settings); <paramref name="csv"/> is refilled with the rows it counted.</summary>
    public static Checkpoint? TryLoad(string path, string csvFile, string prefix, string key, string header, List<string> csv, Action<string>? log, out int step)
    {
        step = 0;
        if (Open(path, prefix, key, log) is not { } c)
        {
            return null;
        }
        step = int.Parse(c.Metadata[$"{prefix}.step"], CultureInfo.InvariantCulture);
        RefillLog(c, csvFile, prefix, header, csv);
        return c;
    }

    /// <summary>The checkpoint at <paramref name="path"/> when it is readable and was saved with
    /// <paramref name="key"/> under <paramref name="prefix"/>; else null, with a log line saying why.</summary>
    public static Checkpoint? Open(string path, string prefix, string key, Action<string>? log)
    {
        Checkpoint c;
        try
        {
            c = Checkpoint.Load(path);
        }
        catch (Exception e) when (e is IOException or CheckpointException or InvalidDataException or FormatException)
        {
            log?.Invoke($"{path}: not a readable training state ({e.Message}); starting over");
            return null;
        }
        if (c.Metadata.GetValueOrDefault($"{prefix}.key") != key)
        {
            log?.Invoke($"{path}: saved by a run with other settings or data; starting over");
            return null;
        }
        return c;
    }

    /// <summary>Refills <paramref name="csv"/> with the loss-log rows the checkpoint counted (the header
    /// alone when the file has fewer): rows written after the checkpoint are dropped.</summary>
    public static void RefillLog(Checkpoint c, string csvFile, string prefix, string header, List<string> csv)
    {
        var rows = int.Parse(c.Metadata[$"{prefix}.csv_rows"], CultureInfo.InvariantCulture);
        var lines = File.Exists(csvFile) ? File.ReadAllLines(csvFile).Where(l => l.Length > 0).ToList() : [];
        csv.Clear();
        csv.AddRange(lines.Count >= rows ? lines.Take(rows) : [header]);
    }
}

/// <summary>The named parts of a trainer a resumable checkpoint holds (modules, optimisers, random
/// generators) and how to save them and resume from them, so trainers list their parts once.</summary>
internal sealed class TrainerParts(string prefix, string csvHeader)
{
    private readonly List<(string Name, Module Module)> _modules = [];
    private readonly List<(string Name, Optimizer Optimizer)> _optimizers = [];
    private readonly List<(string Name, Tensors.Generator Generator)> _generators = [];

    /// <summary>Adds a module.</summary>
    public TrainerParts Module(string name, Module module)
    {
        _modules.Add((name, module));
        return this;
    }

    /// <summary>Adds an optimiser.</summary>
    public TrainerParts Optimizer(string name, Optimizer optimizer)
    {
        _optimizers.Add((name, optimizer));
        return this;
    }

    /// <summary>Adds a random generator.</summary>
    public TrainerParts Random(string name, Tensors.Generator generator)
    {
        _generators.Add((name, generator));
        return this;
    }

    /// <summary>Saves every part at <paramref name="step"/> (see <see cref="ResumableState.Save"/>).</summary>
    public void Save(string path, string csvFile, IReadOnlyList<string> csv, string key, int step)
    {
        var c = new Checkpoint();
        foreach (var (n, m) in _modules)
        {
            c.AddModule(m, n);
        }
        foreach (var (n, o) in _optimizers)
        {
            c.AddOptimizer(o, n);
        }
        foreach (var (n, g) in _generators)
        {
            c.AddGenerator(g, n);
        }
        ResumableState.Save(c, path, csvFile, csv, prefix, key, step);
    }

    /// <summary>The step the state at <paramref name="path"/> left off at, when it was saved with
    /// <paramref name="key"/>: every part loaded, <paramref name="csv"/> refilled and a log line saying so.
    /// Null when there is nothing to resume, with <paramref name="csv"/> holding the header alone.</summary>
    public int? Resume(string path, string csvFile, string key, List<string> csv, Action<string>? log, int steps)
    {
        if (!File.Exists(path) || ResumableState.TryLoad(path, csvFile, prefix, key, csvHeader, csv, log, out var step) is not { } c)
        {
            csv.Clear();
            csv.Add(csvHeader);
            return null;
        }
        foreach (var (n, m) in _modules)
        {
            c.LoadModule(m, n);
        }
        foreach (var (n, o) in _optimizers)
        {
            c.LoadOptimizer(o, n);
        }
        foreach (var (n, g) in _generators)
        {
            c.LoadGenerator(g, n);
        }
        log?.Invoke($"{Path.GetFileName(path)}: resumed at step {step}/{steps}");
        return step;
    }
}

/// <summary>A finished model file kept in a method's model folder under a key of everything that decided it.</summary>
internal static class StoredModel
{
    /// <summary>The checkpoint at <paramref name="file"/> when it exists (null when not); one stored under
    /// another key in its <paramref name="prefix"/>.key metadata is an error naming the file, since reusing or
    /// overwriting it would be wrong.</summary>
    public static Checkpoint? Open(string file, string prefix, string key, string what)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        var stored = Checkpoint.Load(file);
        if (stored.Metadata.GetValueOrDefault(prefix + ".key") != key)
        {
            throw new ArgumentException($"{file} holds {what} trained with other settings, data or seed; use another output folder or delete the file");
        }
        return stored;
    }
}
