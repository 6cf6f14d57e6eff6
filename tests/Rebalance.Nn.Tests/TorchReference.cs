using Rebalance.Tensors;

namespace Rebalance.Nn.Tests;

/// <summary>Values computed by PyTorch (tools/make_nn_references.py), read through our own safetensors reader.</summary>
internal static class TorchReference
{
    private static readonly Lazy<IReadOnlyDictionary<string, Tensor>> All = new(() =>
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "torch_reference.safetensors");
        return SafeTensors.Read(path).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
    });

    public static Tensor Get(string name) => All.Value.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"reference tensor '{name}' missing; rerun tools/make_nn_references.py");

    public static Dictionary<string, Tensor> Params(string prefix)
    {
        var p = prefix + ".param.";
        return All.Value.Where(kv => kv.Key.StartsWith(p, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[p.Length..], kv => kv.Value);
    }

    public static void AssertClose(Tensor expected, Tensor actual, double tol = 1e-5, string what = "")
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        for (var i = 0; i < e.Length; i++)
        {
            var bound = tol * (1 + Math.Abs(e[i]));
            Assert.True(Math.Abs(e[i] - a[i]) <= bound, $"{what}[{i}]: expected {e[i]}, got {a[i]}");
        }
    }
}
