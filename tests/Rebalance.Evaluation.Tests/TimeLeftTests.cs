namespace Rebalance.Evaluation.Tests;

/// <summary>The experiment's time-left estimate, on hand-counted cases.</summary>
public class TimeLeftTests
{
    [Fact]
    public void EstimatesFromTheSameLabelThenTheSameMethodThenEveryRun()
    {
        // Two seeds of: none, smote, cgan (label cgan-a), cgan (label cgan-b).
        var runs = new[] { ("none", "none"), ("smote", "smote"), ("cgan-a", "cgan"), ("cgan-b", "cgan") };
        var clock = new TimeLeft([.. runs, .. runs]);
        clock.Started("none");
        Assert.Null(clock.Seconds(5));                 // nothing finished yet: no estimate
        clock.Finished("none", 10);
        // Six pending runs, each estimated from the only finished run (10 s); none seed 1 too.
        Assert.Equal(70, clock.Seconds(0));
        clock.Started("smote");
        Assert.Equal(70 - 4, clock.Seconds(4));        // the current run: its estimate less its time so far
        Assert.Equal(60, clock.Seconds(25));           // never below zero
        clock.Finished("smote", 30);
        // Pending: cgan-a, cgan-b (mean of all: 20 each), none (10), smote (30), cgan-a, cgan-b (20 each).
        Assert.Equal(120, clock.Seconds(0));
        clock.Started("cgan-a");
        clock.Finished("cgan-a", 100);
        // cgan-b has no run of its own yet: the same method's (100). Pending: cgan-b, none, smote, cgan-a, cgan-b.
        Assert.Equal(100 + 10 + 30 + 100 + 100, clock.Seconds(0));
        clock.Started("cgan-b");
        clock.Finished("cgan-b", 300);
        // Per label now: none 10, smote 30, cgan-a 100, cgan-b 300.
        Assert.Equal(440, clock.Seconds(0));
        Assert.Equal(4, clock.Pending);
        foreach (var (label, seconds) in new[] { ("none", 12.0), ("smote", 30.0), ("cgan-a", 90.0) })
        {
            clock.Started(label);
            clock.Finished(label, seconds);
        }
        clock.Started("cgan-b");
        Assert.Equal(300 - 50, clock.Seconds(50));
        clock.Finished("cgan-b", 310);
        Assert.Equal(0, clock.Seconds(0));
    }

    [Fact]
    public void AnUnseenGenerativeMethodIsEstimatedFromOtherGenerativeRuns()
    {
        var clock = new TimeLeft([("none", "none"), ("smote", "smote"), ("cgan", "cgan"), ("vae", "vae"), ("random-over", "random-over")]);
        foreach (var (label, seconds) in new[] { ("none", 10.0), ("smote", 20.0), ("cgan", 300.0) })
        {
            clock.Started(label);
            clock.Finished(label, seconds);
        }
        // vae: no run of its own or of its method; the generative runs so far (cgan, 300 s). random-over: the classic ones (15 s).
        Assert.Equal(300 + 15, clock.Seconds(0));
    }

    [Fact]
    public void KeptRunsCountWithTheirStoredTimes()
    {
        var clock = new TimeLeft([("vae", "vae"), ("vae", "vae")]);
        // A run kept from an earlier invocation is finished without being started.
        clock.Finished("vae", 120);
        Assert.Equal(120, clock.Seconds(0));
        Assert.Equal(1, clock.Pending);
    }

    [Theory]
    [InlineData(0, "0 s")]
    [InlineData(44.4, "44 s")]
    [InlineData(59.6, "1 min")]
    [InlineData(89, "1 min")]
    [InlineData(3569, "59 min")]
    [InlineData(3599, "1 h 00 min")]
    [InlineData(7199.9, "2 h 00 min")]
    [InlineData(4000, "1 h 07 min")]
    [InlineData(90000, "25 h 00 min")]
    public void FormatsDurations(double seconds, string text) => Assert.Equal(text, TimeLeft.Format(seconds));
}
