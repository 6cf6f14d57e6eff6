using System.Diagnostics;

namespace Rebalance.Bench;

/// <summary>The timing protocol shared with bench/peers: three warm-up calls, then three rounds of at
/// least <c>minSeconds</c> each; the best round's time per call is reported.</summary>
internal static class Timing
{
    public static double BestSecondsPerIter(Action step, double minSeconds)
    {
        for (var i = 0; i < 3; i++)
        {
            step();
        }
        var best = double.MaxValue;
        for (var r = 0; r < 3; r++)
        {
            var iters = 0;
            var sw = Stopwatch.StartNew();
            do
            {
                step();
                iters++;
            }
            while (sw.Elapsed.TotalSeconds < minSeconds || iters < 3);
            best = Math.Min(best, sw.Elapsed.TotalSeconds / iters);
        }
        return best;
    }
}
