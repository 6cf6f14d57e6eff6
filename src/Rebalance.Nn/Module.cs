using System.Reflection;
using System.Text;
using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>
/// A layer or model: named parameters (tensors that require gradients), named buffers (state such as
/// running statistics), and named child modules, in registration order. Names join with dots, as in
/// PyTorch's <c>state_dict</c> ("features.0.weight"), so checkpoints line up with the same
/// architecture written in PyTorch.
/// </summary>
public abstract class Module
{
    private OrderedDictionary<string, Tensor?> _parameters = [];
    private OrderedDictionary<string, Tensor?> _buffers = [];
    private HashSet<string> _nonPersistent = [];
    private OrderedDictionary<string, Module> _modules = [];
    private Dictionary<string, IParameterTransform> _computed = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Runs the module on one input.</summary>
    public abstract Tensor Forward(Tensor x);

    // ---- registration -------------------------------------------------------------------------

    /// <summary>Adds a parameter (marked as requiring gradients); null registers an absent one (e.g. no bias).</summary>
    protected Tensor? RegisterParameter(string name, Tensor? value)
    {
        CheckName(name);
        if (value is not null && !value.RequiresGrad)
        {
            if (!value.IsLeaf)
            {
                throw new ArgumentException($"{GetType().Name}: parameter '{name}' must be a leaf tensor, not the result of {value.GradFnName}");
            }
            value.RequiresGrad_();
        }
        _parameters[name] = value;
        return value;
    }

    /// <summary>Adds a buffer; a non-persistent one is left out of <see cref="StateDict"/>.</summary>
    protected Tensor? RegisterBuffer(string name, Tensor? value, bool persistent = true)
    {
        CheckName(name);
        _buffers[name] = value;
        if (!persistent)
        {
            _nonPersistent.Add(name);
        }
        return value;
    }

    /// <summary>Adds a child module.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _modules[name] = module;
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException($"{GetType().Name}: '{name}' is not a valid name (non-empty, no dots)");
        }
        var taken = (_parameters.ContainsKey(name) ? 1 : 0) + (_buffers.ContainsKey(name) ? 1 : 0) + (_modules.ContainsKey(name) ? 1 : 0);
        if (taken > 0)
        {
            throw new ArgumentException($"{GetType().Name}: '{name}' is already registered");
        }
    }

    /// <summary>A registered parameter, or the tensor computed in its place (see spectral normalisation).</summary>
    protected Tensor Param(string name) => OptionalParam(name) ?? throw new InvalidOperationException($"{GetType().Name}: parameter '{name}' is not set");

    /// <summary>A parameter that may be absent (null).</summary>
    protected Tensor? OptionalParam(string name)
    {
        if (_computed.TryGetValue(name, out var transform))
        {
            return transform.Compute(this);
        }
        return _parameters.TryGetValue(name, out var p) ? p : null;
    }

    /// <summary>A registered buffer.</summary>
    protected Tensor? Buffer(string name) => _buffers.TryGetValue(name, out var b) ? b : null;

    /// <summary>A child module by name.</summary>
    protected Module Child(string name) => _modules[name];

    /// <summary>Replaces a parameter by a tensor computed from others each time it is read (used by
    /// <see cref="SpectralNorm"/>): the parameter leaves the registry under its own name.</summary>
    internal void ReplaceParameterWithComputed(string name, string newName, IParameterTransform transform)
    {
        if (!_parameters.TryGetValue(name, out var p) || p is null)
        {
            throw new ArgumentException($"{GetType().Name} has no parameter '{name}'");
        }
        _parameters.Remove(name);
        RegisterParameter(newName, p);
        _computed[name] = transform;
    }

    internal Tensor? GetParameter(string name) => _parameters.TryGetValue(name, out var p) ? p : null;

    internal IParameterTransform? ComputedTransform(string name) => _computed.TryGetValue(name, out var t) ? t : null;

    internal Tensor? GetBuffer(string name) => Buffer(name);

    internal void AddBuffer(string name, Tensor value) => RegisterBuffer(name, value);

    // ---- traversal ----------------------------------------------------------------------------

    /// <summary>Parameters of this module and (with <paramref name="recurse"/>) its descendants, with dotted names.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedParameters(string prefix = "", bool recurse = true)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (modPrefix, m) in recurse ? NamedModules(prefix) : [(prefix, this)])
        {
            foreach (var (name, p) in m._parameters)
            {
                if (p is not null && seen.Add(p))
                {
                    yield return (Join(modPrefix, name), p);
                }
            }
        }
    }

    /// <summary>All parameters, each once.</summary>
    public IEnumerable<Tensor> Parameters(bool recurse = true) => NamedParameters(recurse: recurse).Select(p => p.Value);

    /// <summary>Buffers of this module and its descendants, with dotted names.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedBuffers(string prefix = "", bool recurse = true)
    {
        foreach (var (modPrefix, m) in recurse ? NamedModules(prefix) : [(prefix, this)])
        {
            foreach (var (name, b) in m._buffers)
            {
                if (b is not null)
                {
                    yield return (Join(modPrefix, name), b);
                }
            }
        }
    }

    /// <summary>Direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren() => _modules.Select(kv => (kv.Key, kv.Value));

    /// <summary>Direct children.</summary>
    public IEnumerable<Module> Children() => _modules.Values;

    /// <summary>This module and all descendants, depth first, with dotted prefixes ("" for this one).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _modules)
        {
            foreach (var inner in child.NamedModules(Join(prefix, name)))
            {
                yield return inner;
            }
        }
    }

    /// <summary>Total number of parameter elements.</summary>
    public long NumParameters() => Parameters().Sum(p => (long)p.Numel);

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    // ---- modes and gradients ------------------------------------------------------------------

    /// <summary>Sets training mode here and in every descendant.</summary>
    public Module Train(bool training = true)
    {
        foreach (var (_, m) in NamedModules())
        {
            m.Training = training;
        }
        return this;
    }

    /// <summary>Evaluation mode: batch norm uses running statistics, dropout is off.</summary>
    public Module Eval() => Train(false);

    /// <summary>Freezes (false) or unfreezes (true) every parameter.</summary>
    public Module RequiresGrad_(bool requiresGrad = true)
    {
        foreach (var p in Parameters())
        {
            p.RequiresGrad = requiresGrad;
        }
        return this;
    }

    /// <summary>Zeroes the gradients in place (or drops them with <paramref name="setToNone"/>).</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var p in Parameters())
        {
            if (setToNone)
            {
                p.Grad = null;
            }
            else
            {
                using (GradMode.NoGrad())
                {
                    p.Grad?.Zero_();
                }
            }
        }
    }

    // ---- state --------------------------------------------------------------------------------

    /// <summary>Parameters and persistent buffers by dotted name, in registration order (live tensors, not copies).</summary>
    public OrderedDictionary<string, Tensor> StateDict(string prefix = "")
    {
        var result = new OrderedDictionary<string, Tensor>();
        foreach (var (modPrefix, m) in NamedModules(prefix))
        {
            foreach (var (name, p) in m._parameters)
            {
                if (p is not null)
                {
                    result[Join(modPrefix, name)] = p;
                }
            }
            foreach (var (name, b) in m._buffers)
            {
                if (b is not null && !m._nonPersistent.Contains(name))
                {
                    result[Join(modPrefix, name)] = b;
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Copies values by name into this module's parameters and buffers. With <paramref name="strict"/>,
    /// missing or unexpected names are an error; without, they are reported in the result. A shape
    /// mismatch is always an error. Values of another floating dtype are converted.
    /// </summary>
    public LoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
        {
            var sb = new StringBuilder($"{GetType().Name}: state does not match the model:");
            if (missing.Count > 0)
            {
                sb.Append(" missing ").Append(string.Join(", ", missing.Take(10))).Append(missing.Count > 10 ? $" (and {missing.Count - 10} more)" : string.Empty).Append(';');
            }
            if (unexpected.Count > 0)
            {
                sb.Append(" unexpected ").Append(string.Join(", ", unexpected.Take(10))).Append(unexpected.Count > 10 ? $" (and {unexpected.Count - 10} more)" : string.Empty).Append(';');
            }
            throw new CheckpointException(sb.ToString().TrimEnd(';'));
        }
        foreach (var (name, target) in own)
        {
            if (!state.TryGetValue(name, out var source))
            {
                continue;
            }
            if (!target.Shape.AsSpan().SequenceEqual(source.Shape))
            {
                throw new CheckpointException($"{GetType().Name}: '{name}' has shape [{string.Join(", ", source.Shape)}] in the state but [{string.Join(", ", target.Shape)}] in the model");
            }
            using (GradMode.NoGrad())
            {
                target.CopyFrom_(source.DType == target.DType ? source : source.To(target.DType));
            }
        }
        return new LoadResult(missing, unexpected);
    }

    /// <summary>An independent copy: same structure, hyperparameters and values, separate tensors.</summary>
    public Module DeepCopy()
    {
        var map = new Dictionary<object, object>(ReferenceEqualityComparer.Instance);
        return CopyInto(map);
    }

    private Module CopyInto(Dictionary<object, object> map)
    {
        var copy = (Module)MemberwiseClone();
        map[this] = copy;
        Tensor? CopyTensor(Tensor? t)
        {
            if (t is null)
            {
                return null;
            }
            if (map.TryGetValue(t, out var done))
            {
                return (Tensor)done;
            }
            Tensor c;
            using (GradMode.NoGrad())
            using (TensorScope.Suppress())
            {
                c = t.Detach().Clone();
            }
            if (t.RequiresGrad)
            {
                c.RequiresGrad_();
            }
            map[t] = c;
            return c;
        }
        copy._parameters = new OrderedDictionary<string, Tensor?>(_parameters.Select(kv => new KeyValuePair<string, Tensor?>(kv.Key, CopyTensor(kv.Value))));
        copy._buffers = new OrderedDictionary<string, Tensor?>(_buffers.Select(kv => new KeyValuePair<string, Tensor?>(kv.Key, CopyTensor(kv.Value))));
        copy._nonPersistent = [.. _nonPersistent];
        copy._modules = new OrderedDictionary<string, Module>(_modules.Select(kv => new KeyValuePair<string, Module>(kv.Key, kv.Value.CopyInto(map))));
        copy._computed = new Dictionary<string, IParameterTransform>(_computed);
        // Fields of derived classes that point at modules or tensors of the original now point at the copies.
        for (var type = GetType(); type is not null && type != typeof(Module); type = type.BaseType)
        {
            foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if ((typeof(Module).IsAssignableFrom(f.FieldType) || f.FieldType == typeof(Tensor)) && f.GetValue(this) is { } old && map.TryGetValue(old, out var replacement))
                {
                    f.SetValue(copy, replacement);
                }
            }
        }
        return copy;
    }

    // ---- printing -----------------------------------------------------------------------------

    /// <summary>Hyperparameters shown in <see cref="ToString"/>, e.g. "in=100, out=10".</summary>
    protected virtual string ExtraRepr() => string.Empty;

    /// <inheritdoc />
    public override string ToString()
    {
        var sb = new StringBuilder();
        Print(sb, 0);
        return sb.ToString();
    }

    private void Print(StringBuilder sb, int indent)
    {
        sb.Append(GetType().Name).Append('(').Append(ExtraRepr());
        if (_modules.Count > 0)
        {
            sb.AppendLine();
            foreach (var (name, m) in _modules)
            {
                sb.Append(' ', (indent + 1) * 2).Append('(').Append(name).Append("): ");
                m.Print(sb, indent + 1);
                sb.AppendLine();
            }
            sb.Append(' ', indent * 2);
        }
        sb.Append(')');
    }
}

/// <summary>Computes a parameter from the module's registered tensors each time it is read.</summary>
internal interface IParameterTransform
{
    Tensor Compute(Module owner);
}

/// <summary>What <see cref="Module.LoadStateDict"/> did not match.</summary>
public sealed record LoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>A checkpoint or state that cannot be used: the message names the file or tensor and the problem.</summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(string message) : base(message) { }

    /// <summary>Creates the exception with a cause.</summary>
    public CheckpointException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Creates the exception.</summary>
    public CheckpointException() { }
}
