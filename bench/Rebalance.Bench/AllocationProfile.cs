using System.Diagnostics.Tracing;

namespace Rebalance.Bench;

/// <summary>Samples managed allocations by type through the runtime's allocation-tick events (one event
/// per ~100 KB allocated), to find what a steady-state step still allocates.</summary>
internal sealed class AllocationProfile : EventListener
{
    private readonly Dictionary<string, long> _bytes = [];
    private readonly Lock _lock = new();

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null)
        {
            return;
        }
        var type = e.Payload![e.PayloadNames.IndexOf("TypeName")] as string ?? "?";
        var amount = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("AllocationAmount64")], System.Globalization.CultureInfo.InvariantCulture);
        lock (_lock)
        {
            _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
        }
    }

    public void Print(int steps)
    {
        lock (_lock)
        {
            foreach (var (type, bytes) in _bytes.OrderByDescending(kv => kv.Value).Take(15))
            {
                Console.WriteLine($"  {bytes / steps,12:N0} bytes/step  {type}");
            }
        }
    }
}
