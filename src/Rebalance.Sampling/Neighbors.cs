using Rebalance.Data;
using Rebalance.Tensors;

namespace Rebalance.Sampling;

/// <summary>
/// Exact k-nearest-neighbour search on flattened images under Euclidean distance. Distances are computed
/// in blocks of queries as |r|^2 - 2 q.r (the |q|^2 term does not change a row's order) with one matrix
/// product per block, so the work runs on the engine's GEMM; ties go to the smaller index.
/// </summary>
public sealed class Neighbors
{
    private const int Block = 512;
    private readonly Tensor _refsT;
    private readonly float[] _refNorms;

    /// <summary>Indexes the images <paramref name="indices"/> of <paramref name="data"/> (all when null).</summary>
    public Neighbors(Dataset data, IReadOnlyList<int>? indices = null)
    {
        Data = data;
        Indices = indices is null ? [.. Enumerable.Range(0, data.Count)] : [.. indices];
        var refs = Features(data, Indices);
        _refNorms = RowNorms(refs, Indices.Length, data.ImageSize);
        using (GradMode.NoGrad())
        {
            _refsT = Tensor.FromArray(refs, Indices.Length, data.ImageSize).T();
        }
    }

    /// <summary>The dataset searched.</summary>
    public Dataset Data { get; }

    /// <summary>Dataset indices of the reference images; search results index into this array.</summary>
    public int[] Indices { get; }

    /// <summary>
    /// For each query image (dataset indices), the positions in <see cref="Indices"/> of its k nearest
    /// references, nearest first. A query that is itself a reference never gets itself back.
    /// </summary>
    public int[][] Search(IReadOnlyList<int> queries, int k)
    {
        var n = Indices.Length;
        var d = Data.ImageSize;
        var self = new Dictionary<int, int>(n);
        for (var j = 0; j < n; j++)
        {
            self[Indices[j]] = j;
        }
        var result = new int[queries.Count][];
        for (var start = 0; start < queries.Count; start += Block)
        {
            var len = Math.Min(Block, queries.Count - start);
            var qIdx = new int[len];
            for (var i = 0; i < len; i++)
            {
                qIdx[i] = queries[start + i];
            }
            float[] dots;
            using (GradMode.NoGrad())
            using (var scope = TensorScope.Begin())
            {
                var q = Tensor.FromArray(Features(Data, qIdx), len, d);
                dots = Tensor.MatMul(q, _refsT).ToFloatArray();
            }
            Parallel.For(0, len, i =>
            {
                var skip = self.TryGetValue(qIdx[i], out var s) ? s : -1;
                result[start + i] = TopK(dots.AsSpan(i * n, n), _refNorms, k, skip);
            });
        }
        return result;
    }

    private static int[] TopK(ReadOnlySpan<float> dots, float[] norms, int k, int skip)
    {
        var kk = Math.Min(k, norms.Length - (skip >= 0 ? 1 : 0));
        var best = new int[Math.Max(kk, 0)];
        var bestD = new float[best.Length];
        var filled = 0;
        for (var j = 0; j < norms.Length && kk > 0; j++)
        {
            if (j == skip)
            {
                continue;
            }
            var dist = norms[j] - (2 * dots[j]);
            if (filled == kk && !(dist < bestD[kk - 1]))
            {
                continue;
            }
            var pos = filled < kk ? filled++ : kk - 1;
            while (pos > 0 && dist < bestD[pos - 1])
            {
                best[pos] = best[pos - 1];
                bestD[pos] = bestD[pos - 1];
                pos--;
            }
            best[pos] = j;
            bestD[pos] = dist;
        }
        return best;
    }

    /// <summary>The images as floats in [0, 1], one row per index.</summary>
    internal static float[] Features(Dataset data, IReadOnlyList<int> indices)
    {
        var d = data.ImageSize;
        var f = new float[indices.Count * d];
        for (var i = 0; i < indices.Count; i++)
        {
            var img = data.Image(indices[i]);
            var row = f.AsSpan(i * d, d);
            for (var j = 0; j < d; j++)
            {
                row[j] = img[j] * (1f / 255f);
            }
        }
        return f;
    }

    private static float[] RowNorms(float[] rows, int n, int d)
    {
        var norms = new float[n];
        for (var i = 0; i < n; i++)
        {
            norms[i] = System.Numerics.Tensors.TensorPrimitives.SumOfSquares(rows.AsSpan(i * d, d));
        }
        return norms;
    }
}
