using System.Globalization;

namespace Rebalance.Data.Formats;

/// <summary>
/// Folders of images (PNG, JPEG, BMP, GIF, TGA, mixed freely; see <see cref="ImageFiles"/>) with one
/// subfolder per class (class names are the folder names, in ordinal order), and the split layout with
/// train/ and valid/ (or test/) beside each other. All images of a folder must have one size; if any is
/// in colour, all are read as RGB. Files that are not images (a README, .DS_Store, Thumbs.db) are
/// skipped with one warning that counts them and names any image format that is not read. A
/// <see cref="FolderMetadata.FileName"/> beside the class folders gives each image numeric attributes (one
/// row per image, no row without an image); with a <c>label</c> column the images may instead lie directly in
/// the folder, their classes taken from it.
/// </summary>
public static class ImageFolder
{
    /// <summary>True when <paramref name="dir"/> has train/ and valid/ or test/ subfolders.</summary>
    public static bool IsSplitLayout(string dir) =>
        Directory.Exists(Path.Combine(dir, "train")) && (Directory.Exists(Path.Combine(dir, "valid")) || Directory.Exists(Path.Combine(dir, "test")));

    /// <summary>Loads train/ and valid/ (or test/) of a split layout; both must have the same classes.</summary>
    public static (Dataset Train, Dataset Test) LoadSplit(string dir, Action<string>? log = null)
    {
        var train = Load(Path.Combine(dir, "train"), log: log);
        var testDir = Directory.Exists(Path.Combine(dir, "valid")) ? Path.Combine(dir, "valid") : Path.Combine(dir, "test");
        var test = Load(testDir, train.ClassNames.ToArray(), log);
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
    public static Dataset Load(string dir, string[]? classNames = null, Action<string>? log = null)
    {
        if (!Directory.Exists(dir))
        {
            throw new DataException($"{dir}: folder not found");
        }
        var classDirs = Directory.GetDirectories(dir).Select(Path.GetFileName).Where(n => n is not null && !n.StartsWith('.')).Select(n => n!).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var metaPath = Path.Combine(dir, FolderMetadata.FileName);
        var meta = File.Exists(metaPath) ? FolderMetadata.Read(metaPath) : null;
        if (classDirs.Length == 0 && meta is { HasLabel: true })
        {
            return LoadFlat(dir, meta, classNames, log);
        }
        if (classDirs.Length == 0)
        {
            throw new DataException($"{dir}: no class subfolders (expected one folder of images per class, or images beside a {FolderMetadata.FileName} with a 'label' column)");
        }
        var names = classNames ?? classDirs;
        if (classNames is not null && !classDirs.SequenceEqual(classNames))
        {
            throw new DataException($"{dir}: class folders [{string.Join(", ", classDirs)}] differ from the training classes [{string.Join(", ", classNames)}]");
        }
        var files = new List<(string Path, int Label)>();
        var skipped = new List<string>();
        for (var c = 0; c < names.Length; c++)
        {
            var classDir = Path.Combine(dir, names[c]);
            var all = Directory.GetFiles(classDir).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            var images = all.Where(ImageFiles.IsImage).ToArray();
            skipped.AddRange(all.Where(f => !ImageFiles.IsImage(f)));
            if (images.Length == 0)
            {
                throw new DataException($"{classDir}: class folder '{names[c]}' has no images (PNG, JPEG, BMP, GIF or TGA){(all.Length > 0 ? $"; its {all.Length} file(s) are none of these" : "")}");
            }
            files.AddRange(images.Select(f => (f, c)));
        }
        if (skipped.Count > 0 && log is not null)
        {
            log(SkippedWarning(dir, skipped));
        }
        return meta is null ? Decode(dir, files, names) : Decode(dir, files, names, meta.AttributeNames, AttributeValues(dir, files, names, meta));
    }

    /// <summary>Images directly in <paramref name="dir"/>, their classes from the metadata's label column
    /// (classes sorted by name, or <paramref name="classNames"/> for a split's second half).</summary>
    private static Dataset LoadFlat(string dir, FolderMetadata meta, string[]? classNames, Action<string>? log)
    {
        var all = Directory.GetFiles(dir).Where(f => System.IO.Path.GetFileName(f) != FolderMetadata.FileName).OrderBy(f => f, StringComparer.Ordinal).ToArray();
        var images = all.Where(ImageFiles.IsImage).ToArray();
        var skipped = all.Where(f => !ImageFiles.IsImage(f)).ToList();
        if (images.Length == 0)
        {
            throw new DataException($"{dir}: no images beside {FolderMetadata.FileName} (PNG, JPEG, BMP, GIF or TGA)");
        }
        if (skipped.Count > 0 && log is not null)
        {
            log(SkippedWarning(dir, skipped));
        }
        var names = classNames ?? [.. meta.Rows.Values.Select(r => r.Label!).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        var files = new List<(string Path, int Label)>();
        foreach (var f in images)
        {
            var rel = FolderMetadata.Normalise(Path.GetRelativePath(dir, f));
            if (!meta.Rows.TryGetValue(rel, out var row))
            {
                throw new DataException($"{f}: no row in {meta.Path}");
            }
            var label = Array.IndexOf(names, row.Label);
            if (label < 0)
            {
                throw new DataException($"{meta.Path}:{row.Line}: label '{row.Label}' is not one of the training classes [{string.Join(", ", names)}]");
            }
            files.Add((f, label));
        }
        return Decode(dir, files, names, meta.AttributeNames, AttributeValues(dir, files, names, meta));
    }

    /// <summary>The metadata's attributes for the images of <paramref name="files"/>, in that order: every
    /// image needs a row, every row an image, and a label column must agree with the folder.</summary>
    private static float[] AttributeValues(string dir, List<(string Path, int Label)> files, string[] names, FolderMetadata meta)
    {
        var a = meta.AttributeNames.Length;
        var values = new float[files.Count * a];
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < files.Count; i++)
        {
            var rel = FolderMetadata.Normalise(Path.GetRelativePath(dir, files[i].Path));
            if (!meta.Rows.TryGetValue(rel, out var row))
            {
                throw new DataException($"{files[i].Path}: no row in {meta.Path}");
            }
            if (row.Label is { } label && label != names[files[i].Label])
            {
                throw new DataException($"{meta.Path}:{row.Line}: label '{label}' but the image is in class folder '{names[files[i].Label]}'");
            }
            used.Add(rel);
            row.Values.CopyTo(values.AsSpan(i * a, a));
        }
        if (meta.Rows.Where(kv => !used.Contains(kv.Key)).OrderBy(kv => kv.Value.Line).Select(kv => (KeyValuePair<string, MetadataRow>?)kv).FirstOrDefault() is { } extra)
        {
            throw new DataException($"{meta.Path}:{extra.Value.Line}: '{extra.Key}' is not an image in {dir}");
        }
        return values;
    }

    /// <summary>One line about the files that were not read: how many, and which image formats among them are not supported.</summary>
    internal static string SkippedWarning(string dir, IReadOnlyList<string> skipped)
    {
        var unsupported = skipped.Where(ImageFiles.IsUnsupportedImage).GroupBy(f => Path.GetExtension(f).ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}").ToList();
        var examples = string.Join(", ", skipped.Select(Path.GetFileName).Distinct(StringComparer.Ordinal).Take(3));
        return $"warning: {dir}: skipped {skipped.Count} file(s) that are not PNG, JPEG, BMP, GIF or TGA images (e.g. {examples})"
            + (unsupported.Count > 0 ? $"; among them images in formats this tool does not read: {string.Join(", ", unsupported)}" : "");
    }

    /// <summary>Whether a class-folder dataset holds JPEG files (lossy: pixels were already altered when saved).</summary>
    public static bool HasJpeg(string dir) =>
        Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Any(ImageFiles.IsJpegName);

    private static Dataset Decode(string dir, List<(string Path, int Label)> files, string[] names, string[]? attributeNames = null, float[]? attributes = null)
    {
        var images = new RasterImage[files.Count];
        ForEach(files.Count, i => images[i] = ImageFiles.Read(files[i].Path));
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
        return new Dataset(dir, pixels, [.. files.Select(f => f.Label)], channels, first.Height, first.Width, names, null, attributeNames, attributes);
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
        string Relative(int i) => folderNames[data.Label(i)] + "/" + (data.IsSynthetic(i) ? "syn-" : "") + i.ToString("D6", CultureInfo.InvariantCulture) + ".png";
        ForEach(data.Count, i => Png.WritePlanar(Path.Combine(dir, Relative(i)), data.Channels, data.Height, data.Width, data.Image(i), durable: false));
        if (data.AttributeNames.Count > 0)
        {
            // The attributes travel with the images: NaN for those not measured (images a method made). The
            // label is the class folder's name, which is what reading the folder back calls the class.
            FolderMetadata.Write(Path.Combine(dir, FolderMetadata.FileName), data.AttributeNames, Enumerable.Range(0, data.Count).Select(i => (Relative(i), folderNames[data.Label(i)], data.Attributes(i).ToArray())));
        }
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
