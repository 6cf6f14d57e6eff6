using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rebalance.Bench;

/// <summary>Runs bench/peers/torch_ops.py under the system Python (Debian's python3-torch) when it is there.</summary>
internal static class Peer
{
    private const string Python = "/usr/bin/python3";

    public static string? Unavailable { get; private set; }

    /// <summary>What the peer said it runs (torch version, CPU capability, OpenBLAS core), from its first line.</summary>
    public static JsonObject? Info { get; private set; }

    /// <summary>Environment variables for the peer process (<c>--isa avx2</c> caps its instruction set).</summary>
    public static Dictionary<string, string> Env { get; } = [];

    public static Dictionary<string, double> Run(string script, JsonArray workloads, double minSeconds)
    {
        var result = new Dictionary<string, double>();
        if (!File.Exists(Python))
        {
            Unavailable = $"{Python} not found";
            return result;
        }
        var path = FindScript(script);
        if (path is null)
        {
            Unavailable = $"peer script {script} not found (run from the repository)";
            return result;
        }
        var psi = new ProcessStartInfo(Python, path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (k, v) in Env)
        {
            psi.Environment[k] = v;
        }
        using var p = Process.Start(psi)!;
        var spec = new JsonObject { ["workloads"] = workloads.DeepClone(), ["min_seconds"] = minSeconds };
        p.StandardInput.Write(spec.ToJsonString());
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("info", out _))
            {
                Info = JsonNode.Parse(line)!["info"]!.AsObject();
                continue;
            }
            result[doc.RootElement.GetProperty("name").GetString()!] = doc.RootElement.GetProperty("seconds_per_iter").GetDouble();
        }
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            var err = stderr.Result.Trim().Split('\n').LastOrDefault() ?? "";
            Unavailable = err.Contains("No module named 'torch'", StringComparison.Ordinal)
                ? "PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch libopenblas0-pthread)"
                : $"peer exited with code {p.ExitCode}: {err}";
        }
        return result;
    }

    private static string? FindScript(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            var candidate = Path.Combine(dir.FullName, "bench", "peers", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
            dir = dir.Parent;
        }
        var cwd = Path.Combine(Environment.CurrentDirectory, "bench", "peers", name);
        return File.Exists(cwd) ? cwd : null;
    }
}
