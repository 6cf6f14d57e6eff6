using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rebalance.Tensors;

namespace Rebalance.Bench;

/// <summary>
/// Micro-benchmarks of the engine against PyTorch on the same machine, in the same run.
/// Usage: dotnet run -c Release --project bench/Rebalance.Bench -- [gemm] [conv] [convparts] [data] [--json] [--no-peer] [--seconds S]
/// With no suite named, all run. Ratio = PyTorch time / our time (above 1 means we are faster).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var json = args.Contains("--json");
        var noPeer = args.Contains("--no-peer");
        var seconds = 1.0;
        var si = Array.IndexOf(args, "--seconds");
        if (si >= 0 && (si + 1 >= args.Length || !double.TryParse(args[si + 1], CultureInfo.InvariantCulture, out seconds) || seconds <= 0))
        {
            Console.Error.WriteLine("error: --seconds needs a positive number");
            return 2;
        }
        var suites = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (si < 0 || i != si + 1)).ToList();
        var known = new[] { "gemm", "conv", "convparts", "data" };
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
            suites.AddRange(["gemm", "conv", "data"]);
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
        if (!json)
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
        return 0;
    }
}

/// <summary>One timed unit: a factory for the step closure, its FLOP count, and the peer's description of the same work.</summary>
internal sealed record Workload(string Name, double Flops, JsonObject? PeerSpec, Func<Action> Setup);
