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

    // index[plane, i, j] = flat index of the first maximum of its window (the first NaN, if any).
    private static void MaxIndices<T>(T[] src, int planes, int h, int w, int oh, int ow, int k, int s, int padding, int[] index)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var p = 0;
        for (var plane = 0; plane < planes; plane++)
        {
            var baseIx = plane * h * w;
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
