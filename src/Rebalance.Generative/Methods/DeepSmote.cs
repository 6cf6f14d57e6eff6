using System.Globalization;
using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Latent;
using Rebalance.Generative.Training;
using Rebalance.Sampling;
using Rebalance.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Rebalance.Generative.Methods;

/// <summary>
/// DeepSMOTE (Dablain, Krawczyk and Chawla 2022): one deterministic convolutional autoencoder trained on
/// every class with reconstruction plus the paper's permutation penalty
/// (<see cref="AutoencoderLosses.PermutationPenalty"/>), then SMOTE between codes of one class: a code of
/// the class, one of its k nearest codes (Euclidean), a point uniformly between them, decoded. The model
/// is kept as <c>all.autoencoder.safetensors</c> (the decoder also as <c>all.generator.safetensors</c>).
/// </summary>
public sealed class DeepSmote : GenerativeRebalancer
{
    /// <summary>The paper's choices: squared error, a 300-value code, λ 1, k 5, Adam 2e-4.</summary>
    public static VaeSettings Defaults { get; } = new() { Objective = "deepsmote", Reconstruction = "mse", LatentDim = 300, LearningRate = 2e-4, Steps = 3000, BatchSize = 100 };

    private readonly VaeSettings _s;
    private VaeModel? _model;

    internal DeepSmote(VaeSettings s, MethodSettings settings, GenerativeContext context) : base(settings, context) => _s = s;

    /// <inheritdoc />
    public override string Name => "deepsmote";

    private protected override GanSettings Primary => new() { Architecture = "dcgan", LatentDim = _s.LatentDim };

    private protected override Dictionary<int, GanGenerator> Generators(Dataset train, int[] grow, ulong seed, string dir, Action<string>? log, List<RebalanceNote> notes)
    {
        var shape = new GanShape(train.Channels, train.Height, train.Width, _s.LatentDim);
        var file = AutoencoderFile.PathOf(dir, "all");
        var key = VaeTrainer.KeyFor(_s, shape, seed, train);
        if (File.Exists(file))
        {
            var (stored, storedKey) = AutoencoderFile.Load(file);
            if (storedKey != key)
            {
                throw new ArgumentException($"{file} holds an autoencoder trained with other settings, data or seed; use another output folder or delete the file");
            }
            _model = stored;
            log?.Invoke($"all: reusing the trained autoencoder {file}");
        }
        else
        {
            var trainer = new VaeTrainer(_s, shape, seed);
            log?.Invoke($"all: training a DeepSMOTE autoencoder (code {_s.LatentDim}, penalty λ {_s.Penalty.ToString(CultureInfo.InvariantCulture)}) on {train.Count} images for {_s.Steps} steps");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            trainer.Train(train, dir, "all", log, Context.Progress);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"all: trained in {sw.Elapsed.TotalSeconds:F0} s, reconstruction {trainer.Last.Recon:G4}, penalty {trainer.Last.Kl:G4}"));
            _model = trainer.Model;
            AutoencoderFile.Save(file, _model, key);
            GeneratorFile.Save(Path.Combine(dir, "all.generator.safetensors"), _model.Decoder, "dcgan", null, train.ClassNames, key);
            VaeTrainer.DeleteState(dir, "all");
        }
        _model.Eval();
        return grow.ToDictionary(c => c, _ => _model.Decoder);
    }

    /// <summary>Latent SMOTE between the codes of class <paramref name="c"/>'s training images.</summary>
    private protected override byte[] Generate(Dataset train, int c, int n, GanGenerator? g, Tensors.Generator gen, Action<string>? log)
    {
        var model = _model ?? throw new InvalidOperationException("DeepSMOTE: generating before the autoencoder is trained");
        var idx = train.IndicesOf(c);
        var codes = Codes(model, train, idx);
        var k = Math.Min(_s.Neighbours, codes.Length - 1);
        if (k == 0)
        {
            log?.Invoke($"class {c} ('{train.ClassNames[c]}'): one image, so its {n} new images are decodings of its code (copies)");
        }
        var neighbours = new Dictionary<int, int[]>();
        var latent = new float[n * _s.LatentDim];
        for (var i = 0; i < n; i++)
        {
            var a = gen.NextInt(codes.Length);
            var row = latent.AsSpan(i * _s.LatentDim, _s.LatentDim);
            codes[a].CopyTo(row);
            if (k == 0)
            {
                continue;
            }
            if (!neighbours.TryGetValue(a, out var near))
            {
                near = [.. Enumerable.Range(0, codes.Length).Where(j => j != a).OrderBy(j => TensorPrimitives.Distance<float>(codes[a], codes[j])).ThenBy(j => j).Take(k)];
                neighbours[a] = near;
            }
            var b = codes[near[gen.NextInt(k)]];
            var u = (float)gen.NextDouble();
            for (var d = 0; d < row.Length; d++)
            {
                row[d] += u * (b[d] - row[d]);
            }
        }
        var size = train.ImageSize;
        var bytes = new byte[n * size];
        using (GradMode.NoGrad())
        {
            for (var start = 0; start < n; start += 256)
            {
                var len = Math.Min(256, n - start);
                using var scope = TensorScope.Begin();
                var z = Tensor.FromArray(latent[(start * _s.LatentDim)..((start + len) * _s.LatentDim)], len, _s.LatentDim);
                Dataset.ToBytes(model.Decoder.Forward(z, null)).CopyTo(bytes.AsSpan(start * size));
            }
        }
        return bytes;
    }

    /// <summary>The codes of the given images (evaluation mode).</summary>
    internal static float[][] Codes(VaeModel model, Dataset data, int[] idx)
    {
        model.Eval();
        return ImageRows.Of(data, (x, _) => model.Encode(x, null).Mu, idx);
    }
}
