namespace Rebalance.Data;

/// <summary>
/// A problem with a dataset or data file that the user can act on: the message names the file, field
/// or value and what was expected. The command line prints it as one line and exits non-zero.
/// </summary>
public class DataException : Exception
{
    /// <summary>Creates the exception with a complete, user-facing message.</summary>
    public DataException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a complete, user-facing message and the underlying cause.</summary>
    public DataException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Creates an exception without a message (prefer the other constructors).</summary>
    public DataException()
    {
    }
}

/// <summary>A file whose bytes do not follow its format (bad magic, wrong lengths, bad CRC, bad zlib data).</summary>
public sealed class DataFormatException : DataException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public DataFormatException(string path, string problem)
        : base($"{path}: {problem}")
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>Creates the exception for <paramref name="path"/> with the underlying cause.</summary>
    public DataFormatException(string path, string problem, Exception inner)
        : base($"{path}: {problem}", inner)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The file (or a description of the stream) that is malformed.</summary>
    public string Path { get; } = "";

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; } = "";
}
