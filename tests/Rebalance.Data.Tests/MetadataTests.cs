using Rebalance.Data.Formats;

namespace Rebalance.Data.Tests;

/// <summary>A folder's metadata.csv: attributes read onto the right images, carried through subsets,
/// joins and export, classes from a label column, and every mistake one line naming the row.</summary>
public sealed class MetadataTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-meta-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>Images a/0.png, a/1.png, b/0.png (4x4 grey, pixel value = 10 x index) and the CSV given.</summary>
    private string Folder(string csv, bool flat = false)
    {
        var dir = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        string[] files = flat ? ["x0.png", "x1.png", "x2.png"] : ["a/0.png", "a/1.png", "b/0.png"];
        for (var i = 0; i < files.Length; i++)
        {
            Png.WritePlanar(Path.Combine(dir, files[i]), 1, 4, 4, Enumerable.Repeat((byte)(10 * i), 16).ToArray(), durable: false);
        }
        File.WriteAllText(Path.Combine(dir, FolderMetadata.FileName), csv);
        return dir;
    }

    private const string Good = "file,label,thickness,slant\na/1.png,a,2.5,-0.25\nb/0.png,b,4,0.5\n\"a/0.png\",a,1e0,NaN\n";

    [Fact]
    public void AttributesLandOnTheirImagesAndTravelWithThem()
    {
        var d = ImageFolder.Load(Folder(Good));
        Assert.Equal(["thickness", "slant"], d.AttributeNames);
        // Images are in folder order (a/0, a/1, b/0); rows were in another order.
        Assert.Equal(0, d.Image(0)[0]);
        Assert.Equal(1f, d.Attributes(0)[0]);
        Assert.True(float.IsNaN(d.Attributes(0)[1]));
        Assert.Equal([2.5f, -0.25f], d.Attributes(1).ToArray());
        Assert.Equal([4f, 0.5f], d.Attributes(2).ToArray());
        // Subsets (protocols and splits use them) keep each image's row.
        var sub = d.Subset([2, 1]);
        Assert.Equal([4f, 0.5f], sub.Attributes(0).ToArray());
        Assert.Equal([2.5f, -0.25f], sub.Attributes(1).ToArray());
        // Images a method adds have no measured attributes unless it gives them.
        var more = d.WithSynthetic(new byte[32], [0, 1]);
        Assert.True(float.IsNaN(more.Attributes(3)[0]) && float.IsNaN(more.Attributes(4)[1]));
        var given = d.WithSynthetic(new byte[16], [1], [7f, 8f]);
        Assert.Equal([7f, 8f], given.Attributes(3).ToArray());
        var plain = new Dataset("plain", new byte[16], [0], 1, 4, 4, ["a", "b"]);
        Assert.Contains("their attributes differ", Assert.Throws<DataException>(() => d.Concat(plain)).Message, StringComparison.Ordinal);

        // Export writes the attributes beside the images, and they load back the same (NaN included).
        var outDir = Path.Combine(_dir, "export");
        ImageFolder.Write(more, outDir);
        var back = ImageFolder.Load(outDir);
        Assert.Equal(more.AttributeNames, back.AttributeNames);
        // Reading lists each class folder's files by name, so compare image by image through the pixels.
        static string Key(Dataset x, int i) => $"{x.Label(i)}:{x.Image(i)[0]}:{string.Join(";", x.Attributes(i).ToArray())}";
        Assert.Equal(Enumerable.Range(0, more.Count).Select(i => Key(more, i)).Order(), Enumerable.Range(0, back.Count).Select(i => Key(back, i)).Order());
        Assert.Equal(5, back.Count);
    }

    [Fact]
    public void ClassNamesThatAreNotFolderNamesStillRoundTrip()
    {
        // A threshold protocol's classes ("w>=4") are written to folders with safe names; the metadata's
        // label column follows the folder, so the export reads back.
        var d = new Dataset("t", new byte[32], [0, 1], 1, 4, 4, ["not w>=4", "w>=4"], null, ["w"], [1f, 5f]);
        var outDir = Path.Combine(_dir, "safe");
        ImageFolder.Write(d, outDir);
        var back = ImageFolder.Load(outDir);
        Assert.Equal(2, back.NumClasses);
        Assert.Equal([5f], back.Attributes(back.IndicesOf(back.ClassNames.ToList().IndexOf(ImageFolder.SafeName("w>=4")))[0]).ToArray());
    }

    [Fact]
    public void ALabelColumnGivesTheClassesOfImagesInOneFolder()
    {
        var d = ImageFolder.Load(Folder("file,label,area\nx0.png,zebra,1\nx1.png,ant,2\nx2.png,zebra,3\n", flat: true));
        Assert.Equal(["ant", "zebra"], d.ClassNames);
        Assert.Equal([1, 0, 1], d.Labels);
        Assert.Equal(3f, d.Attributes(2)[0]);
        // Without a label column, a folder still needs class subfolders.
        var e = Assert.Throws<DataException>(() => ImageFolder.Load(Folder("file,area\nx0.png,1\nx1.png,2\nx2.png,3\n", flat: true)));
        Assert.Contains("no class subfolders", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("file,label,thickness\na/0.png,a,1\na/1.png,a,2\n", "b/0.png: no row in")]
    [InlineData("file,label,thickness\na/0.png,a,1\na/1.png,a,2\nb/0.png,b,3\nb/9.png,b,4\n", "metadata.csv:5: 'b/9.png' is not an image in")]
    [InlineData("file,label,thickness\na/0.png,a,1\na/1.png,a,thick\nb/0.png,b,3\n", "metadata.csv:3: column 'thickness': 'thick' is not a number")]
    [InlineData("file,label,thickness\na/0.png,a,1\na/1.png,a,2\na/0.png,a,3\nb/0.png,b,3\n", "metadata.csv:4: 'a/0.png' is listed again (first on line 2)")]
    [InlineData("file,label,thickness\na/0.png,b,1\na/1.png,a,2\nb/0.png,b,3\n", "metadata.csv:2: label 'b' but the image is in class folder 'a'")]
    [InlineData("file,label,thickness\na/0.png,a\na/1.png,a,2\nb/0.png,b,3\n", "metadata.csv:2: 2 field(s), the header has 3")]
    [InlineData("name,thickness\na/0.png,1\n", "metadata.csv:1: the first column must be 'file', got 'name'")]
    [InlineData("file,slant,slant\na/0.png,1,2\n", "metadata.csv:1: column 'slant' appears twice")]
    [InlineData("file,slant\n\"a/0.png,1\n", "metadata.csv:2: a quoted field is not closed")]
    [InlineData("file,slant\na/0.png,Infinity\n", "metadata.csv:2: column 'slant': 'Infinity' is not a number")]
    [InlineData("\n\n", "metadata.csv: empty; expected a header line")]
    public void MistakesAreOneLineNamingTheRow(string csv, string expected)
    {
        var e = Assert.Throws<DataException>(() => ImageFolder.Load(Folder(csv)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void MangledFilesGiveADataErrorOrLoadNeverAnythingElse()
    {
        var dir = Folder(Good);
        var csv = Path.Combine(dir, FolderMetadata.FileName);
        var rng = new Random(17);
        const string alphabet = ",\"\n\r ab/.0123456789eE-+NaN\\";
        var loaded = 0;
        for (var round = 0; round < 400; round++)
        {
            var text = Good.ToCharArray().ToList();
            for (var edits = rng.Next(1, 5); edits > 0; edits--)
            {
                var at = rng.Next(text.Count + 1);
                switch (rng.Next(3))
                {
                    case 0 when text.Count > 0 && at < text.Count:
                        text.RemoveAt(at);
                        break;
                    case 1:
                        text.Insert(at, alphabet[rng.Next(alphabet.Length)]);
                        break;
                    default:
                        if (at < text.Count)
                        {
                            text[at] = alphabet[rng.Next(alphabet.Length)];
                        }
                        break;
                }
            }
            File.WriteAllText(csv, new string([.. text]));
            try
            {
                var d = ImageFolder.Load(dir);
                Assert.Equal(3, d.Count);
                loaded++;
            }
            catch (DataException e)
            {
                Assert.DoesNotContain('\n', e.Message);
            }
        }
        Assert.InRange(loaded, 1, 399);
    }
}
