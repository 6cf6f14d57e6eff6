using Rebalance.Tensors.Kernels;
using Rebalance.Tensors.Kernels.Reference;

namespace Rebalance.Tensors.Tests;

/// <summary>im2col + GEMM convolution (forward, input gradient, weight gradient) against direct loops.</summary>
public class ConvKernelTests
{
    // (N, C, H, W, O, KH, KW, SH, SW, PH, PW, DH, DW)
    private static readonly int[][] Shapes =
    [
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1],
        [2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1],
        [3, 2, 7, 6, 5, 4, 4, 2, 2, 1, 1, 1, 1],
        [2, 4, 9, 7, 3, 3, 2, 2, 3, 0, 1, 2, 1],
        [5, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1, 1],
        [7, 8, 14, 14, 6, 5, 5, 1, 1, 2, 2, 1, 1],
        [4, 6, 6, 6, 7, 1, 1, 1, 1, 0, 0, 1, 1],
        [3, 5, 7, 7, 9, 4, 4, 2, 2, 1, 1, 1, 1],
        [1, 2, 13, 11, 3, 3, 3, 3, 2, 2, 0, 1, 3],
        [17, 3, 4, 4, 2, 2, 2, 1, 1, 0, 0, 1, 1],
        [3, 20, 9, 9, 13, 4, 4, 1, 1, 2, 2, 1, 1],   // C*KH*KW = 320 > one k-block of the GEMM
        [2, 3, 40, 40, 5, 3, 3, 1, 1, 1, 1, 1, 1],   // one image per group, long rows
        [3, 8, 14, 14, 9, 5, 5, 1, 1, 2, 2, 1, 1],   // direct kernel: 9 output channels (partial block of 8)
        [2, 3, 13, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1],   // direct kernel: odd output height
        [2, 2, 10, 14, 3, 3, 2, 1, 1, 0, 1, 1, 1],   // direct kernel: uneven kernel and padding
        [1, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1, 1],   // direct kernel: the cnn28 first layer
        [2, 3, 9, 14, 8, 3, 3, 1, 1, 2, 0, 1, 1],    // direct kernel: padding K - 1 on rows only, odd output height
        [2, 3, 9, 13, 8, 3, 3, 1, 1, 4, 2, 1, 1],    // padding wider than the kernel: the direct kernel's adjoint would need negative padding
        [3, 1, 12, 12, 16, 4, 4, 2, 2, 1, 1, 1, 1],  // few input channels: a DCGAN first layer
        [2, 3, 9, 7, 32, 3, 3, 1, 2, 1, 0, 1, 1],    // few input channels: RGB, mixed strides
        [2, 2, 10, 10, 48, 3, 3, 2, 2, 1, 1, 2, 2],  // few input channels: dilation 2
        [1, 1, 8, 8, 80, 2, 2, 2, 2, 0, 0, 1, 1],    // few input channels: 80 = one full and one partial block of 64
        [3, 16, 9, 9, 19, 4, 4, 2, 2, 1, 1, 1, 1],   // channels-last: 19 outputs (partial tiles of 12 and 32)
        [2, 20, 11, 9, 33, 3, 5, 2, 3, 1, 2, 1, 1],  // channels-last: mixed strides and pads, runs of 100
        [2, 16, 10, 10, 16, 2, 2, 3, 3, 0, 0, 1, 1], // channels-last: kernel smaller than stride (phases without taps)
        [5, 17, 6, 6, 130, 4, 4, 2, 2, 1, 1, 1, 1],  // channels-last: 17 channels, 130 outputs
        [2, 80, 6, 6, 24, 4, 4, 2, 2, 1, 1, 1, 1],   // channels-last: runs of 320, longer than one k-block
        [2, 16, 5, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1],   // channels-last: stride 1 on rows too short for the direct kernel
        [3, 24, 13, 13, 40, 3, 3, 3, 3, 0, 2, 1, 1], // channels-last: stride 3
        [3, 8, 14, 14, 32, 5, 5, 1, 1, 2, 2, 1, 1],  // channels-last weight gradient with run elements as rows (cnn28 conv2)
        [2, 12, 7, 7, 24, 3, 3, 1, 1, 1, 1, 1, 1],   // the same with 24 outputs, a partial vector panel
        [2, 14, 8, 8, 32, 3, 3, 2, 2, 1, 1, 1, 1],   // run rows: runs of 42, a last tile of 6 rows (8-row kernel on AVX-512)
        [3, 5, 9, 9, 32, 4, 4, 2, 2, 1, 2, 1, 1],    // run rows: runs of 20, a last tile of 8 rows
        [2, 16, 5, 5, 20, 3, 3, 2, 2, 3, 3, 1, 1],   // channels-last: padding wider than the kernel (border outputs without taps)
        [3, 32, 7, 7, 32, 4, 4, 2, 2, 2, 1, 1, 1],   // channels-last: unequal row and column padding
        [2, 20, 9, 9, 64, 4, 4, 2, 2, 1, 1, 1, 1],   // channels-last: run blocks that straddle two kernel columns
    ];

    private static ConvGeometry Geometry(int[] s)
    {
        var oh = ((s[2] + (2 * s[9]) - (s[11] * (s[5] - 1)) - 1) / s[7]) + 1;
        var ow = ((s[3] + (2 * s[10]) - (s[12] * (s[6] - 1)) - 1) / s[8]) + 1;
        return new ConvGeometry(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12], oh, ow);
    }

    // (GEMM kernel, path): "fast" takes the direct kernel where it applies and packed im2col elsewhere,
    // "im2col" never the direct kernel, "generic" the typed im2col path that float64 uses.
    public static TheoryData<string, string> Paths()
    {
        var data = new TheoryData<string, string>();
        foreach (var k in Enum.GetValues<GemmKernel>())
        {
            if (k <= Gemm.ActiveKernel)
            {
                data.Add(k.ToString(), "fast");
            }
        }
        data.Add(Gemm.ActiveKernel.ToString(), "im2col");
        data.Add(Gemm.ActiveKernel.ToString(), "generic");
        return data;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void AllThreeDirectionsMatchDirectLoops(string kernel, string path)
    {
        Gemm.ForcedKernel = Enum.Parse<GemmKernel>(kernel);
        Conv.ForceGeneric = path == "generic";
        Conv.ForceIm2Col = path == "im2col";
        try
        {
            CheckAllShapes();
        }
        finally
        {
            Gemm.ForcedKernel = null;
            Conv.ForceGeneric = false;
            Conv.ForceIm2Col = false;
        }
    }

    [Fact]
    public void SpecialisedKernelsAreCoveredByTheTestShapes()
    {
        // Guards the test above: on AVX-512 machines some shapes must actually take each special path.
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            Assert.Contains(Shapes, s => ConvDirect.Applies(Geometry(s)));
            Assert.Contains(Shapes, s => ConvFewChannels.Applies(Geometry(s)));
            Assert.Contains(Shapes, s => !ConvDirect.Applies(Geometry(s)) && ConvChannelsLast.Applies(Geometry(s)));
            Assert.Contains(Shapes, s => ConvChannelsLast.AppliesToWeightGradient(Geometry(s)) && ConvChannelsLast.PrefersRunRows(Geometry(s)));
            Assert.Contains(Shapes, s => ConvChannelsLast.AppliesToWeightGradient(Geometry(s)) && !ConvChannelsLast.PrefersRunRows(Geometry(s)));
        }
        // The channels-last kernels also run on AVX2 + FMA (as 6x16 sub-tiles): forced here on an AVX-512
        // machine, natively in CI's run with AVX-512 switched off.
        if (Gemm.ActiveKernel >= GemmKernel.Avx2)
        {
            Gemm.ForcedKernel = GemmKernel.Avx2;
            try
            {
                Assert.Contains(Shapes, s => ConvChannelsLast.Applies(Geometry(s)));
                Assert.Contains(Shapes, s => ConvDirect.Applies(Geometry(s)));
                Assert.Contains(Shapes, s => ConvFewChannels.Applies(Geometry(s)));
                Assert.Contains(Shapes, s => ConvChannelsLast.AppliesToWeightGradient(Geometry(s)) && ConvChannelsLast.PrefersRunRows(Geometry(s)));
                Assert.Contains(Shapes, s => ConvChannelsLast.AppliesToWeightGradient(Geometry(s)) && !ConvChannelsLast.PrefersRunRows(Geometry(s)));
            }
            finally
            {
                Gemm.ForcedKernel = null;
            }
        }
    }

    [Fact]
    public void ChannelsLastAndDirectKernelsGiveTheSameBitsOnAvx2AsOnAvx512()
    {
        // The AVX2 tiles are the AVX-512 tiles cut into sub-tiles (channels-last) or 8-lane halves (direct):
        // every sum runs over the same terms in the same order, so the two paths agree exactly.
        if (Gemm.ActiveKernel != GemmKernel.Avx512)
        {
            return;
        }
        var gen = new Generator(8);
        var compared = 0;
        foreach (var s in Shapes.Where(s => ConvDirect.Applies(Geometry(s)) || ConvFewChannels.Applies(Geometry(s)) || ConvChannelsLast.Applies(Geometry(s)) || ConvChannelsLast.AppliesToWeightGradient(Geometry(s))))
        {
            var g = Geometry(s);
            var x = gen.Uniform([g.N * g.C * g.H * g.W], -1, 1).ToFloatArray();
            var w = gen.Uniform([g.O * g.Ckk], -1, 1).ToFloatArray();
            var gy = gen.Uniform([g.N * g.O * g.Ohw], -1, 1).ToFloatArray();
            float[][] Run()
            {
                var (y, gx, gw) = (new float[gy.Length], new float[x.Length], new float[w.Length]);
                Conv.Forward(x, w, y, g);
                Conv.BackwardData(gy, w, gx, g);
                Conv.BackwardWeight(x, gy, gw, g);
                return [y, gx, gw];
            }
            var wide = Run();
            Gemm.ForcedKernel = GemmKernel.Avx2;
            try
            {
                var narrow = Run();
                for (var k = 0; k < 3; k++)
                {
                    // The few-channel input gradient reduces each pixel's vector in a different order on the two
                    // paths (checked against direct loops elsewhere); its weight gradient must agree exactly.
                    var few = k == 2 && ConvFewChannels.Applies(g);
                    if (ConvDirect.Applies(g) || few || (!ConvFewChannels.Applies(g) && (k < 2 ? ConvChannelsLast.Applies(g) : ConvChannelsLast.AppliesToWeightGradient(g))))
                    {
                        Assert.True(wide[k].AsSpan().SequenceEqual(narrow[k]), $"{string.Join(",", s)}: output {k} differs between the AVX-512 and AVX2 tiles");
                        compared += ConvDirect.Applies(g) || few ? 1 : 0;
                    }
                }
            }
            finally
            {
                Gemm.ForcedKernel = null;
            }
        }
        Assert.True(compared >= 12, $"only {compared} outputs of the direct and few-channel kernels compared");
    }

    private static void CheckAllShapes()
    {
        var gen = new Generator(5);
        foreach (var s in Shapes)
        {
            var g = Geometry(s);
            var x = gen.Uniform([g.N * g.C * g.H * g.W], -1, 1).ToFloatArray();
            var w = gen.Uniform([g.O * g.Ckk], -1, 1).ToFloatArray();
            var gy = gen.Uniform([g.N * g.O * g.Ohw], -1, 1).ToFloatArray();

            var y = new float[gy.Length];
            var ye = new float[gy.Length];
            Conv.Forward(x, w, y, g);
            ConvReference.Forward(x, w, ye, g);
            AssertClose(ye, y, g, "forward");

            var gx = new float[x.Length];
            var gxe = new float[x.Length];
            Conv.BackwardData(gy, w, gx, g);
            ConvReference.BackwardData(gy, w, gxe, g);
            AssertClose(gxe, gx, g, "input gradient");

            var gw = new float[w.Length];
            var gwe = new float[w.Length];
            Conv.BackwardWeight(x, gy, gw, g);
            ConvReference.BackwardWeight(x, gy, gwe, g);
            AssertClose(gwe, gw, g, "weight gradient");
        }
    }

    [Fact]
    public void RandomGeometriesWithWidePaddingMatchDirectLoops()
    {
        // Seeded sweep over the shapes the channels-last kernels take (16+ channels, runs of 64+ floats),
        // with padding up to the kernel size, so the border classes, their tile unions and the weight
        // gradient's ranges meet many layouts: one-sided clipping, both sides clipped, empty classes.
        var rng = new Random(12);
        var taken = 0;
        for (var i = 0; i < 40; i++)
        {
            var c = rng.Next(16, 41);
            var kh = rng.Next(1, 6);
            var kw = Math.Max((64 + c - 1) / c, rng.Next(1, 6));
            var s = new[]
            {
                rng.Next(1, 4), c, rng.Next(3, 13), rng.Next(3, 13), rng.Next(16, 41), kh, kw,
                rng.Next(1, 4), rng.Next(1, 4), rng.Next(0, kh + 1), rng.Next(0, kw + 1), 1, 1,
            };
            var g = Geometry(s);
            if (g.OH < 1 || g.OW < 1)
            {
                continue;
            }
            taken += ConvChannelsLast.Applies(g) ? 1 : 0;
            var gen = new Generator((ulong)(100 + i));
            var x = gen.Uniform([g.N * g.C * g.H * g.W], -1, 1).ToFloatArray();
            var w = gen.Uniform([g.O * g.Ckk], -1, 1).ToFloatArray();
            var gy = gen.Uniform([g.N * g.O * g.Ohw], -1, 1).ToFloatArray();
            var (y, ye) = (new float[gy.Length], new float[gy.Length]);
            Conv.Forward(x, w, y, g);
            ConvReference.Forward(x, w, ye, g);
            AssertClose(ye, y, g, "forward");
            var (gx, gxe) = (new float[x.Length], new float[x.Length]);
            Conv.BackwardData(gy, w, gx, g);
            ConvReference.BackwardData(gy, w, gxe, g);
            AssertClose(gxe, gx, g, "input gradient");
            var (gw, gwe) = (new float[w.Length], new float[w.Length]);
            Conv.BackwardWeight(x, gy, gw, g);
            ConvReference.BackwardWeight(x, gy, gwe, g);
            AssertClose(gwe, gw, g, "weight gradient");
        }
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            Assert.True(taken >= 20, $"only {taken} of the random shapes took the channels-last path");
        }
    }

    [Fact]
    public void BorderOrderGroupsPositionsByTheirValidTapsAndSavesWork()
    {
        // D conv2: 4x4 stride 2 pad 1 on 14x14, so output rows and columns 0 and 6 each lose one tap.
        var g = Geometry([6, 64, 14, 14, 128, 4, 4, 2, 2, 1, 1, 1, 1]);
        var rows = Enumerable.Range(0, g.OH).Select(oh => ConvChannelsLast.Taps.Inside((oh * 2) - 1, 4, 14)).ToArray();
        var order = ConvChannelsLast.BorderOrder.Build(rows, rows, 4, 4, g.N);
        Assert.Equal(new ConvChannelsLast.Taps(1, 4), rows[0]);
        Assert.Equal(new ConvChannelsLast.Taps(0, 3), rows[6]);
        Assert.Equal(Enumerable.Range(0, g.N * 49), order.Positions.Order());
        Assert.Equal(10, order.Segments.Length); // 3 x 3 classes
        Assert.Equal((new ConvChannelsLast.Taps(0, 4), new ConvChannelsLast.Taps(0, 4)), (order.SegmentRows[0], order.SegmentColumns[0]));
        long work = 0;
        for (var s = 0; s + 1 < order.Segments.Length; s++)
        {
            for (var k = order.Segments[s]; k < order.Segments[s + 1]; k++)
            {
                var q = order.Positions[k] % 49;
                Assert.Equal(order.SegmentRows[s], order.RowTaps[q / 7]);
                Assert.Equal(order.SegmentColumns[s], order.ColumnTaps[q % 7]);
            }
        }
        // Tiles of 12 consecutive positions take the union of their taps.
        for (var t = 0; t < order.Positions.Length; t += 12)
        {
            var (r, c) = (default(ConvChannelsLast.Taps), default(ConvChannelsLast.Taps));
            foreach (var p in order.Positions.Skip(t).Take(12))
            {
                r = r.Union(order.RowTaps[p % 49 / 7]);
                c = c.Union(order.ColumnTaps[p % 7]);
            }
            work += (r.Hi - r.Lo) * (c.Hi - c.Lo);
        }
        var full = (order.Positions.Length + 11) / 12 * 16;
        Assert.InRange((double)work / full, 0.85, 0.9); // (13/14)^2 = 0.862 is the least possible
    }

    [Fact]
    public void SkippingPaddingTapsMatchesTakingThemAll()
    {
        var g = Geometry([5, 32, 9, 9, 40, 4, 4, 2, 2, 1, 2, 1, 1]);
        var gen = new Generator(8);
        var x = gen.Uniform([g.N * g.C * g.H * g.W], -1, 1).ToFloatArray();
        var w = gen.Uniform([g.O * g.Ckk], -1, 1).ToFloatArray();
        var gy = gen.Uniform([g.N * g.O * g.Ohw], -1, 1).ToFloatArray();
        float[][] Run()
        {
            var y = new float[gy.Length];
            var gx = new float[x.Length];
            var gw = new float[w.Length];
            ConvChannelsLast.Forward(x, w, y, g);
            ConvChannelsLast.BackwardData(gy, w, gx, g);
            ConvChannelsLast.BackwardWeight(x, gy, gw, g);
            return [y, gx, gw];
        }
        if (!ConvChannelsLast.Applies(g))
        {
            return; // AVX2 run: the channels-last kernels need AVX-512
        }
        var skipped = Run();
        ConvChannelsLast.KeepPaddingTaps = true;
        try
        {
            var all = Run();
            for (var i = 0; i < 3; i++)
            {
                for (var j = 0; j < all[i].Length; j++)
                {
                    Assert.True(Math.Abs(all[i][j] - skipped[i][j]) <= 1e-5f * (1 + Math.Abs(all[i][j])), $"part {i} element {j}: {all[i][j]} vs {skipped[i][j]}");
                }
            }
        }
        finally
        {
            ConvChannelsLast.KeepPaddingTaps = false;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WeightGradientFromTheForwardsInputCopyEqualsTheDirectCall(bool inScope)
    {
        // conv2d keeps the channels-last copy of x its forward made, and the weight gradient reads it
        // instead of converting x again: the gradients must be exactly those of the kernels called alone.
        var g = Geometry([3, 16, 9, 9, 19, 4, 4, 2, 2, 1, 1, 1, 1]);
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            Assert.True(Conv.SharesInputCopy(g));
        }
        var gen = new Generator(9);
        var x = gen.Uniform([g.N, g.C, g.H, g.W], -1, 1).RequiresGrad_();
        var w = gen.Uniform([g.O, g.C, g.KH, g.KW], -1, 1).RequiresGrad_();
        var gy = gen.Uniform([g.N, g.O, g.OH, g.OW], -1, 1);
        using (var scope = inScope ? TensorScope.Begin() : null)
        {
            var y = Functional.Conv2d(x, w, null, 2, 1);
            y.Backward(gy);
            var ye = new float[g.N * g.O * g.Ohw];
            Conv.Forward(x.ToFloatArray(), w.ToFloatArray(), ye, g);
            Assert.Equal(ye, y.ToFloatArray());
        }
        var gwe = new float[g.O * g.Ckk];
        var gxe = new float[g.N * g.C * g.Hw];
        Conv.BackwardWeight(x.ToFloatArray(), gy.ToFloatArray(), gwe, g);
        Conv.BackwardData(gy.ToFloatArray(), w.ToFloatArray(), gxe, g);
        Assert.Equal(gwe, w.Grad!.ToFloatArray());
        Assert.Equal(gxe, x.Grad!.ToFloatArray());
    }

    [Fact]
    public void ResultsAreBitIdenticalWithOneAndTwoThreads()
    {
        var g = Geometry([64, 64, 14, 14, 128, 4, 4, 2, 2, 1, 1, 1, 1]);
        var gen = new Generator(6);
        var x = gen.Uniform([g.N * g.C * g.H * g.W], -1, 1).ToFloatArray();
        var w = gen.Uniform([g.O * g.Ckk], -1, 1).ToFloatArray();
        var gy = gen.Uniform([g.N * g.O * g.Ohw], -1, 1).ToFloatArray();
        var saved = Engine.NumThreads;
        try
        {
            (float[], float[], float[]) Run(int threads)
            {
                Engine.NumThreads = threads;
                var y = new float[gy.Length];
                var gx = new float[x.Length];
                var gw = new float[w.Length];
                Conv.Forward(x, w, y, g);
                Conv.BackwardData(gy, w, gx, g);
                Conv.BackwardWeight(x, gy, gw, g);
                return (y, gx, gw);
            }
            var one = Run(1);
            var two = Run(2);
            Assert.Equal(one.Item1, two.Item1);
            Assert.Equal(one.Item2, two.Item2);
            Assert.Equal(one.Item3, two.Item3);
        }
        finally
        {
            Engine.NumThreads = saved;
        }
    }

    private static void AssertClose(float[] expected, float[] actual, ConvGeometry g, string what)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"{what} {g}: element {i} = {actual[i]}, expected {expected[i]}");
        }
    }
}
