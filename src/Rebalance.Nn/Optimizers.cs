using System.Globalization;
using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>A set of parameters sharing a learning rate and weight decay.</summary>
public sealed class ParamGroup
{
    /// <summary>Creates a group; null values take the optimiser's defaults.</summary>
    public ParamGroup(IEnumerable<Tensor> parameters, double? learningRate = null, double? weightDecay = null)
    {
        Params = [.. parameters];
        LearningRateOverride = learningRate;
        WeightDecayOverride = weightDecay;
    }

    /// <summary>The parameters.</summary>
    public IReadOnlyList<Tensor> Params { get; }

    internal double? LearningRateOverride { get; }

    internal double? WeightDecayOverride { get; }

    /// <summary>The current learning rate (schedules change it).</summary>
    public double LearningRate { get; set; }

    /// <summary>The learning rate the group started with (schedules scale from it).</summary>
    public double InitialLearningRate { get; internal set; }

    /// <summary>Weight decay.</summary>
    public double WeightDecay { get; set; }
}

/// <summary>
/// Base of the optimisers: parameter groups, per-parameter state tensors, and a state dictionary
/// for checkpoints, so a resumed run takes exactly the step an uninterrupted one would.
/// State tensors are named "state.{i}.{key}" with i the parameter's position over all groups, as in
/// PyTorch's optimiser state_dict.
/// </summary>
public abstract class Optimizer
{
    private readonly List<Dictionary<string, Tensor>> _state;

    private protected Optimizer(IEnumerable<ParamGroup> groups, double learningRate, double weightDecay)
    {
        if (learningRate < 0 || double.IsNaN(learningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learning rate must be non-negative");
        }
        ParamGroups = [.. groups];
        if (ParamGroups.Count == 0 || ParamGroups.All(g => g.Params.Count == 0))
        {
            throw new ArgumentException($"{GetType().Name}: no parameters to optimise");
        }
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var g in ParamGroups)
        {
            g.LearningRate = g.InitialLearningRate = g.LearningRateOverride ?? learningRate;
            g.WeightDecay = g.WeightDecayOverride ?? weightDecay;
            foreach (var p in g.Params)
            {
                if (!seen.Add(p))
                {
                    throw new ArgumentException($"{GetType().Name}: a parameter of shape [{string.Join(", ", p.Shape)}] appears in more than one group");
                }
                if (p.DType != DType.Float32)
                {
                    throw new ArgumentException($"{GetType().Name}: parameters must be float32, got {p.DType.Name()} [{string.Join(", ", p.Shape)}]");
                }
            }
        }
        _state = [.. ParamGroups.SelectMany(g => g.Params).Select(_ => new Dictionary<string, Tensor>())];
    }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ParamGroup> ParamGroups { get; }

    private string? _profileLabel;

    /// <summary>Steps taken.</summary>
    public long StepCount { get; private set; }

    /// <summary>Applies one update from the current gradients; parameters without a gradient are skipped.</summary>
    public void Step()
    {
        StepCount++;
        using (OpProfile.Region(_profileLabel ??= GetType().Name + ".Step"))
        using (GradMode.NoGrad())
        using (TensorScope.Suppress())
        {
            var i = 0;
            foreach (var g in ParamGroups)
            {
                foreach (var p in g.Params)
                {
                    if (p.Grad is { } grad)
                    {
                        Update(g, p, grad, _state[i]);
                    }
                    i++;
                }
            }
        }
    }

    /// <summary>Updates one parameter; <paramref name="state"/> is its own state, empty at first.</summary>
    private protected abstract void Update(ParamGroup group, Tensor param, Tensor grad, Dictionary<string, Tensor> state);

    /// <summary>Zeroes every gradient in place (or drops them).</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var p in ParamGroups.SelectMany(g => g.Params))
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

    /// <summary>A zero tensor like the parameter, for state.</summary>
    private protected static Tensor ZerosLike(Tensor p) => Tensor.Zeros(p.Shape);

    /// <summary>State tensors by name ("state.{i}.{key}") and the scalars (step count, group learning
    /// rates and weight decays) as text, for a checkpoint.</summary>
    public (OrderedDictionary<string, Tensor> Tensors, Dictionary<string, string> Scalars) StateDict()
    {
        var tensors = new OrderedDictionary<string, Tensor>();
        for (var i = 0; i < _state.Count; i++)
        {
            foreach (var (key, t) in _state[i].OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                tensors[$"state.{i}.{key}"] = t;
            }
        }
        var scalars = new Dictionary<string, string>
        {
            ["type"] = GetType().Name,
            ["step"] = StepCount.ToString(CultureInfo.InvariantCulture),
        };
        for (var gi = 0; gi < ParamGroups.Count; gi++)
        {
            scalars[$"param_groups.{gi}.lr"] = ParamGroups[gi].LearningRate.ToString("R", CultureInfo.InvariantCulture);
            scalars[$"param_groups.{gi}.initial_lr"] = ParamGroups[gi].InitialLearningRate.ToString("R", CultureInfo.InvariantCulture);
            scalars[$"param_groups.{gi}.weight_decay"] = ParamGroups[gi].WeightDecay.ToString("R", CultureInfo.InvariantCulture);
            scalars[$"param_groups.{gi}.size"] = ParamGroups[gi].Params.Count.ToString(CultureInfo.InvariantCulture);
        }
        return (tensors, scalars);
    }

    /// <summary>Restores what <see cref="StateDict"/> gave, checking that it belongs to an optimiser of
    /// the same type over parameters of the same shapes.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> scalars)
    {
        string Get(string key) => scalars.TryGetValue(key, out var v) ? v : throw new CheckpointException($"optimizer state: '{key}' is missing");
        double GetDouble(string key) => double.TryParse(Get(key), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new CheckpointException($"optimizer state: '{key}' is not a number: '{Get(key)}'");
        if (Get("type") != GetType().Name)
        {
            throw new CheckpointException($"optimizer state is for {Get("type")}, not {GetType().Name}");
        }
        for (var gi = 0; gi < ParamGroups.Count; gi++)
        {
            if ((int)GetDouble($"param_groups.{gi}.size") != ParamGroups[gi].Params.Count)
            {
                throw new CheckpointException($"optimizer state: group {gi} has {Get($"param_groups.{gi}.size")} parameters, this optimiser {ParamGroups[gi].Params.Count}");
            }
        }
        var all = ParamGroups.SelectMany(g => g.Params).ToList();
        var fresh = all.Select(_ => new Dictionary<string, Tensor>()).ToList();
        foreach (var (name, t) in tensors)
        {
            var parts = name.Split('.', 3);
            if (parts.Length != 3 || parts[0] != "state" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var i) || i >= all.Count)
            {
                throw new CheckpointException($"optimizer state: unexpected tensor '{name}'");
            }
            var expected = parts[2] == "step" ? [] : all[i].Shape;
            if (!t.Shape.AsSpan().SequenceEqual(expected))
            {
                throw new CheckpointException($"optimizer state: '{name}' has shape [{string.Join(", ", t.Shape)}], parameter {i} needs [{string.Join(", ", expected)}]");
            }
            using (TensorScope.Suppress())
            {
                fresh[i][parts[2]] = t.DType == DType.Float32 ? t.Detach().Clone() : t.To(DType.Float32);
            }
        }
        for (var i = 0; i < _state.Count; i++)
        {
            _state[i] = fresh[i];
        }
        StepCount = (long)GetDouble("step");
        for (var gi = 0; gi < ParamGroups.Count; gi++)
        {
            ParamGroups[gi].LearningRate = GetDouble($"param_groups.{gi}.lr");
            ParamGroups[gi].InitialLearningRate = GetDouble($"param_groups.{gi}.initial_lr");
            ParamGroups[gi].WeightDecay = GetDouble($"param_groups.{gi}.weight_decay");
        }
    }

    private protected static long NextStep(Dictionary<string, Tensor> state)
    {
        if (!state.TryGetValue("step", out var s))
        {
            s = Tensor.Zeros([]);
            state["step"] = s;
        }
        var step = (long)s.Item() + 1;
        s.Fill_(step);
        return step;
    }

    /// <summary>One group holding all of <paramref name="parameters"/>.</summary>
    private protected static IEnumerable<ParamGroup> OneGroup(IEnumerable<Tensor> parameters) => [new ParamGroup(parameters)];
}

/// <summary>Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay (PyTorch's formulas).</summary>
public sealed class Sgd : Optimizer
{
    /// <summary>Over all <paramref name="parameters"/>.</summary>
    public Sgd(IEnumerable<Tensor> parameters, double learningRate, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : this(OneGroup(parameters), learningRate, momentum, dampening, weightDecay, nesterov) { }

    /// <summary>Over parameter groups.</summary>
    public Sgd(IEnumerable<ParamGroup> groups, double learningRate, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(groups, learningRate, weightDecay)
    {
        if (nesterov && (momentum <= 0 || dampening != 0))
        {
            throw new ArgumentException("Sgd: Nesterov momentum needs momentum > 0 and no dampening");
        }
        (Momentum, Dampening, Nesterov) = (momentum, dampening, nesterov);
    }

    /// <summary>Momentum factor.</summary>
    public double Momentum { get; }

    /// <summary>Dampening of the momentum.</summary>
    public double Dampening { get; }

    /// <summary>Nesterov momentum.</summary>
    public bool Nesterov { get; }

    private protected override void Update(ParamGroup group, Tensor param, Tensor grad, Dictionary<string, Tensor> state)
    {
        Tensor? buf = null;
        var first = false;
        if (Momentum != 0 && !state.TryGetValue("momentum_buffer", out buf))
        {
            buf = ZerosLike(param);
            state["momentum_buffer"] = buf;
            first = true;
        }
        FusedUpdates.Sgd(param, grad, buf, first, group.LearningRate, Momentum, Dampening, group.WeightDecay, Nesterov);
    }
}

/// <summary>Adam (Kingma and Ba 2015) with L2 weight decay and optional AMSGrad, as PyTorch's.</summary>
public class Adam : Optimizer
{
    private readonly bool _decoupled;

    /// <summary>Over all <paramref name="parameters"/>.</summary>
    public Adam(IEnumerable<Tensor> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0, bool amsgrad = false)
        : this(OneGroup(parameters), learningRate, beta1, beta2, eps, weightDecay, amsgrad) { }

    /// <summary>Over parameter groups.</summary>
    public Adam(IEnumerable<ParamGroup> groups, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0, bool amsgrad = false)
        : this(groups, learningRate, beta1, beta2, eps, weightDecay, amsgrad, decoupled: false) { }

    private protected Adam(IEnumerable<ParamGroup> groups, double learningRate, double beta1, double beta2, double eps, double weightDecay, bool amsgrad, bool decoupled)
        : base(groups, learningRate, weightDecay)
    {
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(beta1), $"{GetType().Name}: betas must be in [0, 1), got ({beta1}, {beta2})");
        }
        (Beta1, Beta2, Eps, AmsGrad, _decoupled) = (beta1, beta2, eps, amsgrad, decoupled);
    }

    /// <summary>First-moment decay.</summary>
    public double Beta1 { get; }

    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }

    /// <summary>Added to the denominator.</summary>
    public double Eps { get; }

    /// <summary>AMSGrad variant.</summary>
    public bool AmsGrad { get; }

    private protected override void Update(ParamGroup group, Tensor param, Tensor grad, Dictionary<string, Tensor> state)
    {
        var step = NextStep(state);
        if (!state.TryGetValue("exp_avg", out var m))
        {
            state["exp_avg"] = m = ZerosLike(param);
            state["exp_avg_sq"] = ZerosLike(param);
            if (AmsGrad)
            {
                state["max_exp_avg_sq"] = ZerosLike(param);
            }
        }
        FusedUpdates.Adam(param, grad, m, state["exp_avg_sq"], AmsGrad ? state["max_exp_avg_sq"] : null, group.LearningRate, Beta1, Beta2, Eps, group.WeightDecay, _decoupled, step);
    }
}

/// <summary>AdamW (Loshchilov and Hutter 2019): Adam with decoupled weight decay (default 0.01, as PyTorch).</summary>
public sealed class AdamW : Adam
{
    /// <summary>Over all <paramref name="parameters"/>.</summary>
    public AdamW(IEnumerable<Tensor> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01, bool amsgrad = false)
        : this(OneGroup(parameters), learningRate, beta1, beta2, eps, weightDecay, amsgrad) { }

    /// <summary>Over parameter groups.</summary>
    public AdamW(IEnumerable<ParamGroup> groups, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01, bool amsgrad = false)
        : base(groups, learningRate, beta1, beta2, eps, weightDecay, amsgrad, decoupled: true) { }
}

/// <summary>RMSProp with optional centring and momentum, as PyTorch's (alpha 0.99, eps 1e-8).</summary>
public sealed class RmsProp : Optimizer
{
    /// <summary>Over all <paramref name="parameters"/>.</summary>
    public RmsProp(IEnumerable<Tensor> parameters, double learningRate = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : this(OneGroup(parameters), learningRate, alpha, eps, weightDecay, momentum, centered) { }

    /// <summary>Over parameter groups.</summary>
    public RmsProp(IEnumerable<ParamGroup> groups, double learningRate = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : base(groups, learningRate, weightDecay) => (Alpha, Eps, Momentum, Centered) = (alpha, eps, momentum, centered);

    /// <summary>Smoothing constant.</summary>
    public double Alpha { get; }

    /// <summary>Added to the denominator.</summary>
    public double Eps { get; }

    /// <summary>Momentum factor.</summary>
    public double Momentum { get; }

    /// <summary>Normalise by the variance estimate instead of the raw second moment.</summary>
    public bool Centered { get; }

    private protected override void Update(ParamGroup group, Tensor param, Tensor grad, Dictionary<string, Tensor> state)
    {
        NextStep(state);
        if (!state.TryGetValue("square_avg", out var sq))
        {
            state["square_avg"] = sq = ZerosLike(param);
            if (Momentum > 0)
            {
                state["momentum_buffer"] = ZerosLike(param);
            }
            if (Centered)
            {
                state["grad_avg"] = ZerosLike(param);
            }
        }
        FusedUpdates.RmsProp(param, grad, sq, Centered ? state["grad_avg"] : null, Momentum > 0 ? state["momentum_buffer"] : null, group.LearningRate, Alpha, Eps, group.WeightDecay, Momentum);
    }
}

/// <summary>Gradient clipping over a set of parameters.</summary>
public static class GradClip
{
    /// <summary>Scales all gradients so their joint L2 norm is at most <paramref name="maxNorm"/>; returns
    /// the norm before clipping. A non-finite norm is an error unless <paramref name="errorIfNonFinite"/> is false.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm, bool errorIfNonFinite = true)
    {
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToList();
        var total = Math.Sqrt(grads.Sum(FusedUpdates.SumOfSquares));
        if (!double.IsFinite(total) && errorIfNonFinite)
        {
            throw new InvalidOperationException($"clip_grad_norm: the total gradient norm is {total.ToString(CultureInfo.InvariantCulture)}; training diverged or a loss is not finite");
        }
        var coef = maxNorm / (total + 1e-6);
        if (coef < 1)
        {
            using (GradMode.NoGrad())
            {
                foreach (var g in grads)
                {
                    g.Mul_(coef);
                }
            }
        }
        return total;
    }

    /// <summary>Clamps every gradient element into [-clipValue, clipValue].</summary>
    public static void ClipGradValue(IEnumerable<Tensor> parameters, double clipValue)
    {
        foreach (var p in parameters)
        {
            if (p.Grad is { } g)
            {
                FusedUpdates.ClampInPlace(g, clipValue);
            }
        }
    }
}
