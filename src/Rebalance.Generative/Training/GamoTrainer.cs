using System.Globalization;
using Rebalance.Data;
using Rebalance.Data.Formats;
using Rebalance.Generative.Adversarial;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Methods;
using Rebalance.Nn;
using Rebalance.Tensors;

namespace Rebalance.Generative.Training;

/// <summary>GAMO's training loop (see <see cref="Gamo"/>).</summary>
public sealed class GamoTrainer
{
    private const string CsvHeader = "step,j,q,loss_g";
    private readonly GamoSettings _s;
    private readonly GamoGenerator _g;
    private readonly Sequential _m;
    private readonly Sequential _d;
    private readonly int[] _grow;
    private readonly Tensor[] _images;
    private readonly double[] _weights;
    private readonly int _perClass;
    private readonly int _numClasses;
    private readonly Adam _optG;
    private readonly Adam _optM;
    private readonly Adam _optD;
    private readonly Generator _rng;
    private readonly ulong _seed;
    private readonly List<string> _csv = [];

    /// <summary>Trains <paramref name="g"/>, <paramref name="m"/> and <paramref name="d"/> to fill the classes
    /// <paramref name="grow"/> (<paramref name="images"/>: their training images, in that order) of data whose
    /// class sizes are <paramref name="counts"/>.</summary>
    public GamoTrainer(GamoSettings s, GamoGenerator g, Sequential m, Sequential d, int[] grow, int[] counts, Tensor[] images, ulong seed)
    {
        (_s, _g, _m, _d, _grow, _images, _seed, _numClasses) = (s, g, m, d, grow, images, seed, counts.Length);
        var total = (double)counts.Sum();
        var largest = counts.Max() / total;
        // The generated share of class i, P_c − P_i, spread over its m samples per step.
        _weights = [.. grow.Select(c => largest - (counts[c] / total))];
        _perClass = s.GeneratedPerClass > 0 ? s.GeneratedPerClass : Math.Max(2, (s.BatchSize + counts.Length - 1) / counts.Length);
        _optG = new Adam([.. g.Parameters()], s.LearningRate, s.Beta1);
        _optM = new Adam([.. m.Parameters()], s.LearningRate, s.Beta1);
        _optD = new Adam([.. d.Parameters()], s.LearningRate, s.Beta1);
        _rng = new Generator(seed ^ 0x243f6a8885a308d3UL);
    }

    /// <summary>Steps done.</summary>
    public int Step { get; private set; }

    /// <summary>The last step's J (classifier objective), Q (discriminator objective) and G's loss.</summary>
    public (double J, double Q, double G) Last { get; private set; }

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
        var n = _s.BatchSize;
        var pick = new int[n];
        var perClass = Enumerable.Repeat(_perClass, _grow.Length).ToArray();
        var genLabels = Tensor.FromArray([.. _grow.SelectMany(c => Enumerable.Repeat(c, _perClass))], _grow.Length * _perClass);
        var genWeights = Tensor.FromArray([.. _weights.SelectMany(w => Enumerable.Repeat((float)(w / _perClass), _perClass))], _grow.Length * _perClass);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = Step;
        _g.Train();
        _m.Train();
        _d.Train();
        while (Step < _s.Steps)
        {
            double j, q, lossG;
            using (TensorScope.Begin())
            {
                for (var i = 0; i < n; i++)
                {
                    pick[i] = _rng.NextInt(data.Count);
                }
                var real = data.ToTensor(PixelRange.MinusOneToOne, pick).Reshape(n, -1);
                var labels = Tensor.FromArray([.. pick.Select(data.Label)], n);
                var (fake, _) = _g.Forward(_rng.Normal([genLabels.Size(0), _s.LatentDim]), perClass, _images);
                var still = fake.Detach();

                // M minimises J.
                var jLoss = GamoLosses.ClassifierObjective(_m.Forward(real), labels, _m.Forward(still), genLabels, genWeights);
                _optM.ZeroGrad();
                jLoss.Backward();
                _optM.Step();

                // D maximises Q.
                var qValue = GamoLosses.DiscriminatorObjective(Score(real, labels), Score(still, genLabels), genWeights);
                _optD.ZeroGrad();
                (-qValue).Backward();
                _optD.Step();

                // G maximises J and minimises Q (only its generated parts depend on it).
                var g = -GamoLosses.GeneratedPart(_m.Forward(fake), genLabels, genWeights) + GamoLosses.FakePart(Score(fake, genLabels), genWeights);
                _optG.ZeroGrad();
                _optM.ZeroGrad();
                _optD.ZeroGrad();
                g.Backward();
                _optG.Step();
                (j, q, lossG) = (jLoss.Item(), qValue.Item(), g.Item());
            }
            Step++;
            Last = (j, q, lossG);
            if (!double.IsFinite(j) || !double.IsFinite(q) || !double.IsFinite(lossG))
            {
                throw new InvalidOperationException($"GAMO '{tag}': non-finite loss at step {Step} (J {j}, Q {q}, G {lossG}); lower 'lr'");
            }
            _csv.Add(string.Create(CultureInfo.InvariantCulture, $"{Step},{j:G6},{q:G6},{lossG:G6}"));
            if (Step % _s.SampleEvery == 0 || Step == _s.Steps)
            {
                WriteGrid(Path.Combine(workDir, $"{tag}.samples-step{Step:D6}.png"), data);
            }
            if (Step % _s.CheckpointEvery == 0 || Step == _s.Steps)
            {
                Parts.Save(state, csvFile, _csv, key, Step);
            }
            progress?.Invoke(new GanProgress(tag, Step, _s.Steps, -q, lossG, _s.LearningRate, _s.LearningRate, 0, (Step - start) / Math.Max(1e-9, sw.Elapsed.TotalSeconds)));
            if (stopAfter is { } stop && Step >= stop && Step < _s.Steps)
            {
                return false;
            }
        }
        WriteGrid(Path.Combine(workDir, $"{tag}.samples.png"), data);
        return true;
    }

    /// <summary>D's logit for images (N, pixels) claimed to be of <paramref name="labels"/>.</summary>
    private Tensor Score(Tensor x, Tensor labels) =>
        _d.Forward(Tensor.Concat([x, Tensor.OneHot(labels, _numClasses, x.DType)], 1)).Reshape(-1);

    /// <summary><paramref name="n"/> images of class <paramref name="c"/> as bytes: convex combinations of its
    /// training images (<paramref name="images"/>[i] for <paramref name="classes"/>[i]) for noise from
    /// <paramref name="gen"/>, the generator in evaluation mode.</summary>
    public static byte[] Generate(GamoGenerator g, int[] classes, Tensor[] images, int c, int n, Generator gen, int channels, int height, int width)
    {
        var index = Array.IndexOf(classes, c);
        if (index < 0)
        {
            throw new ArgumentException($"GAMO: the generator was trained to fill class(es) {string.Join(", ", classes)}, not class {c}");
        }
        return ImageRows.Generate(g, n, channels * height * width, (_, len) =>
            g.Forward(gen.Normal([len, g.LatentDim]), [.. classes.Select((_, i) => i == index ? len : 0)], images).Samples.Reshape(len, channels, height, width));
    }

    private TrainerParts Parts => new TrainerParts("gamo", CsvHeader).Module("g", _g).Module("m", _m).Module("d", _d).Optimizer("g", _optG).Optimizer("m", _optM).Optimizer("d", _optD).Random("main", _rng);

    private void WriteGrid(string path, Dataset data)
    {
        var gen = new Generator(_seed ^ 0x510e527fade682d1UL);
        SampleGrid.WriteGenerated(path, data, [.. _grow.Take(10)], (c, n) => Generate(_g, _grow, _images, c, n, gen, data.Channels, data.Height, data.Width));
    }
}
