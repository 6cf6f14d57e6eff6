namespace Rebalance.Data;

/// <summary>Writes files through a temporary file in the same folder and a rename, so a reader never
/// sees a half-written file and an interrupted write leaves the old file in place.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> atomically, creating the folder. With
    /// <paramref name="durable"/> the data is flushed to disk before the rename (checkpoints, results);
    /// bulk exports of many small files skip that and rely on the rename alone.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, bool durable = true)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: durable);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
