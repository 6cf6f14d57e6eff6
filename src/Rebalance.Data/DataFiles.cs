namespace Rebalance.Data;

/// <summary>Reading data files with errors a user can act on.</summary>
public static class DataFiles
{
    /// <summary>All bytes of <paramref name="path"/>; a missing or unreadable file is a <see cref="DataException"/> naming it.</summary>
    public static byte[] ReadAllBytes(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})", e);
        }
    }
}
