using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Nodes;
using Rebalance.Tensors;
using Rebalance.Tensors.Kernels;

namespace Rebalance.Bench;

/// <summary>GEMM shapes and the convolution layers of the reference workloads (DESIGN.md), forward + backward.</summary>
internal static class OpWorkloads
{
    public static IEnumerable<Workload> Gemms()
    {
        yield return PeakFma();
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

    /// <summary>
    /// Where the GEMM's time goes (ours only): each shape on one thread, the same from operands packed
    /// beforehand (no packing in the timing), and the AVX2 6x16 micro-kernel alone on operands that stay in
    /// L1, the upper bound of what blocking and packing can reach.
    /// </summary>
    public static IEnumerable<Workload> GemmParts()
    {
        foreach (var (m, n, k) in new[] { (1024, 1024, 1024), (256, 256, 256), (128, 3136, 1152) })
        {
            yield return new Workload($"gemm {m}x{n}x{k} 1 thread", 2.0 * m * n * k, null, () =>
            {
                var gen = new Generator(0);
                var a = gen.Uniform([m * k]).ToFloatArray();
                var b = gen.Uniform([k * n]).ToFloatArray();
                var c = new float[m * n];
                return () => Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n, parallel: false);
            });
        }
        foreach (var (m, n, k) in new[] { (1024, 1024, 1024), (128, 3136, 1152) })
        {
            yield return new Workload($"gemm {m}x{n}x{k} prepacked 1 thread", 2.0 * m * n * k, null, () =>
            {
                var gen = new Generator(0);
                var a = gen.Uniform([m * k]).ToFloatArray();
                var b = gen.Uniform([k * n]).ToFloatArray();
                var c = GC.AllocateArray<float>(m * n, pinned: true);
                var pa = GC.AllocateArray<float>(Gemm.Pad(m, Gemm.Tile.Mr) * k, pinned: true);
                var pb = GC.AllocateArray<float>(Gemm.Pad(n, Gemm.Tile.Nr) * k, pinned: true);
                unsafe
                {
                    fixed (float* xa = a, xb = b, ya = pa, yb = pb)
                    {
                        Gemm.PackAFull(false, xa, k, m, k, ya);
                        Gemm.PackBFull(false, xb, n, k, n, yb);
                    }
                }
                return () =>
                {
                    unsafe
                    {
                        fixed (float* ya = pa, yb = pb, yc = c)
                        {
                            Gemm.SgemmPacked(m, n, k, 1f, ya, yb, 0f, yc, n);
                        }
                    }
                };
            });
        }
        // Packing alone, both operands of each shape in full (flops counted as the GEMM's, so the figure
        // reads as the GEMM rate if packing were all it did).
        foreach (var (m, n, k) in new[] { (1024, 1024, 1024), (128, 3136, 1152) })
        {
            yield return new Workload($"pack A {m}x{k} (1 thread)", 2.0 * m * n * k, null, () =>
            {
                var a = new Generator(0).Uniform([m * k]).ToFloatArray();
                var pa = GC.AllocateArray<float>((Gemm.Pad(m, Gemm.Tile.Mr) * k) + 64, pinned: true);
                return () =>
                {
                    unsafe
                    {
                        fixed (float* xa = a, ya = pa)
                        {
                            Gemm.PackAFull(false, xa, k, m, k, ya);
                        }
                    }
                };
            });
            yield return new Workload($"pack B {k}x{n} (1 thread)", 2.0 * m * n * k, null, () =>
            {
                var b = new Generator(0).Uniform([k * n]).ToFloatArray();
                var pb = GC.AllocateArray<float>((Gemm.Pad(n, Gemm.Tile.Nr) * k) + 64, pinned: true);
                return () =>
                {
                    unsafe
                    {
                        fixed (float* xb = b, yb = pb)
                        {
                            Gemm.PackBFull(false, xb, n, k, n, yb);
                        }
                    }
                };
            });
        }
        if (Gemm.ActiveKernel < GemmKernel.Avx2)
        {
            yield break;
        }
        foreach (var kc in new[] { 64, 256 })
        {
            yield return new Workload($"gemm micro-kernel 6x16, kc {kc}, in L1 (1 thread)", 2.0 * 6 * 16 * kc * 1000, null, () =>
            {
                var a = GC.AllocateArray<float>(6 * kc + 64, pinned: true);
                var b = GC.AllocateArray<float>(16 * kc + 64, pinned: true);
                var c = GC.AllocateArray<float>(6 * 16 + 64, pinned: true);
                return () =>
                {
                    unsafe
                    {
                        fixed (float* pa = a, pb = b, pc = c)
                        {
                            for (var r = 0; r < 1000; r++)
                            {
                                GemmMicroKernels.Kernel256(kc, pa, pb, pc, 16, 1f, false);
                            }
                        }
                    }
                };
            });
        }
    }

    /// <summary>
    /// The machine's peak FMA rate on the engine's threads and vector width, the yardstick for GEMM
    /// efficiency: each thread runs 12 independent FMA chains on registers (enough to cover the FMA
    /// latency times the number of FMA pipes on current x86 cores), no memory traffic. No peer.
    /// </summary>
    private static Workload PeakFma()
    {
        const int Iters = 1 << 20;
        var threads = Engine.NumThreads;
        var lanes = Gemm.ActiveKernel switch { GemmKernel.Avx512 => 16, GemmKernel.Avx2 => 8, _ => 1 };
        var name = $"fma peak ({(lanes == 16 ? "avx512" : lanes == 8 ? "avx2" : "scalar")}, {threads} threads)";
        return new Workload(name, 2.0 * 12 * lanes * Iters * threads, null, () => () => CpuParallel.ForEach(threads, _ => s_sink = FmaChains(Iters, lanes)));
    }

    private static volatile float s_sink;

    private static float FmaChains(int iters, int lanes)
    {
        if (lanes == 16)
        {
            var m = Vector512.Create(0.999f);
            var add = Vector512.Create(1e-3f);
            Vector512<float> c0 = add, c1 = add, c2 = add, c3 = add, c4 = add, c5 = add, c6 = add, c7 = add, c8 = add, c9 = add, c10 = add, c11 = add;
            for (var i = 0; i < iters; i++)
            {
                c0 = Avx512F.FusedMultiplyAdd(c0, m, add); c1 = Avx512F.FusedMultiplyAdd(c1, m, add); c2 = Avx512F.FusedMultiplyAdd(c2, m, add);
                c3 = Avx512F.FusedMultiplyAdd(c3, m, add); c4 = Avx512F.FusedMultiplyAdd(c4, m, add); c5 = Avx512F.FusedMultiplyAdd(c5, m, add);
                c6 = Avx512F.FusedMultiplyAdd(c6, m, add); c7 = Avx512F.FusedMultiplyAdd(c7, m, add); c8 = Avx512F.FusedMultiplyAdd(c8, m, add);
                c9 = Avx512F.FusedMultiplyAdd(c9, m, add); c10 = Avx512F.FusedMultiplyAdd(c10, m, add); c11 = Avx512F.FusedMultiplyAdd(c11, m, add);
            }
            return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        }
        if (lanes == 8)
        {
            var m = Vector256.Create(0.999f);
            var add = Vector256.Create(1e-3f);
            Vector256<float> c0 = add, c1 = add, c2 = add, c3 = add, c4 = add, c5 = add, c6 = add, c7 = add, c8 = add, c9 = add, c10 = add, c11 = add;
            for (var i = 0; i < iters; i++)
            {
                c0 = Fma.MultiplyAdd(c0, m, add); c1 = Fma.MultiplyAdd(c1, m, add); c2 = Fma.MultiplyAdd(c2, m, add);
                c3 = Fma.MultiplyAdd(c3, m, add); c4 = Fma.MultiplyAdd(c4, m, add); c5 = Fma.MultiplyAdd(c5, m, add);
                c6 = Fma.MultiplyAdd(c6, m, add); c7 = Fma.MultiplyAdd(c7, m, add); c8 = Fma.MultiplyAdd(c8, m, add);
                c9 = Fma.MultiplyAdd(c9, m, add); c10 = Fma.MultiplyAdd(c10, m, add); c11 = Fma.MultiplyAdd(c11, m, add);
            }
            return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        }
        var s = 1e-3f;
        for (var i = 0; i < iters * 12; i++)
        {
            s = MathF.FusedMultiplyAdd(s, 0.999f, 1e-3f);
        }
        return s;
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
