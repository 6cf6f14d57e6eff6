using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Rebalance.Tensors;

/// <summary>One row of an <see cref="OpProfile"/>: an op (by name and output shape) in one phase.</summary>
/// <param name="Phase">"forward", "backward" or "other" (regions named with <see cref="OpProfile.Region"/>).</param>
/// <param name="Op">The op's name followed by its output shape, or the region's label.</param>
/// <param name="Calls">How many times it ran.</param>
/// <param name="Seconds">Wall time spent in it.</param>
public readonly record struct OpProfileEntry(string Phase, string Op, int Calls, double Seconds);

/// <summary>
/// Wall-clock time per op on the calling thread, for finding where a training step spends its time.
/// </summary>
/// <remarks>
/// While a profile is active, each differentiable op is charged the time since the previous op
/// ended (so glue code between ops, and ops that record nothing, are charged to the next op), each
/// backward rule is charged the time it takes including the accumulation of its gradients, and
/// <see cref="Region"/> charges a labelled block of work (optimiser steps use it). Time between
/// the end of a backward pass and the next op goes to "(between ops)". With no active profile the
/// cost is one thread-local read per op.
/// </remarks>
public sealed class OpProfile : IDisposable
{
    [ThreadStatic]
    private static OpProfile? t_active;

    private readonly Dictionary<(string Phase, string Op), (int Calls, long Ticks)> _rows = [];
    private readonly OpProfile? _outer;
    private long _mark;
    private int _suppress;

    private OpProfile()
    {
        _outer = t_active;
        _mark = Stopwatch.GetTimestamp();
    }

    /// <summary>Starts profiling the calling thread until the returned profile is disposed.</summary>
    public static OpProfile Start()
    {
        var p = new OpProfile();
        t_active = p;
        return p;
    }

    /// <summary>Rows sorted by time, largest first.</summary>
    public IReadOnlyList<OpProfileEntry> Entries =>
        [.. _rows.Select(r => new OpProfileEntry(r.Key.Phase, r.Key.Op, r.Value.Calls, r.Value.Ticks / (double)Stopwatch.Frequency))
            .OrderByDescending(e => e.Seconds)];

    /// <summary>Total time charged.</summary>
    public double TotalSeconds => _rows.Values.Sum(v => v.Ticks) / (double)Stopwatch.Frequency;

    /// <summary>Charges the work until the returned scope is disposed to <paramref name="label"/> (phase "other").</summary>
    public static RegionScope Region(string label)
    {
        var p = t_active;
        if (p is null)
        {
            return default;
        }
        p.ChargeGap();
        p._suppress++;
        return new RegionScope(p, label, Stopwatch.GetTimestamp());
    }

    /// <summary>Ends the profile on this thread.</summary>
    public void Dispose()
    {
        if (ReferenceEquals(t_active, this))
        {
            t_active = _outer;
        }
    }

    /// <summary>A text table: phase, op, calls, total milliseconds and share of the total, divided by
    /// <paramref name="steps"/> so that figures read per step.</summary>
    public string Format(int steps = 1, int maxRows = 40)
    {
        var total = TotalSeconds;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"phase",-9} {"op (output shape)",-44} {"calls",6} {"ms",9} {"share",7}");
        foreach (var e in Entries.Take(maxRows))
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{e.Phase,-9} {e.Op,-44} {e.Calls / (double)steps,6:0.#} {e.Seconds * 1000 / steps,9:F3} {e.Seconds / total,7:P1}");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"total",-9} {"",-44} {"",6} {total * 1000 / steps,9:F3}");
        return sb.ToString();
    }

    internal static void OnForward(string name, Tensor result)
    {
        if (t_active is not { _suppress: 0 } p)
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        p.Add("forward", OpName(name) + " " + ShapeUtil.Format(result.ShapeRef), now - p._mark);
        p._mark = now;
    }

    internal static long BackwardBegin()
    {
        if (t_active is not { } p)
        {
            return 0;
        }
        if (p._suppress == 0)
        {
            p.ChargeGap();
        }
        p._suppress++;
        return Stopwatch.GetTimestamp();
    }

    internal static long OnBackwardRule(string name, Tensor output, long started)
    {
        if (t_active is not { } p || started == 0)
        {
            return 0;
        }
        var now = Stopwatch.GetTimestamp();
        p.Add("backward", OpName(name) + " " + ShapeUtil.Format(output.ShapeRef), now - started);
        return now;
    }

    internal static void BackwardEnd(long started)
    {
        if (t_active is not { } p || started == 0)
        {
            return;
        }
        p._suppress--;
        p._mark = Stopwatch.GetTimestamp();
    }

    // Graph nodes are named after their backward function ("ConvolutionBackward"); the phase
    // column already says which direction a row is.
    private static string OpName(string node) =>
        node.EndsWith("Backward", StringComparison.Ordinal) && node.Length > 8 ? node[..^8] : node;

    private void ChargeGap()
    {
        var now = Stopwatch.GetTimestamp();
        Add("other", "(between ops)", now - _mark);
        _mark = now;
    }

    private void Add(string phase, string op, long ticks)
    {
        var key = (phase, op);
        _rows.TryGetValue(key, out var v);
        _rows[key] = (v.Calls + 1, v.Ticks + ticks);
    }

    /// <summary>The scope returned by <see cref="Region"/>.</summary>
    public readonly struct RegionScope : IDisposable
    {
        private readonly OpProfile? _profile;
        private readonly string _label;
        private readonly long _started;

        internal RegionScope(OpProfile profile, string label, long started)
        {
            _profile = profile;
            _label = label;
            _started = started;
        }

        /// <summary>Charges the elapsed time to the region's label.</summary>
        public void Dispose()
        {
            if (_profile is not { } p)
            {
                return;
            }
            var now = Stopwatch.GetTimestamp();
            p.Add("other", _label, now - _started);
            p._suppress--;
            p._mark = now;
        }
    }
}
