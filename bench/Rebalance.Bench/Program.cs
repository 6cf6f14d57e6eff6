using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rebalance.Tensors;

namespace Rebalance.Bench;

/// <summary>
/// Micro-benchmarks of the engine against PyTorch on the same machine, in the same run.
/// Usage: dotnet run -c Release --project bench/Rebalance.Bench -- [gemm] [gemmparts] [conv] [convparts] [data] [dcgan28] [wgangp28] [cnn28] [progan28] [--json] [--no-peer] [--seconds S] [--passes P] [--profile] [--isa avx2|native]
/// or -- decode (image decoders against each other, no peer; see DecodeBench),
/// or -- quality (what judging generated images costs, no peer; see QualityBench).
/// With nothing named, gemm, conv, data and the three training workloads run. Ratio = PyTorch time /
/// our time (above 1 means we are faster). With --passes P, the peer and our side take turns P times
/// (peer, ours, peer, ours, ...), each side's best pass is reported, and so is the range of the ratios of
/// single passes: a slow spell of this shared machine then falls on both sides alike instead of on
/// whichever ran during it. With --profile, each training workload also prints the time per op of its
/// step (averaged over 20 steps; 4 for progan28). progan28 (ProGAN fully grown at MNIST's size, one WGAN-GP
/// step with the drift term, as `arch: progan` trains) is ours only and runs only when named.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args is ["decode"])
        {
            DecodeBench.Run();
            return 0;
        }
        if (args is ["quality"])
        {
            QualityBench.Run();
            return 0;
        }
        var isaAt = Array.IndexOf(args, "--isa");
        s_isa = isaAt >= 0 && isaAt + 1 < args.Length ? args[isaAt + 1] : "native";
        if (isaAt >= 0 && s_isa is not ("avx2" or "native"))
        {
            Console.Error.WriteLine("error: --isa needs avx2 or native");
            return 2;
        }
        if (s_isa == "avx2")
        {
            // A fair AVX2-against-AVX2 run on an AVX-512 machine: our JIT without AVX-512 (read when the
            // runtime starts, so the bench runs itself again), the peer's ATen, oneDNN and OpenBLAS capped.
            if (Engine.InstructionSet.Contains("512", StringComparison.Ordinal) && Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") != "0")
            {
                return Relaunch(args, ("DOTNET_EnableAVX512", "0"), ("DOTNET_EnableAVX512F", "0"));
            }
            Peer.Env["ATEN_CPU_CAPABILITY"] = "avx2";
            Peer.Env["ONEDNN_MAX_CPU_ISA"] = "AVX2";
            Peer.Env["OPENBLAS_CORETYPE"] = "Haswell";
        }
        args = [.. args.Where((a, i) => isaAt < 0 || (i != isaAt && i != isaAt + 1))];
        var json = args.Contains("--json");
        var noPeer = args.Contains("--no-peer");
        var profile = args.Contains("--profile");
        var seconds = 1.0;
        var si = Array.IndexOf(args, "--seconds");
        if (si >= 0 && (si + 1 >= args.Length || !double.TryParse(args[si + 1], CultureInfo.InvariantCulture, out seconds) || seconds <= 0))
        {
            Console.Error.WriteLine("error: --seconds needs a positive number");
            return 2;
        }
        var passes = 1;
        var pi = Array.IndexOf(args, "--passes");
        if (pi >= 0 && (pi + 1 >= args.Length || !int.TryParse(args[pi + 1], CultureInfo.InvariantCulture, out passes) || passes < 1 || passes > 20))
        {
            Console.Error.WriteLine("error: --passes needs a whole number from 1 to 20");
            return 2;
        }
        var suites = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (si < 0 || i != si + 1) && (pi < 0 || i != pi + 1)).ToList();
        var known = new[] { "gemm", "gemmparts", "conv", "convparts", "data", "dcgan28", "wgangp28", "cnn28", "progan28" };
        foreach (var s in suites)
        {
            if (!known.Contains(s))
            {
                Console.Error.WriteLine($"error: unknown suite '{s}' (known: {string.Join(", ", known)})");
                return 2;
            }
        }
        if (suites.Count == 0)
        {
            suites.AddRange(["gemm", "conv", "data", .. TrainWorkloads.Names]);
        }

        var workloads = new List<Workload>();
        if (suites.Contains("gemm"))
        {
            workloads.AddRange(OpWorkloads.Gemms());
        }
        if (suites.Contains("gemmparts"))
        {
            workloads.AddRange(OpWorkloads.GemmParts());
        }
        if (suites.Contains("conv"))
        {
            workloads.AddRange(OpWorkloads.Convs());
        }
        if (suites.Contains("convparts"))
        {
            workloads.AddRange(OpWorkloads.ConvParts());
        }
        if (suites.Contains("data"))
        {
            workloads.AddRange(DataWorkloads.All());
        }

        var training = TrainWorkloads.Names.Append("progan28").Where(suites.Contains).ToList();

        if (!json)
        {
            Console.WriteLine($"Rebalance bench: {Environment.ProcessorCount} cores, engine threads {Engine.NumThreads}, kernels {Engine.InstructionSet}, .NET {Environment.Version}{(s_isa == "avx2" ? ", --isa avx2 (DOTNET_EnableAVX512=0)" : "")}");
        }
        var peerSpecs = workloads.Where(w => w.PeerSpec is not null).Select(w => (JsonNode)w.PeerSpec!).ToArray();
        var results = workloads.ToDictionary(w => w.Name, _ => new Passes());
        for (var pass = 0; pass < passes && workloads.Count > 0; pass++)
        {
            var peer = noPeer || peerSpecs.Length == 0 ? [] : Peer.Run("torch_ops.py", new JsonArray([.. peerSpecs.Select(p => p.DeepClone())]), seconds);
            foreach (var w in workloads)
            {
                results[w.Name].Add(Timing.BestSecondsPerIter(w.Setup(), seconds), peer.TryGetValue(w.Name, out var t) ? t : null);
            }
        }
        if (!json && !noPeer && Peer.Unavailable is { } why)
        {
            Console.WriteLine($"PyTorch peer unavailable: {why}");
        }
        PrintPeerInfo(json);
        if (!json && workloads.Count > 0)
        {
            Console.WriteLine($"{"workload",-28} {"ours ms",10} {"torch ms",10} {"ratio",7} {"ours GFLOP/s",13}{(passes > 1 && !noPeer ? "  ratio per pass" : "")}");
        }
        foreach (var w in workloads)
        {
            var r = results[w.Name];
            var ours = r.Ours;
            var theirs = r.Theirs;
            var ratio = theirs / ours;
            double? gflops = w.Flops > 0 ? w.Flops / ours / 1e9 : null;
            if (json)
            {
                var o = new JsonObject
                {
                    ["workload"] = w.Name,
                    ["seconds_per_iter"] = ours,
                    ["peer_seconds_per_iter"] = theirs,
                    ["ratio"] = ratio,
                    ["gflops"] = gflops is { } gf ? Math.Round(gf, 2) : null,
                    ["passes"] = passes,
                    ["pass_ratio_min"] = r.RatioRange?.Min,
                    ["pass_ratio_max"] = r.RatioRange?.Max,
                };
                Console.WriteLine(o.ToJsonString());
            }
            else
            {
                Console.WriteLine($"{w.Name,-28} {ours * 1e3,10:F3} {(theirs is { } th ? (th * 1e3).ToString("F3", CultureInfo.InvariantCulture) : "-"),10} {Format(ratio),7} {(gflops is { } gf ? gf.ToString("F1", CultureInfo.InvariantCulture) : "-"),13}{PassColumn(r, passes)}");
            }
        }
        if (training.Count > 0)
        {
            RunTraining(training, json, noPeer, seconds, profile, passes);
        }
        return 0;
    }

    /// <summary>Training steps: samples per second against the peer, and managed bytes allocated per
    /// step in steady state (after the warm-up, averaged over the timed steps).</summary>
    private static void RunTraining(List<string> names, bool json, bool noPeer, double seconds, bool profile, int passes)
    {
        var specs = new JsonArray([.. names.Where(TrainWorkloads.Names.Contains).Select(n => (JsonNode)new JsonObject { ["name"] = n })]);
        var steps = names.ToDictionary(n => n, n => TrainWorkloads.Setup(n)());
        var allocs = new Dictionary<string, long>();
        foreach (var name in names)
        {
            var step = steps[name];
            // progan28 is tens of times the others' step: fewer warm-up, counted and profiled steps.
            var few = name == "progan28";
            for (var i = 0; i < (few ? 2 : 5); i++)
            {
                step();
            }
            var counted = few ? 3 : 10;
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < counted; i++)
            {
                step();
            }
            allocs[name] = (GC.GetTotalAllocatedBytes(precise: true) - before) / counted;
            if (Environment.GetEnvironmentVariable("REBALANCE_ALLOC_PROFILE") == "1")
            {
                using var allocations = new AllocationProfile();
                for (var i = 0; i < 20; i++)
                {
                    step();
                }
                Console.WriteLine($"{name}: sampled allocations by type");
                allocations.Print(20);
            }
            if (profile)
            {
                var profiled = few ? 4 : 20;
                using var ops = OpProfile.Start();
                for (var i = 0; i < profiled; i++)
                {
                    step();
                }
                Console.WriteLine($"{name}: time per op, one step (mean of {profiled})");
                Console.WriteLine(ops.Format(steps: profiled));
            }
        }
        var results = names.ToDictionary(n => n, _ => new Passes());
        for (var pass = 0; pass < passes; pass++)
        {
            var peer = noPeer ? [] : Peer.Run("torch_train.py", (JsonArray)specs.DeepClone(), seconds);
            foreach (var name in names)
            {
                results[name].Add(Timing.BestSecondsPerIter(steps[name], seconds), peer.TryGetValue(name, out var t) ? t : null);
            }
        }
        if (!json)
        {
            if (!noPeer && Peer.Unavailable is { } why)
            {
                Console.WriteLine($"PyTorch peer unavailable: {why}");
            }
            PrintPeerInfo(json);
            Console.WriteLine();
            Console.WriteLine($"{"training step",-14} {"samples/s",10} {"torch samples/s",16} {"ratio",7} {"alloc bytes/step",17}{(passes > 1 && !noPeer ? "  ratio per pass" : "")}");
        }
        foreach (var name in names)
        {
            var r = results[name];
            var batch = TrainWorkloads.BatchSize(name);
            var sps = batch / r.Ours;
            double? peerSps = batch / r.Theirs;
            var ratio = sps / peerSps;
            if (json)
            {
                Console.WriteLine(new JsonObject
                {
                    ["workload"] = name,
                    ["samples_per_s"] = Math.Round(sps, 1),
                    ["peer_samples_per_s"] = peerSps is { } p ? Math.Round(p, 1) : null,
                    ["ratio"] = ratio is { } q ? Math.Round(q, 3) : null,
                    ["alloc_bytes_per_step"] = allocs[name],
                    ["passes"] = passes,
                    ["pass_ratio_min"] = r.RatioRange?.Min,
                    ["pass_ratio_max"] = r.RatioRange?.Max,
                }.ToJsonString());
            }
            else
            {
                Console.WriteLine($"{name,-14} {sps,10:F1} {(peerSps is { } p ? p.ToString("F1", CultureInfo.InvariantCulture) : "-"),16} {Format(ratio),7} {allocs[name],17:N0}{PassColumn(r, passes)}");
            }
        }
    }

    private static string s_isa = "native";
    private static bool s_peerInfoShown;

    /// <summary>Once per run: what the peer runs, and whether each cap of --isa avx2 took effect.</summary>
    private static void PrintPeerInfo(bool json)
    {
        if (json || s_peerInfoShown || Peer.Info is not { } info)
        {
            return;
        }
        s_peerInfoShown = true;
        string? Get(string key) => info[key] is JsonValue v && v.TryGetValue<string>(out var text) ? text : info[key]?.ToJsonString();
        Console.WriteLine($"PyTorch peer: torch {Get("torch")}, {Get("threads")} threads, ATen CPU capability {Get("capability") ?? "unknown"}, OpenBLAS core {Get("openblas_core") ?? "unknown"}, oneDNN {(Get("mkldnn") == "true" ? "available" : "not built in")}");
        if (s_isa == "avx2")
        {
            var capOk = string.Equals(Get("capability"), "AVX2", StringComparison.OrdinalIgnoreCase);
            var blasOk = Get("openblas_core") is "Haswell";
            Console.WriteLine($"--isa avx2 on the peer: ATEN_CPU_CAPABILITY {(capOk ? "took effect" : "did NOT take effect")}, OPENBLAS_CORETYPE {(blasOk ? "took effect" : "did NOT take effect")}, ONEDNN_MAX_CPU_ISA set ({(Get("mkldnn") == "true" ? "oneDNN cannot report it" : "oneDNN is not built in, so it does not apply")})");
        }
    }

    /// <summary>Runs this bench again with extra environment variables (ones the runtime reads at start).</summary>
    private static int Relaunch(string[] args, params (string Key, string Value)[] env)
    {
        var exe = Environment.ProcessPath!;
        var psi = new System.Diagnostics.ProcessStartInfo(exe) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    private static string Format(double? ratio) => ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "-";

    private static string PassColumn(Passes r, int passes) =>
        passes > 1 && r.RatioRange is { } range ? $"  {Format(range.Min)}-{Format(range.Max)}" : "";

    /// <summary>One workload's times over the passes: each side's best, and the range of per-pass ratios.</summary>
    private sealed class Passes
    {
        private readonly List<double> ratios = [];

        public double Ours { get; private set; } = double.MaxValue;

        public double? Theirs { get; private set; }

        public (double Min, double Max)? RatioRange => ratios.Count == 0 ? null : (ratios.Min(), ratios.Max());

        public void Add(double ours, double? theirs)
        {
            Ours = Math.Min(Ours, ours);
            if (theirs is { } t)
            {
                Theirs = Math.Min(Theirs ?? double.MaxValue, t);
                ratios.Add(t / ours);
            }
        }
    }
}

/// <summary>One timed unit: a factory for the step closure, its FLOP count, and the peer's description of the same work.</summary>
internal sealed record Workload(string Name, double Flops, JsonObject? PeerSpec, Func<Action> Setup);
