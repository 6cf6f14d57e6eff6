using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Methods;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>BAGAN-GP's adversarial stage (see <see cref="BaganGp"/>).</summary>
public sealed class BaganGpTrainer
{
    private const string CsvHeader = "step,loss_d,loss_g,penalty";
    private readonly BaganGpSettings _s;
    private readonly BaganGpGenerator _g;
    private readonly BaganGpCritic _d;
    private readonly Adam _optG;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly List<string> _csv = [];

    /// <summary>Trains <paramref name="g"/> against a critic built from <paramref name="sae"/>'s encoder.</summary>
    public BaganGpTrainer(BaganGpSettings s, VaeModel sae, BaganGpGenerator g, ulong seed)
    {
        _s = s;
        _g = g;
        _seed = seed;
        _d = new BaganGpCritic(sae, new Generator(seed ^ 0xa54ff53a5f1d36f1UL));
        _optG = new Adam([.. g.Parameters()], s.LearningRate, s.Betas.Beta1, s.Betas.Beta2);
        _optD = new Adam([.. _d.Parameters()], s.LearningRate, s.Betas.Beta1, s.Betas.Beta2);
        _rng = new Generator(seed ^ 0x9b05688c2b3e6c1fUL);
    }

    /// <summary>The critic.</summary>
    public BaganGpCritic Critic => _d;

    /// <summary>Generator steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The last step's losses.</summary>
    public (double D, double G) Last { get; private set; }

    /// <summary>Trains to the configured steps, resuming from <c>TAG.state.safetensors</c> when it holds a
    /// run with <paramref name="key"/>. Returns false when stopped early by <paramref name="stopAfter"/>.</summary>
    public bool Train(Dataset data, string workDir, string tag, string key, Action<string>? log = null, Action<GanProgress>? progress = null, int? stopAfter = null)
    {
        Directory.CreateDirectory(workDir);
        var state = Path.Combine(workDir, tag + ".state.safetensors");
        var csvFile = Path.Combine(workDir, tag + ".losses.csv");
        if (Parts.Resume(state, csvFile, key, _csv, log, _s.Steps) is { } resumed)
        {
            Step = resumed;
        }
        var present = Enumerable.Range(0, data.NumClasses).Where(c => data.IndicesOf(c).Length > 0).ToArray();
        var pick = new int[_s.BatchSize];
        var n = pick.Length;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        _g.Train();
        _d.Train();
        while (Step < _s.Steps)
        {
            double lossD = 0, lossG, penalty = 0;
            for (var k = 0; k < _s.DSteps; k++)
            {
                for (var i = 0; i < n; i++)
                {
                    pick[i] = _rng.NextInt(data.Count);
                }
                using var scope = TensorScope.Begin();
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick);
                var labels = Tensor.FromArray([.. pick.Select(data.Label)], n);
                Tensor fake;
                using (GradMode.NoGrad())
                {
                    fake = _g.Forward(_rng.Normal([n, _s.LatentDim]), labels);
                }
                var gp = Penalties.GradientNorm(x => _d.Forward(x, labels), Penalties.Interpolates(real, fake, _rng));
                var d = _d.Forward(fake, labels).Mean() - _d.Forward(real, labels).Mean() + (gp * _s.PenaltyWeight);
                _optD.ZeroGrad();
                d.Backward();
                _optD.Step();
                (lossD, penalty) = (d.Item(), gp.Item());
            }
            using (TensorScope.Begin())
            {
                var classes = Enumerable.Range(0, n).Select(_ => present[_rng.NextInt(present.Length)]).ToArray();
                var labels = Tensor.FromArray(classes, n);
                var g = -_d.Forward(_g.Forward(_rng.Normal([n, _s.LatentDim]), labels), labels).Mean();
                _optG.ZeroGrad();
                g.Backward();
                _optG.Step();
                lossG = g.Item();
            }
            Step++;
            Last = (lossD, lossG);
            if (!double.IsFinite(lossD) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"BAGAN-GP '{tag}': non-finite loss at step {Step} (critic {lossD}, G {lossG}); lower 'lr'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{lossD:G6},{lossG:G6},{penalty:G6}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data, present);
            }
            if (Step % _s.CheckpointEvery == 0 || Step == _s.Steps)
            {
                Parts.Save(state, csvFile, _csv, key, Step);
            }
            progress?.Invoke(new GanProgress(tag, Step, _s.Steps, lossD, lossG, _s.LearningRate, _s.LearningRate, 0, (Step - start) / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            if (stopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data, present);
        return true;
    }

    private TrainerParts Parts => new TrainerParts("bagan-gp", CsvHeader).Module("g", _g).Module("d", _d).Optimizer("g", _optG).Optimizer("d", _optD).Random("main", _rng);

    private void WriteGrid(string path, Dataset data, int[] present)
    {
        var gen = new Generator(_seed ^ 0x510e527fade682d1UL);
        SampleGrid.WriteGenerated(path, data, [.. present.Take(10)], (c, n) => _g.Generate(c, n, gen));
    }
}
