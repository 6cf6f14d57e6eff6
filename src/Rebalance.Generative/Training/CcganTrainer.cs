using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Methods;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary><c>ccgan</c>'s training loop: each step one D update and one G update on a uniformly drawn batch
/// (G drawn for the batch's own attributes), Adam for both; resumable from <c>TAG.state.safetensors</c>.</summary>
public sealed class CcganTrainer
{
    private const string CsvHeader = "step,loss_d,loss_g,predictor_error_real,predictor_error_fake";
    private readonly CcganSettings _s;
    private readonly CcganGenerator _g;
    private readonly CcganDiscriminator _d;
    private readonly AdversarialLoss _loss;
    private readonly Adam _optG;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly List<string> _csv = [];

    /// <summary>A trainer for <paramref name="g"/> and <paramref name="d"/>.</summary>
    public CcganTrainer(CcganSettings s, CcganGenerator g, CcganDiscriminator d, ulong seed)
    {
        (_s, _g, _d, _seed) = (s, g, d, seed);
        _loss = AdversarialLoss.Get(s.Loss);
        _optG = new Adam([.. g.Parameters()], s.LrG, s.Beta1);
        _optD = new Adam([.. d.Parameters()], s.LrD, s.Beta1);
        _rng = new Generator(seed ^ 0x243f6a8885a308d3UL);
    }

    /// <summary>Steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The last step's losses and the predictor's errors on real and generated images.</summary>
    public (double D, double G, double PredReal, double PredFake) Last { get; private set; }

    /// <summary>Trains on the images <paramref name="rows"/> of <paramref name="data"/> with their standardised
    /// attributes (<paramref name="attributes"/>, row-major in the same order), resuming from
    /// <c>TAG.state.safetensors</c> when it holds a run with <paramref name="key"/>. <paramref name="grid"/>
    /// writes a sample grid. Returns false when stopped early by <paramref name="stopAfter"/>.</summary>
    public bool Train(Dataset data, int[] rows, float[] attributes, string workDir, string tag, string key, Action<string>? log = null, Action<GanProgress>? progress = null, Action<string, Generator>? grid = null, int? stopAfter = null)
    {
        Directory.CreateDirectory(workDir);
        var k = _g.NumAttributes;
        var state = Path.Combine(workDir, tag + ".state.safetensors");
        var csvFile = Path.Combine(workDir, tag + ".losses.csv");
        if (Parts.Resume(state, csvFile, key, _csv, log, _s.Steps) is { } resumed)
        {
            Step = resumed;
        }
        var n = _s.BatchSize;
        var pick = new int[n];
        var batchAttributes = new float[n * k];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        _g.Train();
        _d.Train();
        while (Step < _s.Steps)
        {
            double lossD, lossG, errReal = double.NaN, errFake = double.NaN;
            using (TensorScope.Begin())
            {
                for (var i = 0; i < n; i++)
                {
                    var r = _rng.NextInt(rows.Length);
                    pick[i] = rows[r];
                    Array.Copy(attributes, r * k, batchAttributes, i * k, k);
                }
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick);
                var a = Tensor.FromArray((float[])batchAttributes.Clone(), n, k);
                var fake = _g.Forward(_rng.Normal([n, _g.LatentDim]), a);

                var (realLogit, realPred) = _d.Score(real);
                var (fakeLogit, fakePred) = _d.Score(fake.Detach());
                var d = _loss.Discriminator(realLogit, fakeLogit);
                if (_s.Predictor)
                {
                    var er = CcganLosses.PredictorError(realPred, a);
                    var ef = CcganLosses.PredictorError(fakePred, a);
                    d = CcganLosses.Discriminator(d, er, ef, _s.PredictorWeight);
                    errReal = er.Item();
                }
                _optD.ZeroGrad();
                d.Backward();
                _optD.Step();

                var (logit, pred) = _d.Score(fake);
                var g = _loss.Generator(logit);
                if (_s.Predictor)
                {
                    var ef = CcganLosses.PredictorError(pred, a);
                    g = CcganLosses.Generator(g, ef, _s.PredictorWeight);
                    errFake = ef.Item();
                }
                _optG.ZeroGrad();
                _optD.ZeroGrad();
                g.Backward();
                _optG.Step();
                (lossD, lossG) = (d.Item(), g.Item());
            }
            Step++;
            Last = (lossD, lossG, errReal, errFake);
            if (!double.IsFinite(lossD) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"ccgan '{tag}': non-finite loss at step {Step} (D {lossD}, G {lossG}); lower 'lr_g' and 'lr_d'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{lossD:G6},{lossG:G6},{errReal:G6},{errFake:G6}"));
            if (grid is not null && (Step % _s.SampleEvery == 0 || Step == _s.Steps))
            {
                grid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), new Generator(_seed ^ 0x510e527fade682d1UL));
            }
            if (Step % _s.CheckpointEvery == 0 || Step == _s.Steps)
            {
                Parts.Save(state, csvFile, _csv, key, Step);
            }
            progress?.Invoke(new GanProgress(tag, Step, _s.Steps, lossD, lossG, _s.LrG, _s.LrD, 0, (Step - start) / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            if (stopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        grid?.Invoke(Path.Combine(workDir, $"{tag}.samples.png"), new Generator(_seed ^ 0x510e527fade682d1UL));
        return true;
    }

    private TrainerParts Parts => new TrainerParts("ccgan", CsvHeader).Module("g", _g).Module("d", _d).Optimizer("g", _optG).Optimizer("d", _optD).Random("main", _rng);
}
