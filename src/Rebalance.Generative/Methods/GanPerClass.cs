using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Sampling;

namespace Rebalance.Generative.Methods;

/// <summary>One unconditional GAN per class to be filled, trained on that class's images only.</summary>
public sealed class GanPerClass : GenerativeRebalancer
{
    private readonly GanSettings _s;

    internal GanPerClass(GanSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => "gan-per-class";

    private protected override GanSettings Primary => _s;

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var result = new Dictionary<int, GanGenerator>();
        foreach (var c in grow)
        {
            var data = train.Subset(train.IndicesOf(c));
            var shape = new GanShape(train.Channels, train.Height, train.Width, _s.LatentDim, MaxChannels: _s.MaxChannels);
            var classSeed = seed + (ulong)c;
            result[c] = LoadOrTrain(dir, $"class{c}", GanTrainer.KeyFor(_s, shape, classSeed, data), _s, () => new GanTrainer(_s, shape, classSeed), data, c, log, notes);
        }
        return result;
    }
}
