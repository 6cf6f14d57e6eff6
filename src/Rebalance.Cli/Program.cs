using System.CommandLine;
using Rebalance.Data;
using Spectre.Console;

namespace Rebalance.Cli;

/// <summary>The <c>rebalance</c> command. Errors a user can fix print as one line and exit with code 1.</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        if (Console.IsOutputRedirected)
        {
            // Logs and pipes: no wrapping of long lines (paths) at the default 80 columns.
            AnsiConsole.Profile.Width = 240;
        }
        return Run(args, AnsiConsole.Console, Console.Error);
    }

    /// <summary>The exception to report as a one-line error, or null for a bug (which keeps its stack trace).</summary>
    private static Exception? UserError(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: > 0 } a => UserError(a.InnerExceptions[0]),
        DataException or ArgumentException or IOException or UnauthorizedAccessException or Evaluation.ExperimentException or Generative.Training.GanDivergedException or Nn.CheckpointException => e,
        _ => null,
    };

    /// <summary>Runs the command line against a console and an error writer (tests pass recording ones).</summary>
    public static int Run(string[] args, IAnsiConsole console, TextWriter error)
    {
        var root = new RootCommand("Rebalance: fix class imbalance in image classification with generative models and classic samplers.");
        root.Subcommands.Add(DataCommands.Build(console));
        root.Subcommands.Add(RunCommands.Run(console));
        root.Subcommands.Add(RunCommands.Report(console));
        root.Subcommands.Add(RunCommands.Recommend(console));
        root.Subcommands.Add(RunCommands.Resample(console));
        root.Subcommands.Add(GanCommands.Build(console));
        root.Subcommands.Add(QualityCommands.Build(console));
        var parse = root.Parse(args);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (UserError(e) is { } user)
        {
            error.WriteLine($"error: {user.Message}");
            return 1;
        }
    }
}
