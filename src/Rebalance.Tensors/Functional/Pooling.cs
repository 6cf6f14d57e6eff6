using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rebalance.Tensors;

public static partial class Functional
{
    /// <summary>Max pooling over kernel x kernel windows (stride defaults to the kernel; padding counts as -inf).
    /// The gradient goes to the first maximum of each window; NaN propagates.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernelSize, int? stride = null, int padding = 0)
    {
        const string op = "max_pool2d";
        var s = stride ?? kernelSize;
        var (n, c, h, w, oh, ow) = PoolShape(op, x, kernelSize, s, padding);
        if (padding * 2 > kernelSize)
        {
            throw new ArgumentException($"{op}: padding {padding} must be at most half the kernel size {kernelSize}");
        }
        // Index storage comes from the tensor pool (it lives as long as the graph, like the output).
        var index = Tensor.Empty([n * c * oh * ow], DType.Int32).Array<int>();
        if (x.DType == DType.Float32)
        {
            MaxIndices(x.Array<float>(), n * c, h, w, oh, ow, kernelSize, s, padding, index);
        }
        else
        {
            MaxIndices(x.Array<double>(), n * c, h, w, oh, ow, kernelSize, s, padding, index);
        }
        return Tensor.Take(x, index, [n, c, oh, ow]);
    }

    // index[plane, i, j] = flat index of the first maximum of its window (the first NaN, if any). Planes are
    // independent, so they are shared out between the engine's threads; each output is found the same way on
    // any thread count. The common 2x2 window of stride 2 without padding has its own loop (a classifier's
    // pooling took a tenth of its training step through the general one).
    private static void MaxIndices<T>(T[] src, int planes, int h, int w, int oh, int ow, int k, int s, int padding, int[] index)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var work = (long)planes * oh * ow * k * k;
        var chunks = work >= 1 << 15 ? Math.Max(1, Math.Min(Engine.NumThreads, planes)) : 1;
        Kernels.CpuParallel.ForEach(chunks, ci =>
        {
            var p0 = (int)((long)planes * ci / chunks);
            var p1 = (int)((long)planes * (ci + 1) / chunks);
            for (var plane = p0; plane < p1; plane++)
            {
                if (k == 2 && s == 2 && padding == 0)
                {
                    MaxIndices2x2(src, plane, h, w, oh, ow, index);
                }
                else
                {
                    MaxIndicesPlane(src, plane, h, w, oh, ow, k, s, padding, index);
                }
            }
        });
    }

    private static void MaxIndicesPlane<T>(T[] src, int plane, int h, int w, int oh, int ow, int k, int s, int padding, int[] index)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var baseIx = plane * h * w;
        var p = plane * oh * ow;
        for (var i = 0; i < oh; i++)
        {
            for (var j = 0; j < ow; j++)
            {
                var best = -1;
                var bestV = T.NegativeInfinity;
                for (var ki = 0; ki < k; ki++)
                {
                    var ih = (i * s) - padding + ki;
                    if ((uint)ih >= (uint)h)
                    {
                        continue;
                    }
                    for (var kj = 0; kj < k; kj++)
                    {
                        var iw = (j * s) - padding + kj;
                        if ((uint)iw >= (uint)w)
                        {
                            continue;
                        }
                        var ix = baseIx + (ih * w) + iw;
                        var v = src[ix];
                        if (best < 0 || v > bestV || (T.IsNaN(v) && !T.IsNaN(bestV)))
                        {
                            best = ix;
                            bestV = v;
                        }
                    }
                }
                index[p++] = best;
            }
        }
    }

    // The same rule as MaxIndicesPlane for k = s = 2, padding 0: the window's four values in the same order.
    private static void MaxIndices2x2<T>(T[] src, int plane, int h, int w, int oh, int ow, int[] index)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var baseIx = plane * h * w;
        var p = plane * oh * ow;
        var x = src.AsSpan(baseIx, h * w);
        var outIx = index.AsSpan(p, oh * ow);
        for (var i = 0; i < oh; i++)
        {
            var r0 = 2 * i * w;
            var r1 = r0 + w;
            var j = 0;
            if (typeof(T) == typeof(float) && Avx2.IsSupported)
            {
                j = MaxIndices2x2Row(MemoryMarshal.Cast<T, float>(x), r0, w, ow, baseIx, outIx.Slice(i * ow, ow));
            }
            for (; j < ow; j++)
            {
                var c = 2 * j;
                var best = r0 + c;
                var bestV = x[best];
                Consider(x, r0 + c + 1, ref best, ref bestV);
                Consider(x, r1 + c, ref best, ref bestV);
                Consider(x, r1 + c + 1, ref best, ref bestV);
                outIx[(i * ow) + j] = baseIx + best;
            }
        }
    }

    // One row of outputs without branches, eight windows at a time (four when the row is shorter than eight): the
    // even and odd columns of the two input rows are split apart, and the four candidates are taken in the scalar
    // loop's order with its rule (greater, or NaN over a number). A row that does not divide into blocks ends
    // with a block that overlaps the one before (the outputs they share are written twice, alike). Random data
    // made every comparison of the scalar loop a coin flip for the branch predictor, 15 ns a window. Returns
    // how many outputs it wrote: all of them, or none for rows shorter than four.
    private static int MaxIndices2x2Row(ReadOnlySpan<float> x, int r0, int w, int ow, int baseIx, Span<int> outRow)
    {
        ref var x0 = ref MemoryMarshal.GetReference(x);
        if (ow >= 8)
        {
            for (var j = 0; j < ow; j += 8)
            {
                Block8(ref x0, r0, w, baseIx, Math.Min(j, ow - 8), outRow);
            }
            return ow;
        }
        if (ow >= 4)
        {
            Block4(ref x0, r0, w, baseIx, 0, outRow);
            Block4(ref x0, r0, w, baseIx, ow - 4, outRow);
            return ow;
        }
        return 0;
    }

    private static void Block8(ref float x0, int r0, int w, int baseIx, int j, Span<int> outRow)
    {
        var c = r0 + (2 * j);
        var (e0, o0) = Deinterleave8(ref x0, c);
        var (e1, o1) = Deinterleave8(ref x0, c + w);
        var bestV = e0;
        var best = Vector256<int>.Zero;
        TakeGreater(o0, Vector256.Create(1), ref bestV, ref best);
        TakeGreater(e1, Vector256.Create(w), ref bestV, ref best);
        TakeGreater(o1, Vector256.Create(w + 1), ref bestV, ref best);
        (best + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14) + Vector256.Create(baseIx + c)).CopyTo(outRow.Slice(j, 8));
    }

    private static void Block4(ref float x0, int r0, int w, int baseIx, int j, Span<int> outRow)
    {
        var c = r0 + (2 * j);
        var (e0, o0) = Deinterleave4(ref x0, c);
        var (e1, o1) = Deinterleave4(ref x0, c + w);
        var bestV = e0;
        var best = Vector128<int>.Zero;
        TakeGreater(o0, Vector128.Create(1), ref bestV, ref best);
        TakeGreater(e1, Vector128.Create(w), ref bestV, ref best);
        TakeGreater(o1, Vector128.Create(w + 1), ref bestV, ref best);
        (best + Vector128.Create(0, 2, 4, 6) + Vector128.Create(baseIx + c)).CopyTo(outRow.Slice(j, 4));
    }

    // The 16 floats at x[c..c+16) as their 8 even-placed and 8 odd-placed values, each in order.
    private static (Vector256<float> Even, Vector256<float> Odd) Deinterleave8(ref float x0, int c)
    {
        var a = Vector256.LoadUnsafe(ref x0, (nuint)c);
        var b = Vector256.LoadUnsafe(ref x0, (nuint)(c + 8));
        var even = Avx.Shuffle(a, b, 0x88); // a0 a2 b0 b2 | a4 a6 b4 b6
        var odd = Avx.Shuffle(a, b, 0xDD);  // a1 a3 b1 b3 | a5 a7 b5 b7
        return (Avx2.Permute4x64(even.AsDouble(), 0xD8).AsSingle(), Avx2.Permute4x64(odd.AsDouble(), 0xD8).AsSingle());
    }

    private static (Vector128<float> Even, Vector128<float> Odd) Deinterleave4(ref float x0, int c)
    {
        var a = Vector128.LoadUnsafe(ref x0, (nuint)c);
        var b = Vector128.LoadUnsafe(ref x0, (nuint)(c + 4));
        return (Sse.Shuffle(a, b, 0x88), Sse.Shuffle(a, b, 0xDD));
    }

    private static void TakeGreater(Vector256<float> v, Vector256<int> offset, ref Vector256<float> bestV, ref Vector256<int> best)
    {
        var vNaN = Vector256.Equals(v, v) ^ Vector256<float>.AllBitsSet;
        var bestNaN = Vector256.Equals(bestV, bestV) ^ Vector256<float>.AllBitsSet;
        var take = Vector256.GreaterThan(v, bestV) | Vector256.AndNot(vNaN, bestNaN);
        bestV = Vector256.ConditionalSelect(take, v, bestV);
        best = Vector256.ConditionalSelect(take.AsInt32(), offset, best);
    }

    private static void TakeGreater(Vector128<float> v, Vector128<int> offset, ref Vector128<float> bestV, ref Vector128<int> best)
    {
        var vNaN = Vector128.Equals(v, v) ^ Vector128<float>.AllBitsSet;
        var bestNaN = Vector128.Equals(bestV, bestV) ^ Vector128<float>.AllBitsSet;
        var take = Vector128.GreaterThan(v, bestV) | Vector128.AndNot(vNaN, bestNaN);
        bestV = Vector128.ConditionalSelect(take, v, bestV);
        best = Vector128.ConditionalSelect(take.AsInt32(), offset, best);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consider<T>(Span<T> x, int ix, ref int best, ref T bestV)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var v = x[ix];
        if (v > bestV || (T.IsNaN(v) && !T.IsNaN(bestV)))
        {
            best = ix;
            bestV = v;
        }
    }

    /// <summary>Average pooling over kernel x kernel windows; zero padding counts toward the divisor, as PyTorch's default.</summary>
    public static Tensor AvgPool2d(Tensor x, int kernelSize, int? stride = null, int padding = 0)
    {
        const string op = "avg_pool2d";
        var s = stride ?? kernelSize;
        var (n, c, h, w, _, _) = PoolShape(op, x, kernelSize, s, padding);
        if (padding * 2 > kernelSize)
        {
            throw new ArgumentException($"{op}: padding {padding} must be at most half the kernel size {kernelSize}");
        }
        // Averaging is a convolution of each channel with a constant kernel.
        var k = Tensor.Full([1, 1, kernelSize, kernelSize], 1.0 / (kernelSize * kernelSize), x.DType);
        var y = Conv2d(x.Reshape(n * c, 1, h, w), k, null, s, padding);
        return y.Reshape(n, c, y.Size(2), y.Size(3));
    }

    /// <summary>Mean over the spatial dims: (N, C, H, W) -> (N, C, 1, 1).</summary>
    public static Tensor GlobalAvgPool2d(Tensor x)
    {
        if (x.Rank != 4)
        {
            throw new ArgumentException($"global_avg_pool2d: expected (N, C, H, W), got {ShapeUtil.Format(x.ShapeRef)}");
        }
        return x.Mean([2, 3], keepDim: true);
    }

    /// <summary>Nearest-neighbour upsampling by an integer factor: (N, C, H, W) -> (N, C, H*f, W*f).</summary>
    public static Tensor UpsampleNearest(Tensor x, int scaleFactor)
    {
        if (x.Rank != 4)
        {
            throw new ArgumentException($"upsample_nearest: expected (N, C, H, W), got {ShapeUtil.Format(x.ShapeRef)}");
        }
        if (scaleFactor < 1)
        {
            throw new ArgumentException($"upsample_nearest: scale factor must be at least 1, got {scaleFactor}");
        }
        return scaleFactor == 1 ? x : Tensor.UpsampleNearest(x, scaleFactor);
    }

    private static (int N, int C, int H, int W, int OH, int OW) PoolShape(string op, Tensor x, int k, int s, int padding)
    {
        if (x.Rank != 4)
        {
            throw new ArgumentException($"{op}: expected (N, C, H, W), got {ShapeUtil.Format(x.ShapeRef)}");
        }
        x.CheckFloating(op);
        if (k < 1 || s < 1 || padding < 0)
        {
            throw new ArgumentException($"{op}: kernel {k} and stride {s} must be at least 1, padding {padding} non-negative");
        }
        var (n, c, h, w) = (x.Size(0), x.Size(1), x.Size(2), x.Size(3));
        var oh = ((h + (2 * padding) - k) / s) + 1;
        var ow = ((w + (2 * padding) - k) / s) + 1;
        if (h + (2 * padding) < k || w + (2 * padding) < k)
        {
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(x.ShapeRef)} is smaller than the {k}x{k} window");
        }
        return (n, c, h, w, oh, ow);
    }
}
