using Rebalance.Data.Acquisition;

namespace Rebalance.Bench;

/// <summary>Data loading: all 70,000 MNIST images (training and test IDX files, fetched on first use).</summary>
internal static class DataWorkloads
{
    public static IEnumerable<Workload> All()
    {
        yield return new Workload("load mnist (70,000 images)", 0, null, () =>
        {
            DatasetCatalog.Get("mnist");
            return () => DatasetCatalog.Load("mnist");
        });
    }
}
