using System.Text.Json.Nodes;

namespace Rebalance.Evaluation.Tests;

/// <summary>The reference values the scripts in tools/ wrote into Fixtures/.</summary>
internal static class ReferenceFile
{
    public static JsonObject Load(string name) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name)))!.AsObject();
}
