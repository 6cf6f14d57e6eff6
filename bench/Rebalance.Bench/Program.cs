using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rebalance.Tensors;

namespace Rebalance.Bench;

/// <summary>
/// Micro-benchmarks of the engine against PyTorch on the same machine, in the same run.
/// Usage: dotnet run -c Release --project bench/Rebalance.Bench -- [gemm] [conv] [convparts] [data] [dcgan28] [wgangp28] [cnn28] [--json] [--no-peer] [--seconds S] [--profile]
/// With nothing named, gemm, conv, data and the three training workloads run. Ratio = PyTorch time /
/// our time (above 1 means we are faster). With --profile, each training workload also prints the
/// time per op of its step (averaged over 20 steps).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
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
        var suites = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (si < 0 || i != si + 1)).ToList();
        var known = new[] { "gemm", "conv", "convparts", "data", "dcgan28", "wgangp28", "cnn28" };
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

        var training = TrainWorkloads.Names.Where(suites.Contains).ToList();

        if (!json)
        {
            Console.WriteLine($"Rebalance bench: {Environment.ProcessorCount} cores, engine threads {Engine.NumThreads}, kernels {Engine.InstructionSet}, .NET {Environment.Version}");
        }
        var peerSpecs = workloads.Where(w => w.PeerSpec is not null).Select(w => (JsonNode)w.PeerSpec!).ToArray();
        var peer = noPeer || peerSpecs.Length == 0 ? [] : Peer.Run("torch_ops.py", new JsonArray(peerSpecs), seconds);
        if (!json && !noPeer && Peer.Unavailable is { } why)
        {
            Console.WriteLine($"PyTorch peer unavailable: {why}");
        }
        if (!json && workloads.Count > 0)
        {
            Console.WriteLine($"{"workload",-28} {"ours ms",10} {"torch ms",10} {"ratio",7} {"ours GFLOP/s",13}");
        }
        foreach (var w in workloads)
        {
            var ours = Timing.BestSecondsPerIter(w.Setup(), seconds);
            double? theirs = peer.TryGetValue(w.Name, out var t) ? t : null;
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
                };
                Console.WriteLine(o.ToJsonString());
            }
            else
            {
                Console.WriteLine($"{w.Name,-28} {ours * 1e3,10:F3} {(theirs is { } th ? (th * 1e3).ToString("F3", CultureInfo.InvariantCulture) : "-"),10} {(ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "-"),7} {(gflops is { } gf ? gf.ToString("F1", CultureInfo.InvariantCulture) : "-"),13}");
            }
        }
        if (training.Count > 0)
        {
            RunTraining(training, json, noPeer, seconds, profile);
        }
        return 0;
    }

    /// <summary>Training steps: samples per second against the peer, and managed bytes allocated per
    /// step in steady state (after the warm-up, averaged over the timed steps).</summary>
    private static void RunTraining(List<string> names, bool json, bool noPeer, double seconds, bool profile)
    {
        var specs = new JsonArray([.. names.Select(n => (JsonNode)new JsonObject { ["name"] = n })]);
        var peer = noPeer ? [] : Peer.Run("torch_train.py", specs, seconds);
        if (!json)
        {
            if (!noPeer && Peer.Unavailable is { } why)
            {
                Console.WriteLine($"PyTorch peer unavailable: {why}");
            }
            Console.WriteLine();
            Console.WriteLine($"{"training step",-14} {"samples/s",10} {"torch samples/s",16} {"ratio",7} {"alloc bytes/step",17}");
        }
        foreach (var name in names)
        {
            var step = TrainWorkloads.Setup(name)();
            for (var i = 0; i < 5; i++)
            {
                step();
            }
            var steps = 10;
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < steps; i++)
            {
                step();
            }
            var alloc = (GC.GetTotalAllocatedBytes(precise: true) - before) / steps;
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
                using var ops = OpProfile.Start();
                for (var i = 0; i < 20; i++)
                {
                    step();
                }
                Console.WriteLine($"{name}: time per op, one step (mean of 20)");
                Console.WriteLine(ops.Format(steps: 20));
            }
            var ours = Timing.BestSecondsPerIter(step, seconds);
            var batch = TrainWorkloads.BatchSize(name);
            var sps = batch / ours;
            double? peerSps = peer.TryGetValue(name, out var t) ? batch / t : null;
            var ratio = sps / peerSps;
            if (json)
            {
                Console.WriteLine(new JsonObject
                {
                    ["workload"] = name,
                    ["samples_per_s"] = Math.Round(sps, 1),
                    ["peer_samples_per_s"] = peerSps is { } p ? Math.Round(p, 1) : null,
                    ["ratio"] = ratio is { } r ? Math.Round(r, 3) : null,
                    ["alloc_bytes_per_step"] = alloc,
                }.ToJsonString());
            }
            else
            {
                Console.WriteLine($"{name,-14} {sps,10:F1} {(peerSps is { } p ? p.ToString("F1", CultureInfo.InvariantCulture) : "-"),16} {(ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "-"),7} {alloc,17:N0}");
            }
        }
    }
}

/// <summary>One timed unit: a factory for the step closure, its FLOP count, and the peer's description of the same work.</summary>
internal sealed record Workload(string Name, double Flops, JsonObject? PeerSpec, Func<Action> Setup);
