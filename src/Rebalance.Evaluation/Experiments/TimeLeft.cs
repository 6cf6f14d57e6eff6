namespace Rebalance.Evaluation;

/// <summary>
/// An estimate of the time an experiment still needs, from what its runs have taken so far. A run not yet
/// done is expected to take what the same method (label) took for the seeds already done; a method with no
/// finished seed, what runs of the same method name took; failing that, the mean of the finished runs of
/// its kind (generative or classic), then of every finished run. A
/// run kept from an earlier invocation counts with its stored times (classifier, rebalancing and judging),
/// so a resumed experiment estimates at once. The run in progress counts as its estimate less the time it
/// has already taken (never below zero). No estimate is given before any run has finished.
/// </summary>
public sealed class TimeLeft
{
    private readonly List<(string Label, string Method)> _pending;
    private readonly Dictionary<string, string> _methodOf = new(StringComparer.Ordinal);
    private readonly List<(string Label, double Seconds)> _done = [];
    private (string Label, string Method)? _current;

    /// <summary>The runs of this invocation, in order: (label, method name).</summary>
    public TimeLeft(IEnumerable<(string Label, string Method)> runs)
    {
        _pending = [.. runs];
        foreach (var (label, method) in _pending)
        {
            _methodOf[label] = method;
        }
    }

    /// <summary>A run starts (it leaves the pending ones).</summary>
    public void Started(string label)
    {
        var i = _pending.FindIndex(p => p.Label == label);
        if (i >= 0)
        {
            _current = _pending[i];
            _pending.RemoveAt(i);
        }
    }

    /// <summary>A run is done, after <paramref name="seconds"/> (measured, or stored for a kept run).</summary>
    public void Finished(string label, double seconds)
    {
        if (_current?.Label == label)
        {
            _current = null;
        }
        else
        {
            // A run kept from an earlier invocation: finished without being started.
            var i = _pending.FindIndex(p => p.Label == label);
            if (i >= 0)
            {
                _pending.RemoveAt(i);
            }
        }
        _done.Add((label, Math.Max(0, seconds)));
    }

    /// <summary>Runs not yet started.</summary>
    public int Pending => _pending.Count;

    /// <summary>Seconds still needed, with the current run <paramref name="currentSeconds"/> in; null before
    /// any run has finished (or when nothing is left: 0).</summary>
    public double? Seconds(double currentSeconds)
    {
        if (_pending.Count == 0 && _current is null)
        {
            return 0;
        }
        if (_done.Count == 0)
        {
            return null;
        }
        var left = _pending.Sum(p => Estimate(p.Label, p.Method));
        if (_current is { } c)
        {
            left += Math.Max(0, Estimate(c.Label, c.Method) - currentSeconds);
        }
        return left;
    }

    private double Estimate(string label, string method)
    {
        var same = _done.Where(d => d.Label == label).ToList();
        if (same.Count == 0)
        {
            same = [.. _done.Where(d => _methodOf.GetValueOrDefault(d.Label) == method)];
        }
        if (same.Count == 0)
        {
            // A generative method trains models and costs far more than a classic sampler: estimate it from
            // other generative runs when there are any, and a classic one from other classic runs.
            var generative = Generative.Methods.GenerativeMethods.IsKnown(method);
            same = [.. _done.Where(d => Generative.Methods.GenerativeMethods.IsKnown(_methodOf.GetValueOrDefault(d.Label) ?? "") == generative)];
        }
        if (same.Count == 0)
        {
            same = _done;
        }
        return same.Average(d => d.Seconds);
    }

    /// <summary>A duration as a person reads it: "45 s", "12 min", "2 h 05 min".</summary>
    public static string Format(double seconds)
    {
        if (seconds < 59.5)
        {
            return $"{Math.Round(seconds):0} s";
        }
        var minutes = (long)Math.Round(seconds / 60);
        return minutes < 60 ? $"{minutes} min" : $"{minutes / 60} h {minutes % 60:00} min";
    }

    /// <summary>The seconds a stored run took: rebalancing (with any generator training), classifier
    /// training and judging.</summary>
    public static double StoredSeconds(RunResult r) =>
        r.ResampleSeconds + r.TrainSeconds + (r.Quality?["seconds"] is { } q ? (double)q : 0);
}
