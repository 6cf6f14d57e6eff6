using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Latent;
using Rebalance.Generative.Methods;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>BAGAN's adversarial stage (see <see cref="Bagan"/>).</summary>
public sealed class BaganTrainer
{
    private const string CsvHeader = "step,loss_d,loss_g";
    private readonly BaganSettings _s;
    private readonly ClassGaussians _gaussians;
    private readonly Adam _optG;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly int _classes;
    private readonly List<string> _csv = [];
    private readonly VaeModel _ae;

    /// <summary>G from <paramref name="ae"/>'s decoder; D with a (K+1)-way head, from the encoder for BAGAN.</summary>
    public BaganTrainer(BaganSettings s, GanShape shape, int classes, ulong seed, VaeModel ae, ClassGaussians gaussians)
    {
        _s = s;
        _seed = seed;
        _classes = classes;
        _gaussians = gaussians;
        var init = new Generator(seed ^ 0xbb67ae8584caa73bUL);
        G = GanArchitectures.Get("dcgan").CreateGenerator(shape, init);
        G.LoadStateDict(ae.Decoder.StateDict());
        D = new BaganDiscriminator(shape, classes, init);
        _ae = ae;
        if (s.Variant == "bagan")
        {
            // BAGAN's D starts from the encoder; WAE-GAN's and SCDL-GAN's from scratch.
            var encoder = ae.StateDict().Where(kv => kv.Key.StartsWith("conv", StringComparison.Ordinal) || kv.Key.StartsWith("bn2", StringComparison.Ordinal)).ToDictionary();
            var dState = D.StateDict();
            foreach (var (name, t) in encoder)
            {
                using (GradMode.NoGrad())
                {
                    dState[name].CopyFrom_(t);
                }
            }
        }
        _optG = new Adam([.. G.Parameters()], s.LearningRate, s.Beta1, 0.999);
        _optD = new Adam([.. D.Parameters()], s.LearningRate, s.Beta1, 0.999);
        _rng = new Generator(seed ^ 0x3c6ef372fe94f82bUL);
    }

    /// <summary>The generator.</summary>
    public GanGenerator G { get; }

    /// <summary>The (K+1)-way discriminator.</summary>
    public BaganDiscriminator D { get; }

    /// <summary>Steps done.</summary>
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
        var present = Enumerable.Range(0, _classes).Where(c => _gaussians.Mean[c].Length > 0).ToArray();
        var pick = new int[_s.BatchSize];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        G.Train();
        D.Train();
        while (Step < _s.Steps)
        {
            for (var i = 0; i < pick.Length; i++)
            {
                pick[i] = _rng.NextInt(data.Count);
            }
            double lossD, lossG;
            using (TensorScope.Begin())
            {
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick);
                var realLabels = Tensor.FromArray([.. pick.Select(data.Label)], pick.Length);
                Tensor z;
                int[] intendedClasses;
                if (_s.Variant == "bagan")
                {
                    // Codes drawn from the normal of a uniformly drawn class.
                    intendedClasses = [.. Enumerable.Range(0, pick.Length).Select(_ => present[_rng.NextInt(present.Length)])];
                    z = Tensor.Concat([.. intendedClasses.Select(c => _gaussians.Sample(c, 1, _rng))], 0);
                }
                else
                {
                    // The codes of uniformly drawn real images, instead of noise.
                    var source = Enumerable.Range(0, pick.Length).Select(_ => _rng.NextInt(data.Count)).ToArray();
                    intendedClasses = [.. source.Select(data.Label)];
                    using (GradMode.NoGrad())
                    {
                        _ae.Eval();
                        z = _ae.Encode(data.ToTensor(PixelRange.MinusOneToOne, source), null).Mu;
                    }
                }
                var intended = Tensor.FromArray(intendedClasses, intendedClasses.Length);
                var fake = G.Forward(z, null);
                var d = _s.Variant == "bagan"
                    ? BaganLosses.Discriminator(D.Forward(real), realLabels, D.Forward(fake.Detach()))
                    : WaeGanLosses.Discriminator(D.Forward(real), realLabels, D.Forward(fake.Detach()));
                _optD.ZeroGrad();
                d.Backward();
                _optD.Step();
                var g = _s.Variant == "bagan" ? BaganLosses.Generator(D.Forward(fake), intended) : WaeGanLosses.Generator(D.Forward(fake), intended);
                _optG.ZeroGrad();
                g.Backward();
                _optG.Step();
                (lossD, lossG) = (d.Item(), g.Item());
            }
            Step++;
            Last = (lossD, lossG);
            if (!double.IsFinite(lossD) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"BAGAN '{tag}': non-finite loss at step {Step} (D {lossD}, G {lossG}); lower 'lr'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{lossD:G6},{lossG:G6}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data);
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
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data);
        return true;
    }

    private TrainerParts Parts => new TrainerParts("bagan", CsvHeader).Module("g", G).Module("d", D).Optimizer("g", _optG).Optimizer("d", _optD).Random("main", _rng);

    /// <summary>Ten images per class from fixed draws of each class's code distribution.</summary>
    private void WriteGrid(string path, Dataset data)
    {
        var gen = new Generator(_seed ^ 0x510e527fade682d1UL);
        var present = Enumerable.Range(0, _classes).Where(c => _gaussians.Mean[c].Length > 0).ToArray();
        G.Eval();
        using (GradMode.NoGrad())
        {
            SampleGrid.WriteGenerated(path, data, present, (c, n) =>
            {
                using var scope = TensorScope.Begin();
                return Dataset.ToBytes(G.Forward(_gaussians.Sample(c, n, gen), null));
            });
        }
        G.Train();
    }
}
