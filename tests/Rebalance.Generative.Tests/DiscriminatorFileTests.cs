using Rebalance.Data;
using Rebalance.Generative.Architectures;
using Rebalance.Generative.Training;
using Rebalance.Tensors;

namespace Rebalance.Generative.Tests;

/// <summary>A discriminator kept beside its generator comes back as it was saved.</summary>
public class DiscriminatorFileTests
{
    [Theory]
    [InlineData("dcgan", 0, true, false, false)]
    [InlineData("dcgan", 3, false, true, true)]
    [InlineData("dcgan-deep", 3, true, false, false)]
    public void ARoundTripGivesTheSameFeatures(string arch, int classes, bool batchNorm, bool spectral, bool aux)
    {
        var gen = new Generator(4);
        var d = GanArchitectures.Get(arch).CreateDiscriminator(new GanShape(1, 28, 28, 8, classes), new DiscriminatorOptions(batchNorm, spectral, aux), gen);
        // One training-mode forward moves batch-norm statistics and spectral-norm vectors off their start.
        var rng = new Random(5);
        var pixels = new byte[12 * 784];
        rng.NextBytes(pixels);
        var data = new Dataset("noise", pixels, [.. Enumerable.Range(0, 12).Select(i => i % Math.Max(1, classes))], 1, 28, 28, [.. Enumerable.Range(0, Math.Max(1, classes)).Select(c => $"c{c}")]);
        d.Train();
        using (var scope = TensorScope.Begin())
        {
            d.Forward(data.ToTensor(PixelRange.MinusOneToOne), classes > 0 ? Tensor.FromArray([.. data.Labels], 12) : null);
        }
        var path = Path.Combine(Path.GetTempPath(), $"rebalance-d-{Guid.NewGuid():N}.safetensors");
        DiscriminatorFile.Save(path, d, arch);
        var before = DiscriminatorFile.Features(d, data);
        var loaded = DiscriminatorFile.Load(path);
        File.Delete(path);
        Assert.Equal(d.Options, loaded.Options);
        Assert.Equal(d.Shape, loaded.Shape);
        var after = DiscriminatorFile.Features(loaded, data);
        Assert.Equal(12, after.Length);
        Assert.True(after[0].Length > 1000, $"{after[0].Length} features");
        for (var i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i], after[i]);
        }
    }

    [Fact]
    public void AFileThatIsNotADiscriminatorOrAnAutoencoderIsRefusedNamingIt()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rebalance-notd-{Guid.NewGuid():N}.safetensors");
        var g = GanArchitectures.Get("dcgan").CreateGenerator(new GanShape(1, 28, 28, 8), new Generator(1));
        GeneratorFile.Save(path, g, "dcgan", 0, ["a"]);
        var d = Assert.Throws<Rebalance.Nn.CheckpointException>(() => DiscriminatorFile.Load(path));
        Assert.Contains($"{path}: not a discriminator file (no 'discriminator.shape' in its metadata)", d.Message, StringComparison.Ordinal);
        var a = Assert.Throws<Rebalance.Nn.CheckpointException>(() => AutoencoderFile.Load(path));
        Assert.Contains($"{path}: not an autoencoder file (no 'autoencoder.shape' in its metadata)", a.Message, StringComparison.Ordinal);
        File.Delete(path);
    }
}
