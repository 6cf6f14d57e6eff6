namespace Rebalance.Tensors;

/// <summary>
/// Reuses tensor storage across the iterations of a loop. Every tensor created on this thread while a
/// scope is open belongs to the innermost scope; disposing the scope hands the storage of all of them
/// back to a pool that later allocations of the same size draw from, so a training step in steady
/// state allocates almost nothing. A tensor used after its scope ended throws a clear error instead
/// of reading reused memory. Keep results with <see cref="Keep"/>; create long-lived state (parameters,
/// optimiser moments) outside any scope or inside <see cref="Suppress"/>.
/// </summary>
/// <example><code>
/// for (var step = 0; step &lt; steps; step++)
/// {
///     using var scope = TensorScope.Begin();
///     var loss = model.Forward(x).Mean();
///     loss.Backward();
///     lossValue = loss.Item();
/// }
/// </code></example>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic]
    private static TensorScope? t_current;

    private readonly TensorScope? _outer;
    private readonly bool _suppressing;
    private readonly List<Tensor> _owned = [];
    private bool _disposed;

    private TensorScope(TensorScope? outer, bool suppressing)
    {
        _outer = outer;
        _suppressing = suppressing;
    }

    /// <summary>The scope that owns tensors created now on this thread (null outside any scope or
    /// inside <see cref="Suppress"/>).</summary>
    internal static TensorScope? Current
    {
        get
        {
            var s = t_current;
            return s is null || s._suppressing ? null : s;
        }
    }

    /// <summary>Opens a scope nested in the current one.</summary>
    public static TensorScope Begin() => t_current = new TensorScope(t_current, suppressing: false);

    /// <summary>Opens a region whose tensors belong to no scope and are left to the garbage collector
    /// (for state that outlives the loop, created lazily inside it).</summary>
    public static TensorScope Suppress() => t_current = new TensorScope(t_current, suppressing: true);

    /// <summary>Number of tensors this scope will release.</summary>
    public int Count => _owned.Count;

    /// <summary>Moves <paramref name="tensor"/> (and the storage it views) out of this scope into the
    /// enclosing one, or to the garbage collector when there is none. Returns the tensor.</summary>
    public Tensor Keep(Tensor tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var owner = tensor.StorageOwner;
        if (owner.Scope == this)
        {
            owner.Scope = null;
            var outer = _outer;
            while (outer is not null && outer._suppressing)
            {
                outer = outer._outer;
            }
            if (outer is not null)
            {
                outer.Adopt(owner);
            }
        }
        return tensor;
    }

    internal void Adopt(Tensor owner)
    {
        owner.Scope = this;
        _owned.Add(owner);
    }

    /// <summary>Releases the storage of every tensor still owned by this scope.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (t_current != this)
        {
            throw new InvalidOperationException("TensorScope: scopes must be disposed in the reverse order of opening, on the thread that opened them");
        }
        t_current = _outer;
        foreach (var t in _owned)
        {
            if (t.Scope == this)
            {
                t.Scope = null;
                Storage.Return(t.Release());
            }
        }
        _owned.Clear();
    }
}
