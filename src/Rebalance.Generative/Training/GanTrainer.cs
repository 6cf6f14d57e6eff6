using System.Diagnostics;
using System.Globalization;
using System.Text;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>Progress of a generator's training, reported after every step: a GAN's (losses of D and G) or
/// an autoencoder stage's (<see cref="Stage"/> and <see cref="LossNames"/> say which losses the two are).</summary>
public sealed record GanProgress(string Tag, int Step, int Steps, double LossD, double LossG, double LrG, double LrD, int Restarts, double StepsPerSecond)
{
    /// <summary>What is being trained: <c>GAN</c>, <c>VAE</c> or <c>autoencoder</c>.</summary>
    public string Stage { get; init; } = "GAN";

    /// <summary>Names of <see cref="LossD"/> and <see cref="LossG"/> (null for a second loss the stage does not have).</summary>
    public (string First, string? Second) LossNames { get; init; } = ("D", "G");

    /// <summary>One line for logs: tag, stage, step, losses, learning rate and speed.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Tag}: {(Stage == "GAN" ? "" : Stage + " ")}step {Step}/{Steps} loss {LossNames.First} {LossD:F3}{(LossNames.Second is { } g ? $" {g} {LossG:F3}" : "")} lr {(Stage == "GAN" ? $"{LrG:G2}/{LrD:G2}" : $"{LrG:G2}")}{(Restarts > 0 ? $" restarts {Restarts}" : "")} ({StepsPerSecond:F1} steps/s)");
}

/// <summary>Something the trainer decided on its own during training: a restart after divergence
/// (<c>restart</c>) or a learning-rate cut on a plateau (<c>plateau</c>).</summary>
public sealed record GanEvent(int Step, string Kind, string Detail);

/// <summary>Training diverged and the restarts are used up; the message says what was seen.</summary>
public sealed class GanDivergedException(string message) : Exception(message);

/// <summary>What a GAN trainer tells its caller.</summary>
public sealed class GanCallbacks
{
    /// <summary>A line for the log (restarts, plateau cuts, resume).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>After every step.</summary>
    public Action<GanProgress>? Progress { get; init; }

    /// <summary>Called after each completed step with the step number, before divergence checks (tests use
    /// it to inject faults).</summary>
    public Action<int, GanTrainer>? AfterStep { get; init; }

    /// <summary>Training stops cleanly (as an interruption would) once this step is done.</summary>
    public int? StopAfter { get; init; }
}

/// <summary>
/// Trains one generator/discriminator pair. Every random draw comes from one seeded generator whose
/// state is part of the checkpoint, so an interrupted run resumed from its last checkpoint ends with
/// exactly the weights of an uninterrupted one. Files in the work folder, all prefixed with the tag:
/// <c>.state.safetensors</c> (resumable state: G, D, the EMA generator, optimisers, schedules, random
/// state), <c>.restart.safetensors</c> (the last checkpoint taken while the discriminator was not
/// separating every image: where a divergence restarts from), <c>.losses.csv</c>,
/// <c>.samples-stepNNNNNN.png</c> and <c>.samples.png</c>.
/// </summary>
public sealed class GanTrainer
{
    private readonly GanSettings _s;
    private readonly AdversarialLoss _loss;
    private readonly Tensors.Generator _rng;
    private readonly Tensors.Generator _fixedNoise;
    private readonly ulong _seed;
    private readonly Ema? _ema;
    private readonly Optimizer _optG;
    private readonly Optimizer _optD;
    private readonly ReduceLROnPlateau _schedG;
    private readonly ReduceLROnPlateau _schedD;
    private readonly List<Tensor> _trainableG;
    private readonly List<Tensor> _trainableD;
    private readonly List<string> _csv = [];
    private readonly List<GanEvent> _events = [];
    private int _streak;

    // The LeCam anchors: EMAs of D's mean score on real and on generated images (part of the resumable state).
    private double _lecamReal;
    private double _lecamFake;

    // The level a progressive pair starts from (0, or the level a transferred pair had reached).
    private readonly double _grownAtStart;

    /// <summary>A new pair with weights drawn from <paramref name="seed"/>.</summary>
    public GanTrainer(GanSettings settings, GanShape shape, ulong seed, GanTrainer? transferFrom = null)
    {
        _s = settings;
        _seed = seed;
        _loss = AdversarialLoss.Get(settings.Loss);
        var arch = GanArchitectures.Get(settings.Architecture);
        arch.Check(shape);
        Shape = shape;
        var init = new Tensors.Generator(seed ^ 0x6a09e667f3bcc908UL);
        G = arch.CreateGenerator(shape, init);
        if (settings.Contrastive && !shape.Conditional)
        {
            throw new ArgumentException($"cond_loss {settings.CondLoss} needs a conditional GAN (cgan); this one is trained on one class");
        }
        var options = new DiscriminatorOptions(BatchNorm: !_loss.NeedsPerSampleCritic && settings.R1 == 0, SpectralNorm: settings.SpectralNorm, AuxClassifier: settings.AuxWeight > 0, Contrastive: settings.Contrastive ? settings.CondEmbed : 0);
        D = arch.CreateDiscriminator(shape, options, init);
        if (transferFrom is not null)
        {
            // Transfer (SMate): start from another pair's weights (its EMA generator when it has one).
            G.LoadStateDict((transferFrom._ema?.Shadow ?? transferFrom.G).StateDict());
            D.LoadStateDict(transferFrom.D.StateDict());
        }
        // A transferred progressive pair (SMate's fine-tuning) keeps the level it had grown to.
        _grownAtStart = (G as IProgressive)?.Progress ?? 0;
        _trainableG = Freeze(G, G.Blocks, settings.FreezeG, "generator");
        _trainableD = Freeze(D, D.Blocks, settings.FreezeD, "discriminator");
        _optG = settings.MakeOptimizer(_trainableG, settings.LrG);
        _optD = settings.MakeOptimizer(_trainableD, settings.LrD);
        _schedG = new ReduceLROnPlateau(_optG, factor: settings.PlateauFactor, patience: Math.Max(0, settings.PlateauPatience - 1), threshold: 0.01, minLr: settings.LrG * 0.01);
        _schedD = new ReduceLROnPlateau(_optD, factor: settings.PlateauFactor, patience: Math.Max(0, settings.PlateauPatience - 1), threshold: 0.01, minLr: settings.LrD * 0.01);
        _ema = settings.EmaDecay > 0 ? new Ema(G, settings.EmaDecay) : null;
        _rng = new Tensors.Generator(seed);
        _fixedNoise = new Tensors.Generator(seed ^ 0x3c6ef372fe94f82bUL);
    }

    /// <summary>The image shape, latent size and classes.</summary>
    public GanShape Shape { get; }

    /// <summary>The live generator.</summary>
    public GanGenerator G { get; }

    /// <summary>The discriminator.</summary>
    public GanDiscriminator D { get; }

    /// <summary>The generator used for sampling: the EMA copy when there is one.</summary>
    public GanGenerator Sampler => (GanGenerator?)_ema?.Shadow ?? G;

    /// <summary>Generator steps done.</summary>
    public int Step { get; private set; }

    /// <summary>Restarts after divergence so far.</summary>
    public int Restarts { get; private set; }

    /// <summary>The latest sample-statistics score (lower is closer to the data; NaN before the first evaluation).</summary>
    public double LastScore { get; private set; } = double.NaN;

    /// <summary>Restarts and plateau cuts so far, in order (kept across an interrupted and resumed run).</summary>
    public IReadOnlyList<GanEvent> Events => _events;

    /// <summary>The files a finished run no longer needs: the resumable state and the restart point.</summary>
    public static void DeleteState(string workDir, string tag)
    {
        File.Delete(Path.Combine(workDir, tag + ".state.safetensors"));
        File.Delete(Path.Combine(workDir, tag + ".restart.safetensors"));
    }

    /// <summary>Current learning rates.</summary>
    public (double G, double D) LearningRates => (_optG.ParamGroups[0].LearningRate, _optD.ParamGroups[0].LearningRate);

    /// <summary>
    /// Trains on <paramref name="data"/> (images of one class for an unconditional pair; labelled images for
    /// a conditional one) up to the configured number of steps, resuming from <c>{tag}.state.safetensors</c>
    /// in <paramref name="workDir"/> when it holds a run with the same settings. Returns false when stopped
    /// early by <see cref="GanCallbacks.StopAfter"/>.
    /// </summary>
    public bool Train(Dataset data, string workDir, string tag, GanCallbacks? callbacks = null)
    {
        callbacks ??= new GanCallbacks();
        if (data.Count == 0)
        {
            throw new ArgumentException($"GAN '{tag}': no training images");
        }
        if (data.Channels != Shape.Channels || data.Height != Shape.Height || data.Width != Shape.Width)
        {
            throw new ArgumentException($"GAN '{tag}': images are {data.Channels}x{data.Height}x{data.Width}, the pair was built for {Shape}");
        }
        Directory.CreateDirectory(workDir);
        var files = new StateFiles(Path.Combine(workDir, tag + ".state.safetensors"), Path.Combine(workDir, tag + ".restart.safetensors"), Path.Combine(workDir, tag + ".losses.csv"), StateKey(data));
        if (File.Exists(files.State) && TryResume(files.State, files, callbacks.Log))
        {
            callbacks.Log?.Invoke($"{tag}: resumed at step {Step}/{_s.Steps}");
        }
        else
        {
            _csv.Clear();
            _csv.Add(CsvHeader);
            _events.Clear();
            if (SaveState(files) is { } bad)
            {
                throw new GanDivergedException($"GAN '{tag}': the initial weights hold non-finite values ({bad})");
            }
        }
        var batches = new BatchSource(data, Shape, _s, _rng);
        var augment = new DiffAugment(_s.AugmentFor(data.Count));
        var reference = new Statistics(data, Shape);
        var sw = Stopwatch.StartNew();
        var startStep = Step;
        while (Step < _s.Steps)
        {
            Grow();
            var (lossD, lossG, penalty, dReal, dFake, separated) = TrainStep(batches, augment);
            Step++;
            _ema?.Update(Math.Min(_s.EmaDecay, (1.0 + Step) / (10.0 + Step)));
            callbacks.AfterStep?.Invoke(Step, this);
            var score = double.NaN;
            var diverged = !double.IsFinite(lossD) || !double.IsFinite(lossG) ? $"non-finite loss at step {Step} (D {lossD}, G {lossG})" : null;
            _streak = separated ? _streak + 1 : 0;
            if (diverged is null && _s.DivergencePatience > 0 && _streak >= _s.DivergencePatience)
            {
                diverged = $"the discriminator separated every real from every generated image for {_streak} steps in a row (step {Step})";
            }
            if (diverged is not null)
            {
                Restart(files, diverged, tag, callbacks.Log);
                continue;
            }
            if (Step % _s.EvalEvery == 0 || Step == _s.Steps)
            {
                score = Score(reference);
                LastScore = score;
                // No cut after the last update: it would change nothing and only clutter the run's notes.
                if (_s.PlateauPatience > 0 && Step < _s.Steps)
                {
                    var before = LearningRates;
                    _schedG.Step(score);
                    _schedD.Step(score);
                    if (LearningRates != before)
                    {
                        var cut = string.Create(CultureInfo.InvariantCulture, $"sample statistics stalled; learning rates cut to G {LearningRates.G:G3}, D {LearningRates.D:G3}");
                        _events.Add(new GanEvent(Step, "plateau", cut));
                        callbacks.Log?.Invoke($"{tag}: {cut} at step {Step}");
                    }
                }
            }
            var (lrG, lrD) = LearningRates;
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{lossD:G6},{lossG:G6},{penalty:G6},{dReal:G6},{dFake:G6},{lrG:G6},{lrD:G6},{(double.IsNaN(score) ? "" : score.ToString("G6", CultureInfo.InvariantCulture))}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data);
            }
            if ((Step % _s.CheckpointEvery == 0 || Step == _s.Steps) && SaveState(files) is { } nonFinite)
            {
                // A state with NaN or Inf is never written, so it can be neither resumed nor restarted from.
                Restart(files, $"non-finite values in '{nonFinite}' at the checkpoint of step {Step}", tag, callbacks.Log);
                continue;
            }
            callbacks.Progress?.Invoke(new GanProgress(tag, Step, _s.Steps, lossD, lossG, lrG, lrD, Restarts, (Step - startStep) / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            if (callbacks.StopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data);
        return true;
    }

    /// <summary>For a progressive pair (<c>arch: progan</c>): sets G, D and the sampling generator to the level
    /// <see cref="ProganSchedule"/> gives for the real images D has seen so far.</summary>
    private void Grow()
    {
        if (G is not IProgressive g)
        {
            return;
        }
        var level = Math.Max(_grownAtStart, ProganSchedule.Level((long)Step * _s.BatchSize * _s.DSteps, _s.ProganPhase, g.Levels));
        g.SetProgress(level);
        (D as IProgressive)?.SetProgress(level);
        // The moving average copies buffers at each update; it is set here too for the first steps' samples.
        (_ema?.Shadow as IProgressive)?.SetProgress(level);
    }

    /// <summary>Images from the sampling generator for the given labels (ignored when unconditional), as
    /// bytes in the dataset layout, drawn from <paramref name="gen"/>.</summary>
    public byte[] Generate(int count, int label, Tensors.Generator gen) => GeneratorFile.Generate(Sampler, count, label, gen);

    private (double LossD, double LossG, double Penalty, double DReal, double DFake, bool Separated) TrainStep(BatchSource batches, DiffAugment augment)
    {
        using var scope = TensorScope.Begin();
        Tensor? fake = null;
        Tensor? fakeLabels = null;
        double lossD = 0, penalty = 0, dReal = 0, dFake = 0;
        var separated = true;
        for (var k = 0; k < _s.DSteps; k++)
        {
            var last = k == _s.DSteps - 1;
            // Each D step frees its batch, graphs, penalty graph and gradients when it ends, so a step
            // holds the memory of one D step, not d_steps of them, and the G step does not hold the last
            // one's. The last D step's fake batch is made before its scope opens: it is kept with G's graph
            // and reused for the G step.
            var inner = last ? null : TensorScope.Begin();
            try
            {
                var (real, labels) = batches.Next();
                var z = _rng.Normal([real.Size(0), Shape.LatentDim]);
                Tensor f;
                if (last)
                {
                    fake = G.Forward(z, labels);
                    fakeLabels = labels;
                    f = fake.Detach();
                    inner = TensorScope.Begin();
                }
                else
                {
                    using (GradMode.NoGrad())
                    {
                        f = G.Forward(z, labels);
                    }
                }
                var ra = augment.Apply(real, _rng);
                var fa = augment.Apply(f, _rng);
                _optD.ZeroGrad();
                double mainLoss;
                using (TensorScope.Begin())
                {
                    var outReal = D.Forward(ra, labels);
                    var outFake = D.Forward(fa, labels);
                    var loss = _loss.Discriminator(outReal.Logits, outFake.Logits);
                    if (_s.Drift > 0)
                    {
                        // ProGAN's drift term keeps the critic's scores on real images near 0.
                        loss = loss + ((outReal.Logits * outReal.Logits).Mean() * _s.Drift);
                    }
                    if (_s.LeCam > 0)
                    {
                        // As Tseng et al.'s code: the anchors move with this batch, then regularise it.
                        _lecamReal = (Penalties.LeCamDecay * _lecamReal) + ((1 - Penalties.LeCamDecay) * outReal.Logits.Detach().Mean().Item());
                        _lecamFake = (Penalties.LeCamDecay * _lecamFake) + ((1 - Penalties.LeCamDecay) * outFake.Logits.Detach().Mean().Item());
                        loss = loss + (Penalties.LeCam(outReal.Logits, outFake.Logits, _lecamReal, _lecamFake) * _s.LeCam);
                    }
                    if (outReal.Embedding is { } embedReal)
                    {
                        // The contrastive term on real images: D learns to embed each class near its proxy.
                        loss = loss + (Contrastive(embedReal, outReal.Proxies!, labels!) * _s.CondWeight);
                    }
                    if (outReal.ClassLogits is { } aux)
                    {
                        // The fakes were drawn for the batch's own labels.
                        var lc = AcganLoss.Discriminator(aux, labels!, _s.AuxOnFake ? outFake.ClassLogits : null, labels);
                        loss = loss + (lc * _s.AuxWeight);
                    }
                    loss.Backward();
                    mainLoss = loss.Item();
                    var r = outReal.Logits.ToFloatArray();
                    var fl = outFake.Logits.ToFloatArray();
                    dReal = r.Average();
                    dFake = fl.Average();
                    separated &= r.Min() > fl.Max();
                }
                // The penalties go back through D on their own once the rest of the loss has freed its graphs,
                // so a D step holds one of the two (a gradient penalty's, with its second-order graph, is the
                // larger) rather than both; the gradients add up to those of the summed loss.
                penalty = 0;
                var gradientPenalty = _loss.Penalty != PenaltyKind.None && _s.PenaltyWeight > 0;
                if (gradientPenalty || _s.R1 > 0)
                {
                    using (TensorScope.Begin())
                    {
                        Tensor? pen = null;
                        if (gradientPenalty)
                        {
                            var points = _loss.Penalty == PenaltyKind.Interpolates ? Penalties.Interpolates(ra, fa, _rng) : Penalties.PerturbedReal(ra, _rng);
                            pen = Penalties.GradientNorm(x => D.Forward(x, labels).Logits, points) * _s.PenaltyWeight;
                        }
                        if (_s.R1 > 0)
                        {
                            var r1 = Penalties.R1(x => D.Forward(x, labels).Logits, ra, _s.R1);
                            pen = pen is null ? r1 : pen + r1;
                        }
                        pen!.Backward();
                        penalty = pen.Item();
                    }
                }
                _optD.Step();
                lossD = mainLoss + penalty;
            }
            finally
            {
                inner?.Dispose();
            }
        }
        foreach (var p in _trainableD)
        {
            p.RequiresGrad_(false);
        }
        double lossG;
        try
        {
            var outG = D.Forward(augment.Apply(fake!, _rng), fakeLabels);
            var lg = _loss.Generator(outG.Logits);
            if (outG.Embedding is { } embedFake)
            {
                // The same term on generated images: G makes images that D embeds near their class's proxy.
                lg = lg + (Contrastive(embedFake, outG.Proxies!, fakeLabels!) * _s.CondWeight);
            }
            if (outG.ClassLogits is { } aux)
            {
                lg = lg + (AcganLoss.Generator(aux, fakeLabels!) * _s.AuxWeight);
            }
            _optG.ZeroGrad();
            lg.Backward();
            _optG.Step();
            lossG = lg.Item();
        }
        finally
        {
            foreach (var p in _trainableD)
            {
                p.RequiresGrad_(true);
            }
        }
        return (lossD, lossG, penalty, dReal, dFake, separated);
    }

    /// <summary>The contrastive loss the settings name.</summary>
    private Tensor Contrastive(Tensor embed, Tensor proxies, Tensor labels) => _s.CondLoss switch
    {
        "eco" => ContrastiveLosses.Eco(embed, proxies, labels, _s.Tau),
        "2c" => ContrastiveLosses.TwoC(embed, proxies, labels, _s.Tau),
        _ => ContrastiveLosses.D2dCe(embed, proxies, labels, _s.Tau, _s.Margins.Positive, _s.Margins.Negative),
    };

    /// <summary>How far the sampling generator's images are from the data: per class, the mean squared
    /// difference of the per-pixel means plus that of the per-pixel standard deviations, averaged over
    /// classes. Cheap enough to run during training; drawn from a fixed seed so it depends on the weights only.</summary>
    private double Score(Statistics reference)
    {
        var gen = new Tensors.Generator(_seed ^ 0xa54ff53a5f1d36f1UL);
        var total = 0.0;
        foreach (var c in reference.Classes)
        {
            var images = GeneratorFile.GenerateTensor(Sampler, 128, Shape.Conditional ? c : 0, gen);
            total += reference.Distance(c, images);
        }
        return total / reference.Classes.Count;
    }

    private void WriteGrid(string path, Dataset data)
    {
        const int perRow = 10;
        var classes = Shape.Conditional ? data.ClassCounts().Select((n, c) => (n, c)).Where(t => t.n > 0).Select(t => t.c).ToArray() : [-1];
        var rows = Shape.Conditional ? 1 : 6;
        var pixels = new List<byte>();
        var labels = new List<int>();
        var gen = new Tensors.Generator(_fixedNoise.Seed);
        foreach (var c in classes)
        {
            pixels.AddRange(GeneratorFile.Generate(Sampler, perRow * rows, Math.Max(c, 0), gen));
            labels.AddRange(Enumerable.Repeat(Math.Max(c, 0), perRow * rows));
        }
        var grid = new Dataset("samples", [.. pixels], [.. labels], Shape.Channels, Shape.Height, Shape.Width, [.. data.ClassNames]);
        var gridRows = Enumerable.Range(0, classes.Length * rows).Select(r => Enumerable.Range(r * perRow, perRow).ToArray()).ToList();
        SampleGrid.Write(path, grid, gridRows);
    }

    private const string CsvHeader = "step,loss_d,loss_g,penalty,d_real,d_fake,lr_g,lr_d,score";

    /// <summary>Where a run keeps its state: the latest checkpoint, the restart point, the loss log, and the key
    /// that a stored state must carry to be resumed.</summary>
    private sealed record StateFiles(string State, string RestartPoint, string Csv, string Key);

    /// <summary>Rolls back to the restart point (the last checkpoint taken outside a streak of separated
    /// batches, so it lies before the trouble began) with lower learning rates, and records the restart.</summary>
    private void Restart(StateFiles files, string why, string tag, Action<string>? log)
    {
        var detectedAt = Step;
        if (Restarts >= _s.MaxRestarts)
        {
            throw new GanDivergedException($"GAN '{tag}' diverged: {why}; gave up after {Restarts} restart(s) from the last good checkpoint with lower learning rates (try a lower lr_g/lr_d, another loss, or spectral_norm: true)");
        }
        var restarts = Restarts + 1;
        var events = _events.ToList();
        var from = File.Exists(files.RestartPoint) ? files.RestartPoint : files.State;
        if (!TryResume(from, files, null))
        {
            throw new GanDivergedException($"GAN '{tag}' diverged ({why}) and its checkpoint {from} could not be read");
        }
        Restarts = restarts;
        _streak = 0;
        var factor = Math.Pow(_s.RestartFactor, Restarts);
        _optG.ParamGroups[0].LearningRate = Math.Min(_optG.ParamGroups[0].LearningRate, _s.LrG * factor);
        _optD.ParamGroups[0].LearningRate = Math.Min(_optD.ParamGroups[0].LearningRate, _s.LrD * factor);
        var detail = string.Create(CultureInfo.InvariantCulture, $"{why}; restart {Restarts}/{_s.MaxRestarts} from the checkpoint of step {Step} with learning rates G {LearningRates.G:G3}, D {LearningRates.D:G3}");
        // The history is not rolled back: the restart and anything seen before it stay on record.
        _events.Clear();
        _events.AddRange(events);
        _events.Add(new GanEvent(detectedAt, "restart", detail));
        log?.Invoke($"{tag}: {detail}");
        if (SaveState(files) is { } bad)
        {
            throw new GanDivergedException($"GAN '{tag}': the restart point {from} holds non-finite values ({bad})");
        }
    }

    private string StateKey(Dataset data) => KeyFor(_s, Shape, _seed, data);

    /// <summary>A digest of everything that decides the weights a run ends with: settings, shape, seed and
    /// training images. Stored with training states and generator files so that only a matching one is reused.</summary>
    public static string KeyFor(GanSettings settings, GanShape shape, ulong seed, Dataset data) =>
        GanSettings.Digest(settings.Canonical() + ";" + shape + ";" + shape.NumClasses + ";" + seed.ToString(CultureInfo.InvariantCulture) + ";" + GeneratorFile.Fingerprint(data));

    /// <summary>Writes the resumable state, and also makes it the restart point when the discriminator is
    /// not in a streak of separating every image. Returns the name of a tensor holding NaN or Inf instead
    /// of writing anything when there is one.</summary>
    private string? SaveState(StateFiles files)
    {
        var c = new Checkpoint().AddModule(G, "g").AddModule(D, "d").AddOptimizer(_optG, "g").AddOptimizer(_optD, "d")
            .AddScheduler(_schedG, "g").AddScheduler(_schedD, "d").AddGenerator(_rng, "main");
        foreach (var (name, dropout) in Dropouts())
        {
            c.AddGenerator(dropout.Generator, name);
        }
        if (_ema is not null)
        {
            c.AddModule(_ema.Shadow, "ema");
        }
        if (c.NonFiniteTensor() is { } bad)
        {
            return bad;
        }
        c.Metadata["gan.key"] = files.Key;
        c.Metadata["gan.step"] = Step.ToString(CultureInfo.InvariantCulture);
        c.Metadata["gan.restarts"] = Restarts.ToString(CultureInfo.InvariantCulture);
        c.Metadata["gan.streak"] = _streak.ToString(CultureInfo.InvariantCulture);
        c.Metadata["gan.score"] = LastScore.ToString("R", CultureInfo.InvariantCulture);
        c.Metadata["gan.lr_g"] = _optG.ParamGroups[0].LearningRate.ToString("R", CultureInfo.InvariantCulture);
        c.Metadata["gan.lr_d"] = _optD.ParamGroups[0].LearningRate.ToString("R", CultureInfo.InvariantCulture);
        c.Metadata["gan.csv_rows"] = _csv.Count.ToString(CultureInfo.InvariantCulture);
        c.Metadata["gan.lecam"] = string.Create(CultureInfo.InvariantCulture, $"{_lecamReal:R},{_lecamFake:R}");
        c.Metadata["gan.events"] = EventsToText(_events);
        // The loss log first, then the state that refers to it: a crash between the two leaves a log with
        // extra rows that a resume cuts back.
        AtomicFile.Write(files.Csv, Encoding.UTF8.GetBytes(string.Join("\n", _csv) + "\n"));
        c.Save(files.State);
        if (_streak == 0 || _s.DivergencePatience == 0)
        {
            c.Save(files.RestartPoint);
        }
        return null;
    }

    /// <summary>The dropout layers of G and D (an architecture published with dropout), whose mask streams
    /// are part of the resumable state.</summary>
    private IEnumerable<(string Name, Dropout Layer)> Dropouts() =>
        G.NamedModules("g").Concat(D.NamedModules("d")).Where(m => m.Module is Dropout).Select(m => ("dropout." + m.Name, (Dropout)m.Module));

    private bool TryResume(string path, StateFiles files, Action<string>? log)
    {
        if (ResumableState.Open(path, "gan", files.Key, log) is not { } c)
        {
            return false;
        }
        c.LoadModule(G, "g");
        c.LoadModule(D, "d");
        if (_ema is not null)
        {
            c.LoadModule(_ema.Shadow, "ema");
        }
        c.LoadOptimizer(_optG, "g");
        c.LoadOptimizer(_optD, "d");
        c.LoadScheduler(_schedG, "g");
        c.LoadScheduler(_schedD, "d");
        c.LoadGenerator(_rng, "main");
        foreach (var (name, dropout) in Dropouts())
        {
            c.LoadGenerator(dropout.Generator, name);
        }
        Step = int.Parse(c.Metadata["gan.step"], CultureInfo.InvariantCulture);
        Restarts = int.Parse(c.Metadata["gan.restarts"], CultureInfo.InvariantCulture);
        _streak = int.Parse(c.Metadata["gan.streak"], CultureInfo.InvariantCulture);
        LastScore = double.Parse(c.Metadata["gan.score"], CultureInfo.InvariantCulture);
        if (c.Metadata.GetValueOrDefault("gan.lecam")?.Split(',') is [var lr, var lf])
        {
            (_lecamReal, _lecamFake) = (double.Parse(lr, CultureInfo.InvariantCulture), double.Parse(lf, CultureInfo.InvariantCulture));
        }
        _optG.ParamGroups[0].LearningRate = double.Parse(c.Metadata["gan.lr_g"], CultureInfo.InvariantCulture);
        _optD.ParamGroups[0].LearningRate = double.Parse(c.Metadata["gan.lr_d"], CultureInfo.InvariantCulture);
        _events.Clear();
        _events.AddRange(EventsFromText(c.Metadata.GetValueOrDefault("gan.events") ?? ""));
        ResumableState.RefillLog(c, files.Csv, "gan", CsvHeader, _csv);
        return true;
    }

    /// <summary>Events as text for file metadata: one "step\tkind\tdetail" line each.</summary>
    public static string EventsToText(IEnumerable<GanEvent> events) =>
        string.Join("\n", events.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Step}\t{e.Kind}\t{e.Detail.Replace('\n', ' ').Replace('\t', ' ')}")));

    /// <summary>Reads <see cref="EventsToText"/>; lines that do not parse are skipped.</summary>
    public static IReadOnlyList<GanEvent> EventsFromText(string text) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t', 3))
            .Where(p => p.Length == 3 && int.TryParse(p[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            .Select(p => new GanEvent(int.Parse(p[0], CultureInfo.InvariantCulture), p[1], p[2]))];

    private static List<Tensor> Freeze(Module model, IReadOnlyList<string[]> blocks, int count, string what)
    {
        if (count >= blocks.Count)
        {
            throw new ArgumentException($"cannot freeze {count} {what} block(s): it has {blocks.Count}, and at least the last must train");
        }
        var frozen = blocks.Take(count).SelectMany(b => b).ToHashSet(StringComparer.Ordinal);
        var trainable = new List<Tensor>();
        foreach (var (name, p) in model.NamedParameters())
        {
            var top = name.Split('.')[0];
            if (frozen.Contains(top))
            {
                p.RequiresGrad_(false);
            }
            else
            {
                trainable.Add(p);
            }
        }
        return trainable;
    }

    /// <summary>Draws real batches: images uniformly (with replacement), or for conditional class-balanced
    /// training a class uniformly and then one of its images.</summary>
    private sealed class BatchSource
    {
        private readonly Dataset _data;
        private readonly int _batch;
        private readonly bool _conditional;
        private readonly Tensors.Generator _rng;
        private readonly int[][]? _byClass;
        private readonly int[] _pick;
        private readonly int[] _labels;

        public BatchSource(Dataset data, GanShape shape, GanSettings s, Tensors.Generator rng)
        {
            _data = data;
            _batch = s.BatchSize;
            _conditional = shape.Conditional;
            _rng = rng;
            if (_conditional && s.ClassBalanced)
            {
                _byClass = [.. Enumerable.Range(0, data.NumClasses).Select(data.IndicesOf).Where(ix => ix.Length > 0)];
            }
            _pick = new int[_batch];
            _labels = new int[_batch];
        }

        public (Tensor Images, Tensor? Labels) Next()
        {
            for (var i = 0; i < _batch; i++)
            {
                if (_byClass is not null)
                {
                    var ix = _byClass[_rng.NextInt(_byClass.Length)];
                    _pick[i] = ix[_rng.NextInt(ix.Length)];
                }
                else
                {
                    _pick[i] = _rng.NextInt(_data.Count);
                }
                _labels[i] = _data.Label(_pick[i]);
            }
            var images = _data.ToTensor(PixelRange.MinusOneToOne, _pick);
            return (images, _conditional ? Tensor.FromArray((int[])_labels.Clone(), _batch) : null);
        }
    }

    /// <summary>Per-class pixel means and standard deviations of the training images.</summary>
    private sealed class Statistics
    {
        private readonly Dictionary<int, (float[] Mean, float[] Std)> _stats = [];

        public Statistics(Dataset data, GanShape shape)
        {
            var counts = data.ClassCounts();
            var groups = shape.Conditional ? Enumerable.Range(0, data.NumClasses).Where(c => counts[c] > 0).ToList() : [0];
            foreach (var c in groups)
            {
                var idx = shape.Conditional ? data.IndicesOf(c) : [.. Enumerable.Range(0, data.Count)];
                using var scope = TensorScope.Begin();
                _stats[c] = Moments(data.ToTensor(PixelRange.MinusOneToOne, idx));
            }
            Classes = groups;
        }

        public IReadOnlyList<int> Classes { get; }

        public double Distance(int c, Tensor images)
        {
            var (m, s) = Moments(images);
            var (rm, rs) = _stats[c];
            double dm = 0, ds = 0;
            for (var i = 0; i < m.Length; i++)
            {
                dm += (m[i] - rm[i]) * (m[i] - rm[i]);
                ds += (s[i] - rs[i]) * (s[i] - rs[i]);
            }
            return (dm + ds) / m.Length;
        }

        internal static (float[] Mean, float[] Std) Moments(Tensor images)
        {
            var flat = images.Reshape(images.Size(0), -1);
            var mean = flat.Mean(0).ToFloatArray();
            var std = images.Size(0) > 1 ? Tensor.Sqrt(flat.Var(0, unbiased: false)).ToFloatArray() : new float[mean.Length];
            return (mean, std);
        }
    }
}
