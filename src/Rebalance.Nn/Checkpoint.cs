using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>
/// A training checkpoint in one safetensors file: the state of one or more modules (each under a name
/// prefix, or none), optimiser and scheduler states, random-generator states, and free-form metadata
/// (the model configuration, the step). Module tensors keep PyTorch's state_dict names, so
/// <c>model.load_state_dict(load_file(path))</c> works on a checkpoint holding one module without a
/// prefix; optimiser tensors live under "optim.{name}." and are skipped by module loading.
/// </summary>
public sealed class Checkpoint
{
    private const string FormatKey = "format";
    private const string FormatValue = "rebalance-checkpoint/1";

    /// <summary>All tensors by name.</summary>
    public OrderedDictionary<string, Tensor> Tensors { get; } = [];

    /// <summary>String metadata (stored under "__metadata__").</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal) { [FormatKey] = FormatValue };

    /// <summary>Adds a module's parameters and persistent buffers, names prefixed with "{prefix}." (or as they are for "").</summary>
    public Checkpoint AddModule(Module module, string prefix = "")
    {
        foreach (var (name, t) in module.StateDict())
        {
            Tensors[Join(prefix, name)] = t;
        }
        return this;
    }

    /// <summary>Adds an optimiser's state under "optim.{name}.".</summary>
    public Checkpoint AddOptimizer(Optimizer optimizer, string name)
    {
        var (tensors, scalars) = optimizer.StateDict();
        foreach (var (k, t) in tensors)
        {
            Tensors[$"optim.{name}.{k}"] = t;
        }
        foreach (var (k, v) in scalars)
        {
            Metadata[$"optim.{name}.{k}"] = v;
        }
        return this;
    }

    /// <summary>Adds a learning-rate schedule's state.</summary>
    public Checkpoint AddScheduler(LrScheduler scheduler, string name)
    {
        foreach (var (k, v) in scheduler.StateDict())
        {
            Metadata[$"sched.{name}.{k}"] = v;
        }
        return this;
    }

    /// <summary>Adds a random generator's state.</summary>
    public Checkpoint AddGenerator(Generator generator, string name)
    {
        Metadata[$"rng.{name}"] = generator.GetState();
        return this;
    }

    /// <summary>The name of the first floating-point tensor that holds a NaN or an infinity, or null when
    /// every value is finite (a training loop checks this before it trusts a state as a restart point).</summary>
    public string? NonFiniteTensor()
    {
        foreach (var (name, t) in Tensors)
        {
            if (t.DType is DType.Float32 or DType.Float64 && t.ToDoubleArray().Any(v => !double.IsFinite(v)))
            {
                return name;
            }
        }
        return null;
    }

    /// <summary>Writes the checkpoint atomically.</summary>
    public void Save(string path) => SafeTensors.Write(path, Tensors, Metadata);

    /// <summary>Reads a checkpoint; a file without the format marker (e.g. one written by PyTorch) is accepted
    /// for module loading.</summary>
    public static Checkpoint Load(string path)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        var c = new Checkpoint { Source = path };
        c.Metadata.Clear();
        foreach (var (k, v) in metadata)
        {
            c.Metadata[k] = v;
        }
        foreach (var (k, t) in tensors)
        {
            c.Tensors[k] = t;
        }
        return c;
    }

    /// <summary>The file this checkpoint was read from (for messages).</summary>
    public string Source { get; private set; } = "checkpoint";

    /// <summary>
    /// Loads the tensors named "{prefix}.*" into <paramref name="module"/> (prefix stripped). With
    /// <paramref name="strict"/>, every module tensor must be present and every tensor under the prefix
    /// must belong to the module. <paramref name="include"/> keeps only some names (after stripping), for
    /// transfer between models that share part of their architecture.
    /// </summary>
    public LoadResult LoadModule(Module module, string prefix = "", bool strict = true, Func<string, bool>? include = null)
    {
        var selected = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var p = prefix.Length == 0 ? string.Empty : prefix + ".";
        foreach (var (name, t) in Tensors)
        {
            if (!name.StartsWith(p, StringComparison.Ordinal) || (prefix.Length == 0 && IsReserved(name)))
            {
                continue;
            }
            var local = name[p.Length..];
            if (include is null || include(local))
            {
                selected[local] = t;
            }
        }
        if (selected.Count == 0 && strict)
        {
            throw new CheckpointException($"{Source}: no tensors under the prefix '{prefix}' (it holds {string.Join(", ", Prefixes())})");
        }
        try
        {
            return module.LoadStateDict(selected, strict && include is null);
        }
        catch (CheckpointException e)
        {
            throw new CheckpointException($"{Source}: {e.Message}", e);
        }
    }

    /// <summary>Restores an optimiser saved with <see cref="AddOptimizer"/>.</summary>
    public void LoadOptimizer(Optimizer optimizer, string name)
    {
        var p = $"optim.{name}.";
        var tensors = Tensors.Where(kv => kv.Key.StartsWith(p, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[p.Length..], kv => kv.Value);
        var scalars = Metadata.Where(kv => kv.Key.StartsWith(p, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[p.Length..], kv => kv.Value);
        if (scalars.Count == 0)
        {
            throw new CheckpointException($"{Source}: no optimiser state named '{name}'");
        }
        try
        {
            optimizer.LoadStateDict(tensors, scalars);
        }
        catch (CheckpointException e)
        {
            throw new CheckpointException($"{Source}: {e.Message}", e);
        }
    }

    /// <summary>Restores a schedule saved with <see cref="AddScheduler"/>.</summary>
    public void LoadScheduler(LrScheduler scheduler, string name)
    {
        var p = $"sched.{name}.";
        var state = Metadata.Where(kv => kv.Key.StartsWith(p, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[p.Length..], kv => kv.Value);
        if (state.Count == 0)
        {
            throw new CheckpointException($"{Source}: no scheduler state named '{name}'");
        }
        scheduler.LoadStateDict(state);
    }

    /// <summary>Restores a generator saved with <see cref="AddGenerator"/>.</summary>
    public void LoadGenerator(Generator generator, string name)
    {
        if (!Metadata.TryGetValue($"rng.{name}", out var state))
        {
            throw new CheckpointException($"{Source}: no generator state named '{name}'");
        }
        try
        {
            generator.SetState(state);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new CheckpointException($"{Source}: generator '{name}': {e.Message}", e);
        }
    }

    private static bool IsReserved(string name) => name.StartsWith("optim.", StringComparison.Ordinal);

    private IEnumerable<string> Prefixes() => Tensors.Keys.Select(k => k.Contains('.', StringComparison.Ordinal) ? k[..k.IndexOf('.', StringComparison.Ordinal)] : k).Distinct().Take(10);

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;
}
