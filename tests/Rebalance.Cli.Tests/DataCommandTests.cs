using Rebalance.Data.Formats;
using Spectre.Console;

namespace Rebalance.Cli.Tests;

/// <summary>The rebalance data commands, end to end on a small PNG dataset made here.</summary>
public class DataCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 240;
        var error = new StringWriter();
        var code = Program.Run(args, console, error);
        return (code, output.ToString(), error.ToString());
    }

    private static string MakeDataset()
    {
        var dir = Path.Combine(Path.GetTempPath(), "rebalance-cli-" + Guid.NewGuid().ToString("N"));
        var counts = new[] { 12, 9, 6 };
        foreach (var split in new[] { "train", "test" })
        {
            for (var c = 0; c < counts.Length; c++)
            {
                for (var i = 0; i < (split == "train" ? counts[c] : 2); i++)
                {
                    Png.WritePlanar(Path.Combine(dir, split, $"cls{c}", $"{i}.png"), 1, 4, 4, Enumerable.Range(0, 16).Select(v => (byte)((v * 9) + (c * 50) + i)).ToArray());
                }
            }
        }
        return dir;
    }

    [Fact]
    public void AJpegFolderInEcoganLayoutIsReadAndExportSaysJpegIsLossy()
    {
        // ECOGAN's data script writes train/<class>/<n>.jpeg and valid/<class>/<n>.jpeg.
        var dir = Path.Combine(Path.GetTempPath(), "rebalance-jpeg-" + Guid.NewGuid().ToString("N"));
        var jpeg = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "images", "digit.jpg"));
        foreach (var (split, n) in new[] { ("train", 5), ("valid", 2) })
        {
            foreach (var cls in new[] { "0", "1" })
            {
                Directory.CreateDirectory(Path.Combine(dir, split, cls));
                for (var i = 0; i < n; i++)
                {
                    File.WriteAllBytes(Path.Combine(dir, split, cls, $"{i}.jpeg"), jpeg);
                }
            }
        }
        File.WriteAllText(Path.Combine(dir, "train", "0", "README.txt"), "notes");
        var (code, output, err) = Run("data", "show", dir);
        Assert.True(code == 0, err);
        Assert.Contains("skipped 1 file(s) that are not PNG, JPEG, BMP, GIF or TGA images (e.g. README.txt)", output, StringComparison.Ordinal);
        Assert.Contains("10 training images, 4 test images, 1 channel of 28x28, 2 classes", output, StringComparison.Ordinal);
        var outDir = Path.Combine(dir, "..", Path.GetFileName(dir) + "-export");
        (code, output, err) = Run("data", "export", dir, "--protocol", "none", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("JPEG files, which are lossy", output, StringComparison.Ordinal);
        Assert.Equal([5, 5], ImageFolder.Load(Path.Combine(outDir, "train")).ClassCounts());
        // A corrupt JPEG is one line naming it, exit code 1.
        File.WriteAllBytes(Path.Combine(dir, "valid", "1", "0.jpeg"), jpeg[..40]);
        (code, _, err) = Run("data", "show", dir);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {Path.Combine(dir, "valid", "1", "0.jpeg")}: truncated JPEG", err, StringComparison.Ordinal);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void ShowPrintsCountsBeforeAndAfterTheProtocol()
    {
        var dir = MakeDataset();
        var (code, output, err) = Run("data", "show", dir, "--protocol", "counts:12,3,1");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains("27 training images, 6 test images, 1 channel of 4x4, 3 classes", output);
        Assert.Matches(@"cls1\s*│\s*9\s*│\s*3\s*│\s*2", output);
        Assert.Contains("imbalance ratio after the protocol (largest / smallest class): 12", output);
    }

    [Fact]
    public void ExportWritesTrainAndTestThatReadBackWithTheSameCounts()
    {
        var dir = MakeDataset();
        var outDir = Path.Combine(Path.GetTempPath(), "rebalance-cli-out-" + Guid.NewGuid().ToString("N"));
        var (code, _, err) = Run("data", "export", dir, "--protocol", "step:2:4", "--out", outDir, "--seed", "3");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Equal([12, 9, 3], ImageFolder.Load(Path.Combine(outDir, "train")).ClassCounts());
        Assert.Equal([2, 2, 2], ImageFolder.Load(Path.Combine(outDir, "test")).ClassCounts());
        var again = Run("data", "show", Path.Combine(outDir, "train"));
        Assert.Matches(@"cls2\s*│\s*3\s*│\s*3", again.Out);
        var exists = Run("data", "export", dir, "--protocol", "none", "--out", outDir);
        Assert.Equal(1, exists.Code);
        Assert.Contains("not empty", exists.Err);
    }

    [Fact]
    public void GridWritesAPng()
    {
        var file = Path.Combine(Path.GetTempPath(), "rebalance-grid-" + Guid.NewGuid().ToString("N") + ".png");
        var (code, _, _) = Run("data", "grid", MakeDataset(), "--out", file, "--per-class", "3");
        Assert.Equal(0, code);
        var img = Png.Read(file);
        Assert.Equal((2 + (3 * 6), 2 + (3 * 6)), (img.Width, img.Height));
    }

    [Theory]
    [InlineData("unknown protocol 'nope'", "data", "show", "{dir}", "--protocol", "nope")]
    [InlineData("asks for 50 images of class 0", "data", "show", "{dir}", "--protocol", "counts:50,1,1")]
    [InlineData("neither a known dataset", "data", "show", "/no/such/folder")]
    [InlineData("unknown dataset 'cifar11'", "data", "get", "cifar11")]
    public void BadInputGivesOneLineAndExitCodeOne(string expected, params string[] args)
    {
        var dir = MakeDataset();
        var (code, output, err) = Run([.. args.Select(a => a.Replace("{dir}", dir, StringComparison.Ordinal))]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", err);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", err + output); // no stack trace
    }

    [Fact]
    public void CorruptImageIsNamed()
    {
        var dir = MakeDataset();
        var victim = Path.Combine(dir, "train", "cls1", "3.png");
        var bytes = File.ReadAllBytes(victim);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(victim, bytes);
        var (code, _, err) = Run("data", "show", dir);
        Assert.Equal(1, code);
        Assert.Contains("3.png", err);
    }

    [Fact]
    public void MissingRequiredOptionIsAUsageError()
    {
        var (code, _, _) = Run("data", "export", MakeDataset());
        Assert.NotEqual(0, code);
    }
}
