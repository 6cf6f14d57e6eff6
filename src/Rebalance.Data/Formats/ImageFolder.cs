using System.Globalization;

namespace Rebalance.Data.Formats;

/// <summary>
/// Folders of PNG images with one subfolder per class (class names are the folder names, in ordinal
/// order), and the split layout with train/ and valid/ (or test/) beside each other. All images of a
/// folder must have one size; if any is in colour, all are read as RGB.
/// </summary>
public static class ImageFolder
{
    /// <summary>True when <paramref name="dir"/> has train/ and valid/ or test/ subfolders.</summary>
    public static bool IsSplitLayout(string dir) =>
        Directory.Exists(Path.Combine(dir, "train")) && (Directory.Exists(Path.Combine(dir, "valid")) || Directory.Exists(Path.Combine(dir, "test")));

    /// <summary>Loads train/ and valid/ (or test/) of a split layout; both must have the same classes.</summary>
    public static (Dataset Train, Dataset Test) LoadSplit(string dir)
    {
        var train = Load(Path.Combine(dir, "train"));
        var testDir = Directory.Exists(Path.Combine(dir, "valid")) ? Path.Combine(dir, "valid") : Path.Combine(dir, "test");
        var test = Load(testDir, train.ClassNames.ToArray());
        if (test.Channels != train.Channels || test.Height != train.Height || test.Width != train.Width)
        {
            throw new DataException($"{testDir}: images are {test.Channels}x{test.Height}x{test.Width} but those in {Path.Combine(dir, "train")} are {train.Channels}x{train.Height}x{train.Width}");
        }
        return (train, test);
    }

    /// <summary>
    /// Loads one folder of class subfolders. With <paramref name="classNames"/> the subfolders must be
    /// exactly those classes (a split's second half); otherwise they define the classes.
    /// </summary>
    public static Dataset Load(string dir, string[]? classNames = null)
    {
        if (!Directory.Exists(dir))
        {
            throw new DataException($"{dir}: folder not found");
        }
        var classDirs = Directory.GetDirectories(dir).Select(Path.GetFileName).Where(n => n is not null && !n.StartsWith('.')).Select(n => n!).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        if (classDirs.Length == 0)
        {
            throw new DataException($"{dir}: no class subfolders (expected one folder of PNG images per class)");
        }
        var names = classNames ?? classDirs;
        if (classNames is not null && !classDirs.SequenceEqual(classNames))
        {
            throw new DataException($"{dir}: class folders [{string.Join(", ", classDirs)}] differ from the training classes [{string.Join(", ", classNames)}]");
        }
        var files = new List<(string Path, int Label)>();
        for (var c = 0; c < names.Length; c++)
        {
            var classDir = Path.Combine(dir, names[c]);
            var pngs = Directory.GetFiles(classDir).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            if (pngs.Length == 0)
            {
                throw new DataException($"{classDir}: class folder '{names[c]}' has no PNG images");
            }
            files.AddRange(pngs.Select(f => (f, c)));
        }
        var images = new PngImage[files.Count];
        ForEach(files.Count, i => images[i] = Png.Read(files[i].Path));
        var first = images[0];
        for (var i = 1; i < images.Length; i++)
        {
            if (images[i].Width != first.Width || images[i].Height != first.Height)
            {
                throw new DataException($"{files[i].Path}: {images[i].Width}x{images[i].Height} pixels, but {files[0].Path} is {first.Width}x{first.Height}; all images in {dir} must have one size");
            }
        }
        var channels = images.Any(im => im.Channels >= 3) ? 3 : 1;
        var size = channels * first.Width * first.Height;
        var pixels = new byte[images.Length * size];
        for (var i = 0; i < images.Length; i++)
        {
            images[i].ToPlanar(channels).CopyTo(pixels.AsSpan(i * size));
        }
        return new Dataset(dir, pixels, [.. files.Select(f => f.Label)], channels, first.Height, first.Width, names);
    }

    /// <summary>
    /// Writes a dataset as class subfolders of PNG files (6-digit index names, "syn-" in front of
    /// synthetic images). Refuses a folder that already holds class folders unless overwrite is set.
    /// </summary>
    public static void Write(Dataset data, string dir, bool overwrite = false)
    {
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            if (!overwrite)
            {
                throw new DataException($"{dir}: folder is not empty (choose an empty or new folder)");
            }
        }
        var folderNames = data.ClassNames.Select(SafeName).ToArray();
        if (folderNames.Distinct(StringComparer.Ordinal).Count() != folderNames.Length)
        {
            throw new DataException($"class names [{string.Join(", ", data.ClassNames)}] collide once made safe for folder names");
        }
        foreach (var f in folderNames)
        {
            Directory.CreateDirectory(Path.Combine(dir, f));
        }
        ForEach(data.Count, i =>
        {
            var file = Path.Combine(dir, folderNames[data.Label(i)], (data.IsSynthetic(i) ? "syn-" : "") + i.ToString("D6", CultureInfo.InvariantCulture) + ".png");
            Png.WritePlanar(file, data.Channels, data.Height, data.Width, data.Image(i), durable: false);
        });
    }

    /// <summary>Parallel loop over files that reports the first file's own error (ordered by index), not an AggregateException.</summary>
    private static void ForEach(int count, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            var first = e.InnerExceptions.OfType<DataException>().FirstOrDefault() ?? e.InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>A class name usable as a folder name on every platform (keeps letters, digits, - _ . and space).</summary>
    public static string SafeName(string name)
    {
        var chars = name.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' or '.' or ' ' ? ch : '_').ToArray();
        var s = new string(chars).Trim();
        return s.Length == 0 || s is "." or ".." ? "_" : s;
    }
}
