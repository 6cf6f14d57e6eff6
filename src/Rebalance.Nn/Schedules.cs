using System.Globalization;
using Rebalance.Tensors;

namespace Rebalance.Nn;

/// <summary>
/// Learning-rate schedules. Call <see cref="Step"/> once per epoch (or per step, as the schedule is
/// meant), after the optimiser's step; the closed-form schedules set each group's rate from its initial
/// rate and the epoch count, so a resumed schedule continues exactly.
/// </summary>
public abstract class LrScheduler
{
    private protected LrScheduler(Optimizer optimizer) => Optimizer = optimizer;

    /// <summary>The optimiser whose rates are set.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>Epochs stepped so far.</summary>
    public int LastEpoch { get; private protected set; }

    /// <summary>Advances one epoch and sets the new rates.</summary>
    public virtual void Step()
    {
        LastEpoch++;
        foreach (var g in Optimizer.ParamGroups)
        {
            g.LearningRate = Rate(g.InitialLearningRate, LastEpoch);
        }
    }

    /// <summary>The rate at <paramref name="epoch"/> for a group that started at <paramref name="initial"/>.</summary>
    private protected abstract double Rate(double initial, int epoch);

    /// <summary>Scheduler state for checkpoints.</summary>
    public virtual Dictionary<string, string> StateDict() => new() { ["last_epoch"] = LastEpoch.ToString(CultureInfo.InvariantCulture) };

    /// <summary>Restores <see cref="StateDict"/>.</summary>
    public virtual void LoadStateDict(IReadOnlyDictionary<string, string> state)
    {
        if (!state.TryGetValue("last_epoch", out var s) || !int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var e))
        {
            throw new CheckpointException("scheduler state: 'last_epoch' is missing or not an integer");
        }
        LastEpoch = e;
    }
}

/// <summary>Multiplies the rate by gamma every <paramref name="stepSize"/> epochs.</summary>
public sealed class StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1) : LrScheduler(optimizer)
{
    private readonly int _stepSize = stepSize > 0 ? stepSize : throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "StepLR: step size must be positive");

    private protected override double Rate(double initial, int epoch) => initial * Math.Pow(gamma, epoch / _stepSize);
}

/// <summary>Multiplies the rate by gamma every epoch.</summary>
public sealed class ExponentialLR(Optimizer optimizer, double gamma) : LrScheduler(optimizer)
{
    private protected override double Rate(double initial, int epoch) => initial * Math.Pow(gamma, epoch);
}

/// <summary>Cosine annealing from the initial rate to <paramref name="etaMin"/> over <paramref name="tMax"/> epochs (SGDR without restarts).</summary>
public sealed class CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0) : LrScheduler(optimizer)
{
    private readonly int _tMax = tMax > 0 ? tMax : throw new ArgumentOutOfRangeException(nameof(tMax), tMax, "CosineAnnealingLR: T_max must be positive");

    private protected override double Rate(double initial, int epoch) => etaMin + ((initial - etaMin) * (1 + Math.Cos(Math.PI * epoch / _tMax)) / 2);
}

/// <summary>
/// Cuts the rate by <paramref name="factor"/> when a watched metric has not improved for
/// <paramref name="patience"/> epochs (relative threshold, as PyTorch's default), then waits
/// <paramref name="cooldown"/> epochs; never below <paramref name="minLr"/>.
/// </summary>
public sealed class ReduceLROnPlateau(Optimizer optimizer, bool maximize = false, double factor = 0.1, int patience = 10, double threshold = 1e-4, int cooldown = 0, double minLr = 0) : LrScheduler(optimizer)
{
    private double _best = maximize ? double.NegativeInfinity : double.PositiveInfinity;
    private int _bad;
    private int _cooldownLeft;

    /// <summary>Refused: this schedule needs the metric.</summary>
    public override void Step() => throw new InvalidOperationException("ReduceLROnPlateau needs the watched metric: call Step(metric)");

    /// <summary>Records the epoch's metric and cuts the rate if it has stalled.</summary>
    public void Step(double metric)
    {
        LastEpoch++;
        var better = maximize ? metric > _best * (_best >= 0 ? 1 + threshold : 1 - threshold) : metric < _best * (_best >= 0 ? 1 - threshold : 1 + threshold);
        if (double.IsInfinity(_best))
        {
            better = !double.IsNaN(metric);
        }
        if (better)
        {
            _best = metric;
            _bad = 0;
        }
        else
        {
            _bad++;
        }
        if (_cooldownLeft > 0)
        {
            _cooldownLeft--;
            _bad = 0;
        }
        if (_bad > patience)
        {
            foreach (var g in Optimizer.ParamGroups)
            {
                g.LearningRate = Math.Max(g.LearningRate * factor, minLr);
            }
            _cooldownLeft = cooldown;
            _bad = 0;
        }
    }

    private protected override double Rate(double initial, int epoch) => throw new InvalidOperationException("ReduceLROnPlateau has no closed form");

    /// <inheritdoc />
    public override Dictionary<string, string> StateDict()
    {
        var d = base.StateDict();
        d["best"] = _best.ToString("R", CultureInfo.InvariantCulture);
        d["num_bad_epochs"] = _bad.ToString(CultureInfo.InvariantCulture);
        d["cooldown_counter"] = _cooldownLeft.ToString(CultureInfo.InvariantCulture);
        return d;
    }

    /// <inheritdoc />
    public override void LoadStateDict(IReadOnlyDictionary<string, string> state)
    {
        base.LoadStateDict(state);
        _best = double.Parse(state["best"], CultureInfo.InvariantCulture);
        _bad = int.Parse(state["num_bad_epochs"], CultureInfo.InvariantCulture);
        _cooldownLeft = int.Parse(state["cooldown_counter"], CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// Exponential moving average of a model's weights (used for generators): a shadow copy updated by
/// shadow = decay·shadow + (1 − decay)·weights after each step; buffers are copied as they are.
/// </summary>
public sealed class Ema
{
    private readonly Module _model;

    /// <summary>Starts the average at the model's current weights.</summary>
    public Ema(Module model, double decay = 0.999)
    {
        if (decay is < 0 or > 1 || double.IsNaN(decay))
        {
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "Ema: decay must be in [0, 1]");
        }
        _model = model;
        Decay = decay;
        Shadow = model.DeepCopy();
        Shadow.RequiresGrad_(false);
        Shadow.Eval();
    }

    /// <summary>Weight of the old average.</summary>
    public double Decay { get; }

    /// <summary>The averaged model (evaluation mode, frozen).</summary>
    public Module Shadow { get; }

    /// <summary>Moves the average toward the model's current weights.</summary>
    public void Update() => Update(Decay);

    /// <summary>Moves the average with the given decay for this step (e.g. a warm-up min(decay, (1 + t) / (10 + t))
    /// so that early random weights fade quickly).</summary>
    public void Update(double decay)
    {
        if (decay is < 0 or > 1 || double.IsNaN(decay))
        {
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "Ema: decay must be in [0, 1]");
        }
        var live = _model.StateDict();
        using (GradMode.NoGrad())
        {
            foreach (var (name, s) in Shadow.StateDict())
            {
                var p = live[name];
                if (p.DType.IsFloating() && p.RequiresGrad)
                {
                    FusedUpdates.Lerp(s, p, 1 - decay);
                }
                else
                {
                    s.CopyFrom_(p);
                }
            }
        }
    }
}
