using Rebalance.Data;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>
/// Runs a network over a dataset's images in batches, without gradients, and gathers one row of floats per
/// image: the features of a discriminator or an encoder, or an encoder's codes.
/// </summary>
public static class ImageRows
{
    /// <summary>Images per batch.</summary>
    public const int Batch = 256;

    /// <summary>One row per image of <paramref name="indices"/> (all of <paramref name="data"/> when null),
    /// in that order: <paramref name="forward"/> maps a batch of images in [−1, 1] (and the batch's indices
    /// into <paramref name="data"/>) to a tensor with one row per image.</summary>
    public static float[][] Of(Dataset data, Func<Tensor, int[], Tensor> forward, IReadOnlyList<int>? indices = null)
    {
        var all = indices ?? [.. Enumerable.Range(0, data.Count)];
        var rows = new float[all.Count][];
        using var noGrad = GradMode.NoGrad();
        for (var start = 0; start < all.Count; start += Batch)
        {
            var part = all.Skip(start).Take(Batch).ToArray();
            using var scope = TensorScope.Begin();
            var values = forward(data.ToTensor(PixelRange.MinusOneToOne, part), part).ToFloatArray();
            var width = values.Length / part.Length;
            for (var k = 0; k < part.Length; k++)
            {
                rows[start + k] = values[(k * width)..((k + 1) * width)];
            }
        }
        return rows;
    }

    /// <summary>Images made by <paramref name="model"/> in evaluation mode and without gradients, in batches:
    /// <paramref name="draw"/>(start, length) returns images (len, C, H, W) in [−1, 1] for rows start ...
    /// start + len − 1; the result is <paramref name="n"/> images of <paramref name="imageSize"/> bytes. The
    /// model's training mode is restored afterwards.</summary>
    public static byte[] Generate(Module model, int n, int imageSize, Func<int, int, Tensor> draw)
    {
        var bytes = new byte[n * imageSize];
        var wasTraining = model.Training;
        model.Eval();
        using (GradMode.NoGrad())
        {
            for (var start = 0; start < n; start += Batch)
            {
                var len = Math.Min(Batch, n - start);
                using var scope = TensorScope.Begin();
                Dataset.ToBytes(draw(start, len)).CopyTo(bytes.AsSpan(start * imageSize));
            }
        }
        model.Train(wasTraining);
        return bytes;
    }
}
