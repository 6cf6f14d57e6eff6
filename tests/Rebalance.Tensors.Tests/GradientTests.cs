using F = Rebalance.Tensors.Functional;

namespace Rebalance.Tensors.Tests;

/// <summary>Every differentiable op against finite differences, first and second order, in float64.</summary>
public class GradientTests
{
    private static Tensor N(int seed, params int[] shape) => new Generator((ulong)seed).Normal(shape, dtype: DType.Float64);

    // Values bounded away from 0 by at least 0.2, positive: for log, sqrt, pow bases, divisors.
    private static Tensor P(int seed, params int[] shape) => new Generator((ulong)seed).Uniform(shape, 0.3, 2.0, DType.Float64);

    // Includes exact zeros and negatives, for smooth ops.
    private static Tensor Z(params int[] shape)
    {
        var n = shape.Aggregate(1, (a, b) => a * b);
        var v = Enumerable.Range(0, n).Select(i => i % 4 == 0 ? 0.0 : ((i * 0.37) % 2.3) - 1.1).ToArray();
        return Tensor.FromArray(v, shape);
    }

    // Values away from kinks at 0 (|x| >= 0.1) and pairwise distinct, for relu, abs, max, pooling.
    private static Tensor K(int seed, params int[] shape)
    {
        var n = shape.Aggregate(1, (a, b) => a * b);
        var perm = new Generator((ulong)seed).Permutation(n).ToIntArray();
        var v = perm.Select(p => (p - (n / 2.0) + 0.5) * 0.23).Select(x => Math.Abs(x) < 0.1 ? x + 0.15 : x).ToArray();
        return Tensor.FromArray(v, shape);
    }

    private static Tensor Idx(params int[] values) => Tensor.FromArray(values, values.Length);

    public static readonly Dictionary<string, (Func<Tensor[], Tensor> F, Func<Tensor[]> Inputs)> Cases = new()
    {
        ["add_broadcast"] = (x => x[0] + x[1], () => [N(1, 2, 3, 4), N(2, 3, 1)]),
        ["sub_broadcast"] = (x => x[0] - x[1], () => [N(1, 4, 1), N(2, 1, 5)]),
        ["mul_broadcast"] = (x => x[0] * x[1], () => [Z(2, 3, 4), N(3, 1, 4)]),
        ["div"] = (x => x[0] / x[1], () => [Z(3, 4), P(4, 3, 4)]),
        ["pow_tensor"] = (x => Tensor.Pow(x[0], x[1]), () => [P(5, 3, 3), N(6, 3, 3)]),
        ["pow_scalar"] = (x => Tensor.Pow(x[0], 3), () => [Z(3, 4)]),
        ["pow_fractional"] = (x => Tensor.Pow(x[0], 1.7), () => [P(7, 3, 4)]),
        ["scalar_ops"] = (x => (2.0 - (x[0] * 3.0) + 1.5) / 2.0 + (1.0 / x[1]), () => [Z(3, 2), P(8, 3, 2)]),
        ["neg"] = (x => -x[0], () => [Z(5)]),
        ["exp"] = (x => Tensor.Exp(x[0]), () => [Z(2, 5)]),
        ["log"] = (x => Tensor.Log(x[0]), () => [P(9, 2, 5)]),
        ["sqrt"] = (x => Tensor.Sqrt(x[0]), () => [P(10, 2, 5)]),
        ["abs"] = (x => Tensor.Abs(x[0]), () => [K(11, 3, 4)]),
        ["clamp"] = (x => Tensor.Clamp(x[0], -0.5, 0.6), () => [K(12, 4, 4)]),
        ["maximum"] = (x => Tensor.Maximum(x[0], x[1]), () => [K(13, 3, 4), K(14, 3, 4)]),
        ["minimum_broadcast"] = (x => Tensor.Minimum(x[0], x[1]), () => [K(15, 3, 4), K(16, 4) + 0.05]),
        ["where"] = (x => Tensor.Where(Tensor.Gt(x[2].Detach(), 0.0), x[0] * x[0], x[1] * 2.0), () => [N(17, 3, 4), N(18, 3, 4), K(19, 3, 4)]),
        ["relu"] = (x => Tensor.Relu(x[0]) * x[0], () => [K(20, 3, 5)]),
        ["leaky_relu"] = (x => Tensor.LeakyRelu(x[0], 0.2) * x[0], () => [K(21, 3, 5)]),
        ["elu"] = (x => Tensor.Elu(x[0], 1.3), () => [K(22, 3, 5)]),
        ["tanh"] = (x => Tensor.Tanh(x[0]), () => [Z(3, 5)]),
        ["sigmoid"] = (x => Tensor.Sigmoid(x[0]), () => [Z(3, 5)]),
        ["softplus"] = (x => Tensor.Softplus(x[0]), () => [Z(3, 5)]),
        ["softplus_beta"] = (x => Tensor.Softplus(x[0] * 5.0, beta: 2, threshold: 4), () => [K(23, 3, 5)]),
        ["silu"] = (x => Tensor.Silu(x[0]), () => [Z(3, 5)]),
        ["sum_dims"] = (x => x[0].Sum([0, 2]) * x[0].Sum(1, keepDim: true).Sum(), () => [N(24, 2, 3, 4)]),
        ["mean"] = (x => x[0].Mean(1) + x[0].Mean(), () => [N(25, 3, 4)]),
        ["var"] = (x => x[0].Var(1) + x[0].Var([0, 1], unbiased: false), () => [N(26, 3, 4)]),
        ["max_dim"] = (x => x[0].Max(1) + x[0].Min(0, keepDim: true).Sum(), () => [K(27, 3, 4)]),
        ["logsumexp"] = (x => x[0].LogSumExp(1) + x[0].LogSumExp([0, 1]), () => [N(28, 3, 4)]),
        ["matmul"] = (x => Tensor.MatMul(x[0], x[1]), () => [N(29, 3, 4), N(30, 4, 5)]),
        ["matmul_batched"] = (x => Tensor.MatMul(x[0], x[1]), () => [N(31, 2, 3, 4), N(32, 2, 4, 2)]),
        ["matmul_broadcast"] = (x => Tensor.MatMul(x[0], x[1]), () => [N(33, 2, 3, 4), N(34, 4, 2)]),
        ["matmul_vector"] = (x => Tensor.MatMul(x[0], x[1]), () => [N(35, 4), N(36, 4, 3)]),
        ["reshape_permute"] = (x => x[0].Reshape(3, 8).Permute(1, 0).Reshape(2, 4, 3).Transpose(0, 2) * x[1], () => [N(37, 2, 3, 4), N(38, 3, 4, 2)]),
        ["flatten_squeeze"] = (x => x[0].Unsqueeze(1).Flatten(1).Squeeze() * 2.0, () => [N(39, 3, 4)]),
        ["expand_sumto"] = (x => x[0].Expand(3, 2, 4).SumTo([2, 1]) * x[0].Expand(2, 4).Sum(), () => [N(40, 2, 1)]),
        ["concat"] = (x => Tensor.Concat([x[0], x[1] * x[1]], 1), () => [N(41, 2, 3), N(42, 2, 2)]),
        ["stack"] = (x => Tensor.Stack([x[0], x[1]], 1) * Tensor.Stack([x[1], x[0]], 0).Reshape(2, 2, 3).Permute(1, 0, 2), () => [N(43, 2, 3), N(44, 2, 3)]),
        ["split"] = (x => x[0].Split(2, 1)[1] * x[0].Split([1, 3], 1)[0], () => [N(45, 3, 4)]),
        ["slice_step"] = (x => x[0].Slice(1, 1, 6, 2) * x[0].Slice(1, -3, 7), () => [N(46, 2, 7)]),
        ["index_select"] = (x => x[0].IndexSelect(1, Idx(2, 0, 2)) * 1.5, () => [N(47, 2, 3)]),
        ["gather"] = (x => x[0].Gather(1, Tensor.FromArray(new[] { 1, 1, 0, 2, 0, 1 }, 3, 2)), () => [N(48, 3, 3)]),
        ["to_float64_roundtrip"] = (x => x[0].To(DType.Float64) * x[0], () => [N(49, 5)]),
        ["linear"] = (x => F.Linear(x[0], x[1], x[2]), () => [N(50, 3, 4), N(51, 2, 4), N(52, 2)]),
        ["linear_3d"] = (x => F.Linear(x[0], x[1]), () => [N(53, 2, 3, 4), N(54, 5, 4)]),
        ["conv2d"] = (x => F.Conv2d(x[0], x[1], x[2], stride: 1, padding: 1), () => [N(55, 2, 2, 4, 4), N(56, 3, 2, 3, 3), N(57, 3)]),
        ["conv2d_stride_dilation"] = (x => F.Conv2d(x[0], x[1], null, (2, 1), (1, 0), (1, 2)), () => [N(58, 2, 2, 5, 6), N(59, 2, 2, 3, 2)]),
        ["conv2d_nonlinear"] = (x => Tensor.Tanh(F.Conv2d(x[0], x[1], null, 2, 1)), () => [N(60, 1, 2, 4, 4), N(61, 2, 2, 4, 4)]),
        ["conv_transpose2d"] = (x => F.ConvTranspose2d(x[0], x[1], x[2], stride: 2, padding: 1), () => [N(62, 2, 3, 3, 3), N(63, 3, 2, 4, 4), N(64, 2)]),
        ["conv_transpose2d_outpad"] = (x => F.ConvTranspose2d(x[0], x[1], null, (2, 2), (0, 1), (1, 0), (1, 1)), () => [N(65, 1, 2, 3, 2), N(66, 2, 1, 3, 3)]),
        ["conv_transpose2d_nonlinear"] = (x => Tensor.Sigmoid(F.ConvTranspose2d(x[0], x[1], null, 2, 1)), () => [N(67, 1, 2, 3, 3), N(68, 2, 1, 4, 4)]),
        ["max_pool2d"] = (x => F.MaxPool2d(x[0], 2) * F.MaxPool2d(x[0], 3, 2, 1).Sum(), () => [K(69, 2, 2, 5, 5)]),
        ["avg_pool2d"] = (x => F.AvgPool2d(x[0], 2, 1, 1), () => [N(70, 2, 2, 4, 4)]),
        ["global_avg_pool"] = (x => F.GlobalAvgPool2d(x[0] * x[0]), () => [N(71, 2, 3, 3, 3)]),
        ["upsample"] = (x => F.UpsampleNearest(x[0], 2) * F.UpsampleNearest(x[0], 2), () => [N(72, 1, 2, 2, 3)]),
        ["pixel_norm"] = (x => F.PixelNorm(x[0]) * x[1], () => [N(113, 2, 3, 2, 3), N(114, 2, 3, 2, 3)]),
        ["pixel_norm_2d"] = (x => Tensor.Tanh(F.PixelNorm(x[0])), () => [N(115, 3, 4)]),
        ["upsample_3_weighted"] = (x => Tensor.Tanh(F.UpsampleNearest(x[0], 3)) * x[1], () => [N(111, 2, 1, 2, 3), N(112, 2, 1, 6, 9)]),
        ["batch_norm_train_2d"] = (x => F.BatchNorm(x[0], null, null, x[1], x[2], training: true), () => [N(73, 4, 3), N(74, 3), N(75, 3)]),
        ["batch_norm_train_4d"] = (x => F.BatchNorm(x[0], null, null, x[1], x[2], training: true), () => [N(76, 3, 2, 2, 2), N(77, 2), N(78, 2)]),
        ["batch_norm_train_planes"] = (x => F.BatchNorm(x[0], null, null, x[1], x[2], training: true), () => [N(108, 2, 2, 4, 5), N(109, 2), N(110, 2)]), // planes of 20: the plane-at-a-time kernel
        ["batch_norm_eval"] = (x => F.BatchNorm(x[0], P(79, 2), P(80, 2), x[1], x[2], training: false), () => [N(81, 3, 2, 2, 2), N(82, 2), N(83, 2)]),
        ["layer_norm"] = (x => F.LayerNorm(x[0], [4], x[1], x[2]), () => [N(84, 3, 4), N(85, 4), N(86, 4)]),
        ["instance_norm"] = (x => F.InstanceNorm(x[0], x[1], x[2]), () => [N(87, 2, 2, 2, 3), N(88, 2), N(89, 2)]),
        ["dropout"] = (x => F.Dropout(x[0], 0.4, training: true, new Generator(7)), () => [N(90, 4, 5)]),
        ["softmax"] = (x => F.Softmax(x[0], 1), () => [N(91, 3, 4)]),
        ["log_softmax"] = (x => F.LogSoftmax(x[0], 0), () => [N(92, 3, 4)]),
        ["bce_with_logits"] = (x => F.BinaryCrossEntropyWithLogits(x[0], Tensor.FromArray(new[] { 0.0, 1, 1, 0, 0.3, 1 }, 2, 3)), () => [Z(2, 3)]),
        ["bce_with_logits_pos_weight"] = (x => F.BinaryCrossEntropyWithLogits(x[0], Tensor.FromArray(new[] { 0.0, 1, 1, 0, 1, 1 }, 2, 3), Tensor.FromArray(new[] { 2.0, 0.5, 3.0 }), Reduction.Sum), () => [N(93, 2, 3)]),
        ["cross_entropy"] = (x => F.CrossEntropy(x[0], Idx(1, 0, 3)), () => [N(94, 3, 4)]),
        ["cross_entropy_weights_smoothing"] = (x => F.CrossEntropy(x[0], Idx(1, 0, 3), Tensor.FromArray(new[] { 1.0, 2.0, 0.5, 3.0 }), labelSmoothing: 0.1), () => [N(95, 3, 4)]),
        ["nll"] = (x => F.NllLoss(F.LogSoftmax(x[0], 1), Idx(2, 2, 0), reduction: Reduction.None), () => [N(96, 3, 3)]),
        ["mse"] = (x => F.MseLoss(x[0], x[1]), () => [N(97, 3, 4), N(98, 3, 4)]),
        ["l1"] = (x => F.L1Loss(x[0], x[1], Reduction.Sum), () => [K(99, 3, 4), K(100, 3, 4) + 0.05]),
        ["cosine_similarity"] = (x => F.CosineSimilarity(x[0], x[1]), () => [N(101, 3, 4), N(102, 3, 4)]),
        ["pairwise_distances"] = (x => F.PairwiseSquaredDistances(x[0], x[1]), () => [N(103, 3, 4), N(104, 2, 4)]),
        ["gradient_penalty_shape"] = (x =>
        {
            // A tiny critic with the layers a WGAN-GP penalty differentiates through.
            var h = Tensor.LeakyRelu(F.Conv2d(x[0], x[1], null, 2, 1), 0.2);
            h = F.LayerNorm(h, [2, 2, 2]);
            return F.Linear(h.Flatten(1), x[2]).Sum();
        }, () => [N(105, 2, 1, 4, 4), N(106, 2, 1, 3, 3), N(107, 1, 8)]),
    };

    public static TheoryData<string> Names => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesFiniteDifferences(string name)
    {
        var (f, inputs) = Cases[name];
        GradCheck.Check(f, inputs());
    }
}
