using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>
/// Functional neural-network operations, named as in <c>torch.nn.functional</c>.
/// </summary>
public static partial class Functional
{
    /// <summary>2-D convolution. x (N, C, H, W), weight (O, C, KH, KW), bias (O) -> (N, O, OH, OW).</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1) =>
        Conv2d(x, weight, bias, (stride, stride), (padding, padding), (dilation, dilation));

    /// <summary>2-D convolution with separate (height, width) stride, padding and dilation.</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation)
    {
        const string op = "conv2d";
        CheckConvArgs(op, x, weight, stride, padding, dilation);
        if (weight.Size(1) != x.Size(1))
        {
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(x.ShapeRef)} has {x.Size(1)} channels but weight {ShapeUtil.Format(weight.ShapeRef)} expects {weight.Size(1)}");
        }
        var (kh, kw) = (weight.Size(2), weight.Size(3));
        var oh = ((x.Size(2) + (2 * padding.H) - (dilation.H * (kh - 1)) - 1) / stride.H) + 1;
        var ow = ((x.Size(3) + (2 * padding.W) - (dilation.W * (kw - 1)) - 1) / stride.W) + 1;
        if (oh <= 0 || ow <= 0 || x.Size(2) + (2 * padding.H) < (dilation.H * (kh - 1)) + 1 || x.Size(3) + (2 * padding.W) < (dilation.W * (kw - 1)) + 1)
        {
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(x.ShapeRef)} is smaller than the (dilated) kernel {kh}x{kw} with padding {padding.H}x{padding.W}");
        }
        var g = new ConvGeometry(x.Size(0), x.Size(1), x.Size(2), x.Size(3), weight.Size(0), kh, kw, stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W, oh, ow);
        var y = ConvOp(x, weight, g);
        return bias is null ? y : AddChannelBias(op, y, bias);
    }

    /// <summary>2-D transposed convolution (the gradient of a convolution toward its input).
    /// x (N, Cin, H, W), weight (Cin, Cout, KH, KW), bias (Cout) -> (N, Cout, H', W') with
    /// H' = (H - 1) * stride - 2 * padding + dilation * (KH - 1) + outputPadding + 1.</summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int outputPadding = 0, int dilation = 1) =>
        ConvTranspose2d(x, weight, bias, (stride, stride), (padding, padding), (outputPadding, outputPadding), (dilation, dilation));

    /// <summary>2-D transposed convolution with separate (height, width) settings.</summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding, (int H, int W) outputPadding, (int H, int W) dilation)
    {
        const string op = "conv_transpose2d";
        CheckConvArgs(op, x, weight, stride, padding, dilation);
        if (weight.Size(0) != x.Size(1))
        {
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(x.ShapeRef)} has {x.Size(1)} channels but weight {ShapeUtil.Format(weight.ShapeRef)} expects {weight.Size(0)}");
        }
        if (outputPadding.H < 0 || outputPadding.W < 0 || (outputPadding.H >= stride.H && outputPadding.H >= dilation.H) || (outputPadding.W >= stride.W && outputPadding.W >= dilation.W))
        {
            throw new ArgumentException($"{op}: output padding {outputPadding.H}x{outputPadding.W} must be smaller than the stride or the dilation");
        }
        var (kh, kw) = (weight.Size(2), weight.Size(3));
        var outH = ((x.Size(2) - 1) * stride.H) - (2 * padding.H) + (dilation.H * (kh - 1)) + outputPadding.H + 1;
        var outW = ((x.Size(3) - 1) * stride.W) - (2 * padding.W) + (dilation.W * (kw - 1)) + outputPadding.W + 1;
        if (outH <= 0 || outW <= 0)
        {
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(x.ShapeRef)} with kernel {kh}x{kw}, stride {stride.H}x{stride.W} and padding {padding.H}x{padding.W} gives an empty output");
        }
        // The convolution whose input gradient this is: input (N, Cout, outH, outW), output (N, Cin, H, W).
        var g = new ConvGeometry(x.Size(0), weight.Size(1), outH, outW, weight.Size(0), kh, kw, stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W, x.Size(2), x.Size(3));
        var y = ConvDataGradOp(x, weight, g);
        return bias is null ? y : AddChannelBias(op, y, bias);
    }

    private static void CheckConvArgs(string op, Tensor x, Tensor weight, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation)
    {
        if (x.Rank != 4 || weight.Rank != 4)
        {
            throw new ArgumentException($"{op}: expected 4-D input (N, C, H, W) and 4-D weight, got {ShapeUtil.Format(x.ShapeRef)} and {ShapeUtil.Format(weight.ShapeRef)}");
        }
        Tensor.CheckSameDType(op, x, weight);
        x.CheckFloating(op);
        if (stride.H < 1 || stride.W < 1 || dilation.H < 1 || dilation.W < 1 || padding.H < 0 || padding.W < 0)
        {
            throw new ArgumentException($"{op}: stride and dilation must be at least 1 and padding non-negative (stride {stride}, padding {padding}, dilation {dilation})");
        }
    }

    private static Tensor AddChannelBias(string op, Tensor y, Tensor bias)
    {
        if (bias.Rank != 1 || bias.Size(0) != y.Size(1))
        {
            throw new ArgumentException($"{op}: bias of shape {ShapeUtil.Format(bias.ShapeRef)} does not match {y.Size(1)} output channels");
        }
        Tensor.CheckSameDType(op, y, bias);
        return Tensor.AddChannelBiasInto(y, bias);
    }

    // ---- the three primitives; each one's backward is written with the other two ---------------

    /// <summary>y = conv(x, w).</summary>
    internal static Tensor ConvOp(Tensor x, Tensor w, ConvGeometry g)
    {
        var y = Tensor.Empty([g.N, g.O, g.OH, g.OW], x.DType);
        Tensor? inputCopy = null;
        var copyOffset = 0;
        if (x.DType == DType.Float32 && w.RequiresGrad && GradMode.IsEnabled && Conv.SharesInputCopy(g))
        {
            // The weight gradient reads the same channels-last copy of x that the forward makes: keep it.
            inputCopy = Tensor.Empty([ConvChannelsLast.InputCopyLength(g)], DType.Float32);
            copyOffset = ConvChannelsLast.Forward(x.Array<float>(), w.Array<float>(), y.Array<float>(), g, inputCopy.Array<float>());
        }
        else if (x.DType == DType.Float32)
        {
            Conv.Forward(x.Array<float>(), w.Array<float>(), y.Array<float>(), g);
        }
        else
        {
            Conv.Forward(x.Array<double>(), w.Array<double>(), y.Array<double>(), g);
        }
        Tensor.Record(y, "ConvolutionBackward", [x, w], gy => [
            x.RequiresGrad ? ConvDataGradOp(gy, w, g) : null,
            w.RequiresGrad ? ConvWeightGradOp(x, gy, g, inputCopy, copyOffset) : null]);
        return y;
    }

    /// <summary>gx = conv^T(gy, w), linear in both arguments.</summary>
    internal static Tensor ConvDataGradOp(Tensor gy, Tensor w, ConvGeometry g)
    {
        var gx = Tensor.Empty([g.N, g.C, g.H, g.W], gy.DType);
        if (gy.DType == DType.Float32)
        {
            Conv.BackwardData(gy.Array<float>(), w.Array<float>(), gx.Array<float>(), g);
        }
        else
        {
            Conv.BackwardData(gy.Array<double>(), w.Array<double>(), gx.Array<double>(), g);
        }
        Tensor.Record(gx, "ConvolutionTransposeBackward", [gy, w], gg => [
            gy.RequiresGrad ? ConvOp(gg, w, g) : null,
            w.RequiresGrad ? ConvWeightGradOp(gg, gy, g) : null]);
        return gx;
    }

    /// <summary>gw = sum_n gy[n] im2col(x[n])^T, linear in both arguments; inputCopy, when given, is the
    /// channels-last copy of x that <see cref="ConvOp"/>'s forward left (read from copyOffset on).</summary>
    internal static Tensor ConvWeightGradOp(Tensor x, Tensor gy, ConvGeometry g, Tensor? inputCopy = null, int copyOffset = 0)
    {
        var gw = Tensor.Empty([g.O, g.C, g.KH, g.KW], x.DType);
        if (inputCopy is not null)
        {
            ConvChannelsLast.BackwardWeight(x.Array<float>(), gy.Array<float>(), gw.Array<float>(), g, inputCopy.Array<float>(), copyOffset);
        }
        else if (x.DType == DType.Float32)
        {
            Conv.BackwardWeight(x.Array<float>(), gy.Array<float>(), gw.Array<float>(), g);
        }
        else
        {
            Conv.BackwardWeight(x.Array<double>(), gy.Array<double>(), gw.Array<double>(), g);
        }
        Tensor.Record(gw, "ConvolutionWeightBackward", [x, gy], gg => [
            x.RequiresGrad ? ConvDataGradOp(gy, gg, g) : null,
            gy.RequiresGrad ? ConvOp(x, gg, g) : null]);
        return gw;
    }
}
