using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Sampling;

namespace Rebalance.Generative.Methods;

/// <summary>One class-conditional GAN on all classes (conditional batch norm in G, projection
/// discriminator, optional ACGAN head with <c>acgan: WEIGHT</c>), sampled per class to fill.</summary>
public sealed class ConditionalGan : GenerativeRebalancer
{
    private readonly GanSettings _s;

    internal ConditionalGan(GanSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => "cgan";

    private protected override GanSettings Primary => _s;

    private protected override bool IsConditional => true;

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var shape = new GanShape(train.Channels, train.Height, train.Width, _s.LatentDim, train.NumClasses, _s.MaxChannels);
        var g = LoadOrTrain(dir, "all", GanTrainer.KeyFor(_s, shape, seed, train), _s, () => new GanTrainer(_s, shape, seed), train, null, log, notes);
        return grow.ToDictionary(c => c, _ => g);
    }
}
