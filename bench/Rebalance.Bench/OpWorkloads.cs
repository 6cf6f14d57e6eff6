using System.Text.Json.Nodes;
using Rebalance.Tensors;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Bench;

/// <summary>GEMM shapes and the convolution layers of the reference workloads (DESIGN.md), forward + backward.</summary>
internal static class OpWorkloads
{
    public static IEnumerable<Workload> Gemms()
    {
        foreach (var (m, n, k) in new[] { (1024, 1024, 1024), (256, 256, 256), (128, 3136, 1152) })
        {
            var name = $"gemm {m}x{n}x{k}";
            yield return new Workload(name, 2.0 * m * n * k,
                new JsonObject { ["kind"] = "gemm", ["name"] = name, ["m"] = m, ["n"] = n, ["k"] = k },
                () =>
                {
                    var gen = new Generator(0);
                    var a = gen.Uniform([m * k]).ToFloatArray();
                    var b = gen.Uniform([k * n]).ToFloatArray();
                    var c = new float[m * n];
                    return () => Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
                });
        }
    }

    // (name, transposed, N, Cin, H, W, Cout, K, stride, padding)
    private static readonly (string Name, bool Transposed, int N, int Cin, int H, int W, int Cout, int K, int S, int P)[] Layers =
    [
        ("dcgan28 D conv1", false, 64, 1, 28, 28, 64, 4, 2, 1),
        ("dcgan28 D conv2", false, 64, 64, 14, 14, 128, 4, 2, 1),
        ("dcgan28 G convT1", true, 64, 128, 7, 7, 64, 4, 2, 1),
        ("dcgan28 G convT2", true, 64, 64, 14, 14, 1, 4, 2, 1),
        ("cnn28 conv1", false, 128, 1, 28, 28, 8, 3, 1, 1),
        ("cnn28 conv2", false, 128, 8, 14, 14, 32, 5, 1, 2),
    ];

    public static IEnumerable<Workload> Convs()
    {
        foreach (var l in Layers)
        {
            // Output size and MACs of the forward pass; backward costs two more of the same.
            var oh = l.Transposed ? ((l.H - 1) * l.S) - (2 * l.P) + l.K : ((l.H + (2 * l.P) - l.K) / l.S) + 1;
            var ow = l.Transposed ? ((l.W - 1) * l.S) - (2 * l.P) + l.K : ((l.W + (2 * l.P) - l.K) / l.S) + 1;
            var macs = l.Transposed ? (double)l.N * l.Cin * l.H * l.W * l.Cout * l.K * l.K : (double)l.N * l.Cout * oh * ow * l.Cin * l.K * l.K;
            var name = $"{l.Name} fwd+bwd";
            yield return new Workload(name, 3 * 2 * macs,
                new JsonObject
                {
                    ["kind"] = l.Transposed ? "conv_transpose2d" : "conv2d", ["name"] = name, ["n"] = l.N, ["cin"] = l.Cin,
                    ["h"] = l.H, ["w"] = l.W, ["cout"] = l.Cout, ["k"] = l.K, ["stride"] = l.S, ["padding"] = l.P, ["output_padding"] = 0,
                },
                () =>
                {
                    var gen = new Generator(0);
                    var x = gen.Uniform([l.N, l.Cin, l.H, l.W]).RequiresGrad_();
                    var w = (l.Transposed ? gen.Uniform([l.Cin, l.Cout, l.K, l.K]) : gen.Uniform([l.Cout, l.Cin, l.K, l.K])).RequiresGrad_();
                    var gy = gen.Uniform([l.N, l.Transposed ? l.Cout : l.Cout, oh, ow]);
                    return () =>
                    {
                        // Gradients are zeroed in place and intermediate storage is reused, as a training
                        // loop does (PyTorch's caching allocator does the same for the peer).
                        x.Grad?.Zero_();
                        w.Grad?.Zero_();
                        using var scope = TensorScope.Begin();
                        var y = l.Transposed ? Functional.ConvTranspose2d(x, w, null, l.S, l.P) : Functional.Conv2d(x, w, null, l.S, l.P);
                        y.Backward(gy);
                    };
                });
        }
    }

    /// <summary>Each reference layer's three kernels timed apart (ours only): where a layer's time goes.</summary>
    public static IEnumerable<Workload> ConvParts()
    {
        foreach (var l in Layers)
        {
            var oh = l.Transposed ? ((l.H - 1) * l.S) - (2 * l.P) + l.K : ((l.H + (2 * l.P) - l.K) / l.S) + 1;
            var ow = l.Transposed ? ((l.W - 1) * l.S) - (2 * l.P) + l.K : ((l.W + (2 * l.P) - l.K) / l.S) + 1;
            // A transposed convolution runs the kernels of the convolution it is the adjoint of.
            var g = l.Transposed
                ? new ConvGeometry(l.N, l.Cout, oh, ow, l.Cin, l.K, l.K, l.S, l.S, l.P, l.P, 1, 1, l.H, l.W)
                : new ConvGeometry(l.N, l.Cin, l.H, l.W, l.Cout, l.K, l.K, l.S, l.S, l.P, l.P, 1, 1, oh, ow);
            var flops = 2.0 * g.N * g.O * g.Ohw * g.Ckk;
            var parts = new (string Part, Action<float[], float[], float[]> Run)[]
            {
                ("fwd", (x, w, y) => Conv.Forward(x, w, y, g)),
                ("dgrad", (x, w, y) => Conv.BackwardData(y, w, x, g)),
                ("wgrad", (x, w, y) => Conv.BackwardWeight(x, y, w, g)),
            };
            foreach (var (part, run) in parts)
            {
                yield return new Workload($"{l.Name} {part}", flops, null, () =>
                {
                    var gen = new Generator(0);
                    var x = gen.Uniform([g.N * g.C * g.Hw]).ToFloatArray();
                    var w = gen.Uniform([g.O * g.Ckk]).ToFloatArray();
                    var y = gen.Uniform([g.N * g.O * g.Ohw]).ToFloatArray();
                    return () => run(x, w, y);
                });
            }
        }
    }
}
