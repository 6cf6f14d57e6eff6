using Rebalance.Tensors;

namespace Rebalance.Data;

/// <summary>How pixel bytes map to floats.</summary>
public enum PixelRange
{
    /// <summary>0..255 to [-1, 1], the range generators with a tanh output work in.</summary>
    MinusOneToOne,

    /// <summary>0..255 to [0, 1].</summary>
    ZeroToOne,
}

/// <summary>
/// An image classification dataset: N images of C x H x W 8-bit pixels (stored compactly as bytes,
/// NCHW), an integer label per image, class names, and a flag per image that says whether it is
/// synthetic (made by a sampler or a generator) so a rebalanced set can always be told apart from the
/// real data. Immutable: subsets and concatenations return new datasets.
/// </summary>
public sealed class Dataset
{
    private readonly byte[] _pixels;
    private readonly int[] _labels;
    private readonly bool[] _synthetic;
    private readonly string[] _classNames;
    private readonly string[] _attributeNames;
    private readonly float[] _attributes;

    /// <summary>Creates a dataset; validates sizes and labels. <paramref name="attributeNames"/> and
    /// <paramref name="attributes"/> (Count rows of one value per name, NaN where unknown) carry numeric
    /// attributes per image (a folder's metadata.csv); without them the dataset has none.</summary>
    public Dataset(string name, byte[] pixels, int[] labels, int channels, int height, int width, string[] classNames, bool[]? synthetic = null, string[]? attributeNames = null, float[]? attributes = null)
    {
        if (channels is not (1 or 3) || height <= 0 || width <= 0)
        {
            throw new DataException($"{name}: images must be 1 or 3 channels of positive size, got {channels}x{height}x{width}");
        }
        var size = channels * height * width;
        if (pixels.Length != (long)labels.Length * size)
        {
            throw new DataException($"{name}: {pixels.Length} pixel bytes do not make {labels.Length} images of {channels}x{height}x{width}");
        }
        if (classNames.Length == 0)
        {
            throw new DataException($"{name}: a dataset needs at least one class");
        }
        for (var i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classNames.Length)
            {
                throw new DataException($"{name}: label {labels[i]} of image {i} is outside the {classNames.Length} classes");
            }
        }
        if (synthetic is not null && synthetic.Length != labels.Length)
        {
            throw new DataException($"{name}: {synthetic.Length} synthetic flags for {labels.Length} images");
        }
        attributeNames ??= [];
        attributes ??= attributeNames.Length == 0 ? [] : throw new DataException($"{name}: attribute names without values");
        if (attributes.Length != (long)labels.Length * attributeNames.Length)
        {
            throw new DataException($"{name}: {attributes.Length} attribute values are not {attributeNames.Length} per image for {labels.Length} images");
        }
        _attributeNames = attributeNames;
        _attributes = attributes;
        Name = name;
        _pixels = pixels;
        _labels = labels;
        _classNames = classNames;
        _synthetic = synthetic ?? new bool[labels.Length];
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Where the data came from (a dataset name or a path), for messages and reports.</summary>
    public string Name { get; }

    /// <summary>Number of images.</summary>
    public int Count => _labels.Length;

    /// <summary>Channels per image (1 grey, 3 RGB).</summary>
    public int Channels { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>Bytes per image (C * H * W).</summary>
    public int ImageSize => Channels * Height * Width;

    /// <summary>Number of classes.</summary>
    public int NumClasses => _classNames.Length;

    /// <summary>Class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>Labels, indexed by image.</summary>
    public IReadOnlyList<int> Labels => _labels;

    /// <summary>The pixels of image i, (C, H, W).</summary>
    public ReadOnlySpan<byte> Image(int i) => _pixels.AsSpan(i * ImageSize, ImageSize);

    /// <summary>The label of image i.</summary>
    public int Label(int i) => _labels[i];

    /// <summary>Names of the numeric attributes each image carries (empty when none).</summary>
    public IReadOnlyList<string> AttributeNames => _attributeNames;

    /// <summary>The attributes of image i, in <see cref="AttributeNames"/> order (NaN where unknown, as for
    /// images a method made).</summary>
    public ReadOnlySpan<float> Attributes(int i) => _attributes.AsSpan(i * _attributeNames.Length, _attributeNames.Length);

    /// <summary>Whether image i is synthetic.</summary>
    public bool IsSynthetic(int i) => _synthetic[i];

    /// <summary>Number of synthetic images.</summary>
    public int SyntheticCount => _synthetic.Count(s => s);

    /// <summary>Images per class, indexed by label.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[NumClasses];
        foreach (var l in _labels)
        {
            counts[l]++;
        }
        return counts;
    }

    /// <summary>Indices of the images of one class, in order.</summary>
    public int[] IndicesOf(int label) => [.. Enumerable.Range(0, Count).Where(i => _labels[i] == label)];

    /// <summary>The images at <paramref name="indices"/>, in that order.</summary>
    public Dataset Subset(IReadOnlyList<int> indices, string? name = null)
    {
        var size = ImageSize;
        var pixels = new byte[indices.Count * size];
        var labels = new int[indices.Count];
        var synthetic = new bool[indices.Count];
        var a = _attributeNames.Length;
        var attributes = new float[indices.Count * a];
        for (var k = 0; k < indices.Count; k++)
        {
            var i = indices[k];
            if ((uint)i >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), $"index {i} is outside the {Count} images of {Name}");
            }
            _pixels.AsSpan(i * size, size).CopyTo(pixels.AsSpan(k * size));
            labels[k] = _labels[i];
            synthetic[k] = _synthetic[i];
            _attributes.AsSpan(i * a, a).CopyTo(attributes.AsSpan(k * a));
        }
        return new Dataset(name ?? Name, pixels, labels, Channels, Height, Width, _classNames, synthetic, _attributeNames, attributes);
    }

    /// <summary>The same images (pixels, synthetic flags and attributes) with other labels and classes.</summary>
    public Dataset WithLabels(int[] labels, string[] classNames, string? name = null) =>
        labels.Length != Count
            ? throw new DataException($"{Name}: {labels.Length} labels for {Count} images")
            : new Dataset(name ?? Name, _pixels, labels, Channels, Height, Width, classNames, _synthetic, _attributeNames, _attributes);

    /// <summary>This dataset followed by <paramref name="other"/> (same image shape and classes).</summary>
    public Dataset Concat(Dataset other)
    {
        if (other.Channels != Channels || other.Height != Height || other.Width != Width)
        {
            throw new DataException($"cannot join {Name} ({Channels}x{Height}x{Width}) and {other.Name} ({other.Channels}x{other.Height}x{other.Width}): image sizes differ");
        }
        if (!other._classNames.SequenceEqual(_classNames))
        {
            throw new DataException($"cannot join {Name} and {other.Name}: their classes differ");
        }
        if (!other._attributeNames.SequenceEqual(_attributeNames))
        {
            throw new DataException($"cannot join {Name} (attributes [{string.Join(", ", _attributeNames)}]) and {other.Name} (attributes [{string.Join(", ", other._attributeNames)}]): their attributes differ");
        }
        return new Dataset(Name, [.. _pixels, .. other._pixels], [.. _labels, .. other._labels], Channels, Height, Width, _classNames, [.. _synthetic, .. other._synthetic], _attributeNames, [.. _attributes, .. other._attributes]);
    }

    /// <summary>Adds images as synthetic (made by a sampler or generator) to a copy of this dataset, with
    /// their <paramref name="attributes"/> when known (one row per image); unknown ones are NaN.</summary>
    public Dataset WithSynthetic(byte[] pixels, int[] labels, float[]? attributes = null)
    {
        var values = attributes ?? Enumerable.Repeat(float.NaN, labels.Length * _attributeNames.Length).ToArray();
        return Concat(new Dataset(Name, pixels, labels, Channels, Height, Width, _classNames, Enumerable.Repeat(true, labels.Length).ToArray(), _attributeNames, values));
    }

    /// <summary>The images as a float32 tensor (n, C, H, W) in <paramref name="range"/>; all images when indices is null.</summary>
    public Tensor ToTensor(PixelRange range = PixelRange.MinusOneToOne, IReadOnlyList<int>? indices = null)
    {
        var n = indices?.Count ?? Count;
        var size = ImageSize;
        var data = new float[n * size];
        var (scale, shift) = range == PixelRange.MinusOneToOne ? (2f / 255f, -1f) : (1f / 255f, 0f);
        for (var k = 0; k < n; k++)
        {
            var src = _pixels.AsSpan((indices?[k] ?? k) * size, size);
            var dst = data.AsSpan(k * size, size);
            for (var j = 0; j < size; j++)
            {
                dst[j] = (src[j] * scale) + shift;
            }
        }
        return Tensor.FromArray(data, n, Channels, Height, Width);
    }

    /// <summary>The labels as an int32 tensor (n); all images when indices is null.</summary>
    public Tensor LabelTensor(IReadOnlyList<int>? indices = null) =>
        Tensor.FromArray(indices is null ? (int[])_labels.Clone() : [.. indices.Select(i => _labels[i])]);

    /// <summary>
    /// Mini-batches of (images, labels). With a generator the order is a fresh seeded permutation on every
    /// call; without one it is the stored order. The last, smaller batch is kept unless dropLast.
    /// </summary>
    public IEnumerable<(Tensor Images, Tensor Labels)> Batches(int batchSize, Generator? shuffle = null, PixelRange range = PixelRange.MinusOneToOne, bool dropLast = false)
    {
        if (batchSize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        }
        var order = shuffle is null ? Enumerable.Range(0, Count).ToArray() : shuffle.Permutation(Count).ToIntArray();
        for (var start = 0; start < Count; start += batchSize)
        {
            var len = Math.Min(batchSize, Count - start);
            if (len < batchSize && dropLast)
            {
                yield break;
            }
            var idx = new ArraySegment<int>(order, start, len);
            yield return (ToTensor(range, idx), LabelTensor(idx));
        }
    }

    /// <summary>Converts a float tensor (n, C, H, W) in <paramref name="range"/> back to bytes (rounded, clamped).</summary>
    public static byte[] ToBytes(Tensor images, PixelRange range = PixelRange.MinusOneToOne)
    {
        var v = images.ToFloatArray();
        var bytes = new byte[v.Length];
        for (var i = 0; i < v.Length; i++)
        {
            var x = range == PixelRange.MinusOneToOne ? (v[i] + 1f) * 127.5f : v[i] * 255f;
            bytes[i] = float.IsNaN(x) ? (byte)0 : (byte)Math.Clamp(MathF.Round(x), 0f, 255f);
        }
        return bytes;
    }
}
