
namespace Rebalance.Generative.Tests;

/// <summary>The image sizes every architecture that takes any size is run through: the smallest and largest
/// sides, the two published sizes, an odd square, a power of 2 and a rectangle (height, width, channels).</summary>
public static class TestSizes
{
    public static TheoryData<int, int, int> Every => new()
    {
        { 16, 16, 1 },
        { 28, 28, 1 },
        { 32, 32, 3 },
        { 50, 50, 3 },
        { 50, 30, 1 },
        { 64, 64, 1 },
        { 128, 128, 1 },
    };
}
