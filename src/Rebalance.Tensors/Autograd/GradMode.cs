namespace Rebalance.Tensors;

/// <summary>Whether ops record the graph on this thread. <c>using (GradMode.NoGrad()) { ... }</c>
/// turns recording off for a scope, like <c>torch.no_grad()</c>.</summary>
public static class GradMode
{
    [ThreadStatic]
    private static int t_disabledDepth;

    /// <summary>True when ops record autograd nodes on this thread.</summary>
    public static bool IsEnabled => t_disabledDepth == 0;

    /// <summary>Disables recording until the returned scope is disposed.</summary>
    public static Scope NoGrad()
    {
        t_disabledDepth++;
        return new Scope(-1);
    }

    /// <summary>Enables recording until disposed, even inside a no-grad scope (used for create-graph backward).</summary>
    public static Scope EnableGrad()
    {
        var saved = t_disabledDepth;
        t_disabledDepth = 0;
        return new Scope(saved);
    }

    /// <summary>Restores the previous mode when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly int _restore;

        internal Scope(int restore) => _restore = restore;

        /// <inheritdoc />
        public void Dispose()
        {
            if (_restore < 0)
            {
                t_disabledDepth--;
            }
            else
            {
                t_disabledDepth = _restore;
            }
        }
    }
}
