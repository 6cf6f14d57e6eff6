namespace Rebalance.Data.Formats;

/// <summary>
/// CIFAR-10 and CIFAR-100 in their binary versions (Krizhevsky 2009). CIFAR-10: files
/// data_batch_1..5.bin and test_batch.bin of 3073-byte records (label, then 1024 red, 1024 green and
/// 1024 blue bytes of a 32x32 image), class names in batches.meta.txt. CIFAR-100: train.bin and test.bin
/// of 3074-byte records (coarse label, fine label, pixels), fine class names in fine_label_names.txt.
/// The fine labels are used.
/// </summary>
public static class Cifar
{
    private const int Pixels = 3 * 32 * 32;

    /// <summary>True when <paramref name="dir"/> holds CIFAR-10 or CIFAR-100 binary batches.</summary>
    public static bool IsCifarDirectory(string dir) =>
        File.Exists(Path.Combine(dir, "data_batch_1.bin")) || (File.Exists(Path.Combine(dir, "train.bin")) && File.Exists(Path.Combine(dir, "test.bin")));

    /// <summary>Loads the training and test splits from a CIFAR-10 or CIFAR-100 binary directory.</summary>
    public static (Dataset Train, Dataset Test) LoadDirectory(string dir)
    {
        if (File.Exists(Path.Combine(dir, "data_batch_1.bin")))
        {
            var names = ReadNames(Path.Combine(dir, "batches.meta.txt"), 10);
            var trainFiles = Enumerable.Range(1, 5).Select(i => Path.Combine(dir, $"data_batch_{i}.bin")).ToArray();
            foreach (var f in trainFiles.Append(Path.Combine(dir, "test_batch.bin")))
            {
                if (!File.Exists(f))
                {
                    throw new DataException($"{f}: missing (a CIFAR-10 binary folder holds data_batch_1.bin .. data_batch_5.bin and test_batch.bin)");
                }
            }
            return (Load(dir, trainFiles, labelBytes: 1, names), Load(dir, [Path.Combine(dir, "test_batch.bin")], labelBytes: 1, names));
        }
        var fine = ReadNames(Path.Combine(dir, "fine_label_names.txt"), 100);
        return (Load(dir, [Path.Combine(dir, "train.bin")], labelBytes: 2, fine), Load(dir, [Path.Combine(dir, "test.bin")], labelBytes: 2, fine));
    }

    /// <summary>Reads batch files with 1 (CIFAR-10) or 2 (CIFAR-100) label bytes per record.</summary>
    public static Dataset Load(string name, string[] files, int labelBytes, string[] classNames)
    {
        var record = labelBytes + Pixels;
        var pixels = new List<byte[]>();
        var labels = new List<int>();
        foreach (var f in files)
        {
            var raw = DataFiles.ReadAllBytes(f);
            if (raw.Length == 0 || raw.Length % record != 0)
            {
                throw new DataFormatException(f, $"{raw.Length} bytes is not a whole number of {record}-byte records");
            }
            var buf = new byte[raw.Length / record * Pixels];
            for (var r = 0; r < raw.Length / record; r++)
            {
                var label = raw[(r * record) + labelBytes - 1];
                if (label >= classNames.Length)
                {
                    throw new DataFormatException(f, $"record {r} has label {label}, outside the {classNames.Length} classes");
                }
                labels.Add(label);
                raw.AsSpan((r * record) + labelBytes, Pixels).CopyTo(buf.AsSpan(r * Pixels));
            }
            pixels.Add(buf);
        }
        return new Dataset(name, [.. pixels.SelectMany(p => p)], [.. labels], 3, 32, 32, classNames);
    }

    private static string[] ReadNames(string path, int count)
    {
        if (!File.Exists(path))
        {
            return [.. Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        }
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != count)
        {
            throw new DataFormatException(path, $"{names.Length} class names, expected {count}");
        }
        return names;
    }

    /// <summary>Writes a CIFAR-10 style batch file (used by tests and for exporting small sets).</summary>
    public static void WriteBatch(string path, Dataset data, int labelBytes = 1)
    {
        if (data.Channels != 3 || data.Height != 32 || data.Width != 32)
        {
            throw new DataException($"CIFAR batches hold 3x32x32 images, {data.Name} has {data.Channels}x{data.Height}x{data.Width}");
        }
        var record = labelBytes + Pixels;
        var raw = new byte[data.Count * record];
        for (var i = 0; i < data.Count; i++)
        {
            for (var b = 0; b < labelBytes; b++)
            {
                raw[(i * record) + b] = (byte)data.Label(i);
            }
            data.Image(i).CopyTo(raw.AsSpan((i * record) + labelBytes));
        }
        AtomicFile.Write(path, raw);
    }
}
