using System.Buffers.Binary;
using System.Text;
using Rebalance.Tensors;
using F = Rebalance.Tensors.Functional;

namespace Rebalance.Nn.Tests;

/// <summary>safetensors round trips, exact resume, and clear errors for bad files.</summary>
public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rebalance-ckpt-" + Guid.NewGuid().ToString("N"));

    public CheckpointTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void TensorsAndMetadataRoundTrip()
    {
        var gen = new Generator(1);
        var tensors = new OrderedDictionary<string, Tensor>
        {
            ["a.weight"] = gen.Normal([3, 4]),
            ["b"] = Tensor.FromArray(new[] { 1, -2, 3 }),
            ["c"] = gen.Normal([2], dtype: DType.Float64),
            ["scalar"] = Tensor.Scalar(7),
        };
        SafeTensors.Write(PathOf("t.safetensors"), tensors, new Dictionary<string, string> { ["config"] = "{\"z\":100}" });
        var bytes = File.ReadAllBytes(PathOf("t.safetensors"));
        var headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, headerLen % 8);
        var (read, meta) = SafeTensors.Read(PathOf("t.safetensors"));
        Assert.Equal("{\"z\":100}", meta["config"]);
        Assert.Equal(tensors.Keys, read.Keys);
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.DType, read[k].DType);
            Assert.Equal(t.Shape, read[k].Shape);
            Assert.Equal(t.ToDoubleArray(), read[k].ToDoubleArray());
        }
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void ReadsTheFileWrittenByPyTorchTools()
    {
        // The reference file was written by tools/make_nn_references.py with Python's struct and json.
        var (t, meta) = SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "torch_reference.safetensors"));
        Assert.Equal("tools/make_nn_references.py", meta["producer"]);
        Assert.Equal([5], t["linear.param.bias"].Shape);
        Assert.Equal(DType.Int32, t["condbn.labels"].DType);
    }

    private static (Sequential Model, Adam Opt, StepLR Sched, Generator Data) Fresh()
    {
        var gen = new Generator(11);
        var model = ModuleTests.SmallCnn(gen);
        var opt = new Adam(model.Parameters(), 1e-2);
        return (model, opt, new StepLR(opt, 2, 0.5), gen);
    }

    private static float TrainStep(Sequential model, Adam opt, StepLR sched, Generator data)
    {
        using var scope = TensorScope.Begin();
        var x = data.Normal([8, 1, 8, 8]);
        var y = Tensor.FromArray(Enumerable.Range(0, 8).Select(i => i % 3).ToArray());
        opt.ZeroGrad();
        var loss = F.CrossEntropy(model.Forward(x), y);
        loss.Backward();
        opt.Step();
        sched.Step();
        return (float)loss.Item();
    }

    [Fact]
    public void ResumingGivesTheSameStepsAsAnUninterruptedRun()
    {
        var (m1, o1, s1, g1) = Fresh();
        var straight = Enumerable.Range(0, 6).Select(_ => TrainStep(m1, o1, s1, g1)).ToArray();

        var (m2, o2, s2, g2) = Fresh();
        for (var i = 0; i < 3; i++)
        {
            TrainStep(m2, o2, s2, g2);
        }
        new Checkpoint().AddModule(m2, "model").AddOptimizer(o2, "adam").AddScheduler(s2, "lr").AddGenerator(g2, "data").Save(PathOf("run.safetensors"));

        var (m3, o3, s3, g3) = Fresh();
        var c = Checkpoint.Load(PathOf("run.safetensors"));
        c.LoadModule(m3, "model");
        c.LoadOptimizer(o3, "adam");
        c.LoadScheduler(s3, "lr");
        c.LoadGenerator(g3, "data");
        var resumed = Enumerable.Range(0, 3).Select(_ => TrainStep(m3, o3, s3, g3)).ToArray();
        Assert.Equal(straight[3..], resumed);
        Assert.Equal(m1.StateDict()["6.weight"].ToFloatArray(), m3.StateDict()["6.weight"].ToFloatArray());
        Assert.Equal(o1.ParamGroups[0].LearningRate, o3.ParamGroups[0].LearningRate);
    }

    [Fact]
    public void PartialLoadingByPrefixAndName()
    {
        var gen = new Generator(2);
        var source = ModuleTests.SmallCnn(gen);
        new Checkpoint().AddModule(source, "g").Save(PathOf("g.safetensors"));
        var target = new Sequential(new Conv2d(1, 4, 3, gen, padding: 1), new BatchNorm2d(4), Activation.ReLU(), new Linear(9, 2, gen));
        var c = Checkpoint.Load(PathOf("g.safetensors"));
        var result = c.LoadModule(target, "g", strict: false, include: name => name.StartsWith("0.", StringComparison.Ordinal) || name.StartsWith("1.", StringComparison.Ordinal));
        Assert.Equal(source.StateDict()["0.weight"].ToFloatArray(), target.StateDict()["0.weight"].ToFloatArray());
        Assert.Contains("3.weight", result.MissingKeys);
        Assert.Contains("no tensors under the prefix 'd'", Assert.Throws<CheckpointException>(() => c.LoadModule(target, "d")).Message, StringComparison.Ordinal);
        var strictError = Assert.Throws<CheckpointException>(() => c.LoadModule(target, "g"));
        Assert.Contains("g.safetensors", strictError.Message, StringComparison.Ordinal);
    }

    private string WriteValid()
    {
        var p = PathOf("ok.safetensors");
        SafeTensors.Write(p, new OrderedDictionary<string, Tensor> { ["w"] = Tensor.Ones([2, 2]), ["b"] = Tensor.Ones([2]) });
        return p;
    }

    private static byte[] WithHeader(string json, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)h.Length);
        h.CopyTo(file, 8);
        return file;
    }

    [Fact]
    public void ReadsHalfPrecisionAndWideIntegerTensors()
    {
        // F16 1.5 = 0x3E00, BF16 -2.0 = 0xC000, I64 -7 and 2^40 (out of int32 range in the second file).
        var data = new byte[2 + 2 + 8];
        BinaryPrimitives.WriteUInt16LittleEndian(data, 0x3E00);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2), 0xC000);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(4), -7);
        var file = WithHeader("{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]},\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[4,12]}}", data.Length);
        data.CopyTo(file, file.Length - data.Length);
        var (t, _) = SafeTensors.Parse(file, "mixed");
        Assert.Equal(1.5, t["h"].Item());
        Assert.Equal(-2.0, t["b"].Item());
        Assert.Equal(DType.Int32, t["i"].DType);
        Assert.Empty(t["i"].Shape);
        Assert.Equal(-7.0, t["i"].Item());
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(file.Length - 8), 1L << 40);
        Assert.Contains("outside the int32 range", Assert.Throws<CheckpointException>(() => SafeTensors.Parse(file, "mixed")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadGeneratorStateIsRefused()
    {
        var g = new Generator(3);
        Assert.Throws<FormatException>(() => g.SetState("not a state"));
        Assert.Throws<ArgumentException>(() => g.SetState(new Generator(4).GetState()));
        var c = new Checkpoint();
        c.Metadata["rng.data"] = "0:0:0:0:0:-";
        Assert.Contains("generator 'data'", Assert.Throws<CheckpointException>(() => c.LoadGenerator(new Generator(0), "data")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadFilesGiveClearErrors()
    {
        var good = File.ReadAllBytes(WriteValid());
        string Error(byte[] bytes)
        {
            var p = PathOf("bad.safetensors");
            File.WriteAllBytes(p, bytes);
            var e = Assert.Throws<CheckpointException>(() => SafeTensors.Read(p));
            Assert.Contains("bad.safetensors", e.Message, StringComparison.Ordinal);
            return e.Message;
        }

        Assert.Contains("too short", Error(good[..5]), StringComparison.Ordinal);
        Assert.Contains("truncated", Error(good[..^4]), StringComparison.Ordinal);
        var longHeader = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(longHeader, 1UL << 40);
        Assert.Contains("header length", Error(longHeader), StringComparison.Ordinal);
        Assert.Contains("not valid JSON", Error(WithHeader("{\"w\":", 0)), StringComparison.Ordinal);
        Assert.Contains("needs 16 bytes", Error(WithHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12)), StringComparison.Ordinal);
        Assert.Contains("overlaps", Error(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)), StringComparison.Ordinal);
        Assert.Contains("cover 8 bytes but the data holds 4", Error(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4)), StringComparison.Ordinal);
        Assert.Contains("dtype 'C64'", Error(WithHeader("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8)), StringComparison.Ordinal);
        Assert.Contains("not a safetensors file", Error(WithHeader("[1, 2, 3]  ", 0)), StringComparison.Ordinal);

        // Missing, extra and mismatched tensors when loading into a model.
        var model = new Linear(2, 2, new Generator(0));
        var c = Checkpoint.Load(WriteValid());
        Assert.Contains("missing weight", Assert.Throws<CheckpointException>(() => c.LoadModule(model)).Message, StringComparison.Ordinal);
        SafeTensors.Write(PathOf("lin.safetensors"), new OrderedDictionary<string, Tensor> { ["weight"] = Tensor.Ones([2, 3]), ["bias"] = Tensor.Ones([2]) });
        Assert.Contains("'weight' has shape [2, 3]", Assert.Throws<CheckpointException>(() => Checkpoint.Load(PathOf("lin.safetensors")).LoadModule(model)).Message, StringComparison.Ordinal);
        SafeTensors.Write(PathOf("extra.safetensors"), new OrderedDictionary<string, Tensor> { ["weight"] = Tensor.Ones([2, 2]), ["bias"] = Tensor.Ones([2]), ["scale"] = Tensor.Ones([1]) });
        Assert.Contains("unexpected scale", Assert.Throws<CheckpointException>(() => Checkpoint.Load(PathOf("extra.safetensors")).LoadModule(model)).Message, StringComparison.Ordinal);
        var opt = new Adam(model.Parameters());
        Assert.Contains("no optimiser state named 'adam'", Assert.Throws<CheckpointException>(() => c.LoadOptimizer(opt, "adam")).Message, StringComparison.Ordinal);
    }
}
