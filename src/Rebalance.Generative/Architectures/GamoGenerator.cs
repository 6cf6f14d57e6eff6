using Rebalance.Nn;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Generative.Architectures;

/// <summary>GAMO's convex generator: a conditional transient mapping unit (noise and one-hot class through
/// three dense layers with batch norm) shared by all classes, and one instance generation unit per filled
/// class that turns its output into softmax weights over that class's n_i training images; the sample is
/// their convex combination, so it stays inside the class's convex hull in pixel space.</summary>
public sealed class GamoGenerator : Module
{
    private readonly int _latent;
    private readonly int _numClasses;
    private readonly int[] _classes;

    /// <summary>Creates the generator for <paramref name="counts"/>[i] images of each class in <paramref name="classes"/>.</summary>
    public GamoGenerator(int latentDim, int numClasses, IReadOnlyList<int> classes, IReadOnlyList<int> counts, Generator gen)
    {
        (_latent, _numClasses, _classes) = (latentDim, numClasses, [.. classes]);
        RegisterModule("tmu", new Sequential(
            new Linear(latentDim + numClasses, 64, gen), Activation.LeakyReLU(0.2), new BatchNorm1d(64),
            new Linear(64, 128, gen), Activation.LeakyReLU(0.2), new BatchNorm1d(128),
            new Linear(128, 256, gen), Activation.LeakyReLU(0.2), new BatchNorm1d(256)));
        var igu = new ModuleList();
        for (var i = 0; i < _classes.Length; i++)
        {
            igu.Add(new Linear(256, counts[i], gen));
        }
        RegisterModule("igu", igu);
    }

    /// <summary>Noise size.</summary>
    public int LatentDim => _latent;

    /// <summary>Not used: the generator needs the classes and their images.</summary>
    public override Tensor Forward(Tensor x) => throw new InvalidOperationException("GAMO's generator needs noise, classes and the classes' images: Forward(z, classes, images)");

    /// <summary>
    /// Samples for the filled classes: rows of <paramref name="z"/> (N, z) in blocks of
    /// <paramref name="perClass"/>[i] for the i-th filled class, <paramref name="images"/>[i] (n_i, pixels) its
    /// training images. Returns (N, pixels) and the convex weights of each block.
    /// </summary>
    public (Tensor Samples, Tensor[] Weights) Forward(Tensor z, IReadOnlyList<int> perClass, IReadOnlyList<Tensor> images)
    {
        var labels = perClass.SelectMany((m, i) => Enumerable.Repeat(_classes[i], m)).ToArray();
        var h = Child("tmu").Forward(Tensor.Concat([z, Tensor.OneHot(Tensor.FromArray(labels, labels.Length), _numClasses, z.DType)], 1));
        var igu = (ModuleList)Child("igu");
        var parts = new List<Tensor>();
        var weights = new Tensor[perClass.Count];
        var start = 0;
        for (var i = 0; i < perClass.Count; i++)
        {
            if (perClass[i] == 0)
            {
                weights[i] = Tensor.Zeros([0, images[i].Size(0)], z.DType);
                continue;
            }
            weights[i] = F.Softmax(igu[i].Forward(h.Slice(0, start, start + perClass[i])), 1);
            parts.Add(Tensor.MatMul(weights[i], images[i]));
            start += perClass[i];
        }
        return (Tensor.Concat([.. parts], 0), weights);
    }
}
