using System.Globalization;
using System.Text;

namespace Rebalance.Data.Formats;

/// <summary>One row of a folder's <c>metadata.csv</c>.</summary>
/// <param name="Line">Its line in the file (from 1), for messages.</param>
/// <param name="Label">The <c>label</c> column, when the file has one.</param>
/// <param name="Values">The numeric attributes, in column order (NaN where the file says NaN).</param>
public sealed record MetadataRow(int Line, string? Label, float[] Values);

/// <summary>
/// A folder dataset's <c>metadata.csv</c>: a header line whose first column is <c>file</c> (the image's path
/// relative to the folder, with <c>/</c> between parts), an optional <c>label</c> column (the class name), and
/// numeric attribute columns. Fields may be quoted ("a,b", with "" for a quote). A value must be a number
/// (invariant culture) or <c>NaN</c> for unknown. Every mistake is one line naming the file, the line and the
/// column.
/// </summary>
public sealed class FolderMetadata
{
    /// <summary>The file name a folder's metadata has.</summary>
    public const string FileName = "metadata.csv";

    private FolderMetadata(string path, string[] attributeNames, bool hasLabel, Dictionary<string, MetadataRow> rows)
    {
        Path = path;
        AttributeNames = attributeNames;
        HasLabel = hasLabel;
        Rows = rows;
    }

    /// <summary>Where it was read from.</summary>
    public string Path { get; }

    /// <summary>The attribute columns.</summary>
    public string[] AttributeNames { get; }

    /// <summary>Whether there is a <c>label</c> column.</summary>
    public bool HasLabel { get; }

    /// <summary>Rows by the file path they name (with <c>/</c> separators).</summary>
    public IReadOnlyDictionary<string, MetadataRow> Rows { get; }

    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    public static FolderMetadata Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (IOException e)
        {
            throw new DataException($"{path}: cannot be read ({e.Message})");
        }
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        var first = Array.FindIndex(lines, l => l.Trim().Length > 0);
        if (first < 0)
        {
            throw new DataException($"{path}: empty; expected a header line such as 'file,label,thickness'");
        }
        var header = Fields(lines[first], path, first + 1).Select(h => h.Trim()).ToArray();
        if (header[0] != "file")
        {
            throw new DataException($"{path}:{first + 1}: the first column must be 'file', got '{header[0]}'");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var h in header)
        {
            if (h.Length == 0)
            {
                throw new DataException($"{path}:{first + 1}: a column has no name");
            }
            if (!seen.Add(h))
            {
                throw new DataException($"{path}:{first + 1}: column '{h}' appears twice");
            }
        }
        var labelColumn = Array.IndexOf(header, "label");
        var attributeColumns = Enumerable.Range(1, header.Length - 1).Where(c => c != labelColumn).ToArray();
        var rows = new Dictionary<string, MetadataRow>(StringComparer.Ordinal);
        for (var i = first + 1; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0)
            {
                continue;
            }
            var line = i + 1;
            var f = Fields(lines[i], path, line);
            if (f.Count != header.Length)
            {
                throw new DataException($"{path}:{line}: {f.Count} field(s), the header has {header.Length}");
            }
            var file = Normalise(f[0].Trim());
            if (file.Length == 0)
            {
                throw new DataException($"{path}:{line}: column 'file' is empty");
            }
            if (rows.TryGetValue(file, out var earlier))
            {
                throw new DataException($"{path}:{line}: '{file}' is listed again (first on line {earlier.Line})");
            }
            var values = new float[attributeColumns.Length];
            for (var k = 0; k < attributeColumns.Length; k++)
            {
                var raw = f[attributeColumns[k]].Trim();
                if (raw.Equals("nan", StringComparison.OrdinalIgnoreCase))
                {
                    values[k] = float.NaN;
                }
                else if (!float.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out values[k]) || !float.IsFinite(values[k]))
                {
                    throw new DataException($"{path}:{line}: column '{header[attributeColumns[k]]}': '{raw}' is not a number (write NaN for an unknown value)");
                }
            }
            string? label = null;
            if (labelColumn >= 0)
            {
                label = f[labelColumn].Trim();
                if (label.Length == 0)
                {
                    throw new DataException($"{path}:{line}: column 'label' is empty");
                }
            }
            rows[file] = new MetadataRow(line, label, values);
        }
        return new FolderMetadata(path, [.. attributeColumns.Select(c => header[c])], labelColumn >= 0, rows);
    }

    /// <summary>A relative path with <c>/</c> between parts and no leading <c>./</c>.</summary>
    public static string Normalise(string relative)
    {
        var p = relative.Replace('\\', '/');
        while (p.StartsWith("./", StringComparison.Ordinal))
        {
            p = p[2..];
        }
        return p;
    }

    /// <summary>Writes <paramref name="rows"/> (file, label, values) under a header of <c>file</c>, <c>label</c>
    /// and <paramref name="attributeNames"/>; NaN is written as <c>NaN</c>.</summary>
    public static void Write(string path, IReadOnlyList<string> attributeNames, IEnumerable<(string File, string Label, float[] Values)> rows)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', new[] { "file", "label" }.Concat(attributeNames).Select(Quote)).Append('\n');
        foreach (var (file, label, values) in rows)
        {
            sb.Append(Quote(file)).Append(',').Append(Quote(label));
            foreach (var v in values)
            {
                sb.Append(',').Append(float.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture));
            }
            sb.Append('\n');
        }
        AtomicFile.Write(path, Encoding.UTF8.GetBytes(sb.ToString()), durable: false);
    }

    private static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 || field != field.Trim() ? "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : field;

    /// <summary>The fields of one line: commas separate, double quotes enclose a field that may hold commas
    /// ("" is a quote inside one).</summary>
    private static List<string> Fields(string line, string path, int number)
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var ch = line[i];
            if (quoted)
            {
                if (ch == '"')
                {
                    if (i + 1 < line.Length && line[i + 1] == '"')
                    {
                        sb.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    sb.Append(ch);
                }
            }
            else if (ch == '"' && sb.ToString().Trim().Length == 0)
            {
                sb.Clear();
                quoted = true;
            }
            else if (ch == ',')
            {
                fields.Add(sb.ToString());
                sb.Clear();
            }
            else
            {
                sb.Append(ch);
            }
        }
        if (quoted)
        {
            throw new DataException($"{path}:{number}: a quoted field is not closed");
        }
        fields.Add(sb.ToString());
        return fields;
    }
}
