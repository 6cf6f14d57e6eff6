using Rebalance.Data;
using Rebalance.Generative.Methods;
using Rebalance.Sampling;

namespace Rebalance.Evaluation;

/// <summary>Every rebalancing method by name: the classic ones and the generative ones.</summary>
public static class MethodCatalog
{
    /// <summary>Known names.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Rebalancers.Names, .. GenerativeMethods.Names];

    /// <summary>Whether <paramref name="name"/> is a known method.</summary>
    public static bool IsKnown(string name) => Names.Contains(name);

    /// <summary>Builds a method; generative ones keep their models under the context's checkpoint folder.</summary>
    public static IRebalancer Create(string name, MethodSettings settings, GenerativeContext? context = null) =>
        GenerativeMethods.IsKnown(name) ? GeneratedImageLevers.Create(name, settings, context)
        : Rebalancers.IsKnown(name) ? Rebalancers.Create(name, settings)
        : throw new ArgumentException($"unknown method '{name}' (known: {string.Join(", ", Names)})");

    /// <summary>Checks, before any work, that the method can do what the strategy asks of this data: every
    /// class to be filled has images, and a generative method's architecture supports the image size.
    /// Returns the targets.</summary>
    public static int[] Check(IRebalancer r, SamplingStrategy strategy, Dataset train, int[] counts)
    {
        var targets = strategy.Targets(counts, r.Kind);
        // The baseline and loss weighting add no images, so an empty class is no obstacle to them.
        if (r.Kind == SamplingKind.Over && r is not (NoRebalancing or ClassWeighting))
        {
            SamplingStrategy.CheckGrowable(train, counts, targets, r.Name);
        }
        if (((r as GeneratedImageLevers)?.Inner ?? r as GenerativeRebalancer) is { } g)
        {
            g.CheckData(train.Channels, train.Height, train.Width, train.NumClasses);
        }
        return targets;
    }
}
