using Rebalance.Tensors.Kernels;

namespace Rebalance.Tensors;

/// <summary>
/// In-place optimiser updates on float32 tensors, each one fused pass over the parameter, its gradient
/// and its state (the formulas of PyTorch's single-tensor implementations). Optimisers call these
/// instead of chaining tensor ops, so a step neither allocates nor records a graph.
/// </summary>
public static class FusedUpdates
{
    /// <summary>One Adam (or, with <paramref name="decoupled"/>, AdamW) step; <paramref name="step"/> counts from 1.
    /// <paramref name="maxExpAvgSq"/> turns on AMSGrad.</summary>
    public static void Adam(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, Tensor? maxExpAvgSq, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, long step)
    {
        Check("adam", param, grad, expAvg, expAvgSq, maxExpAvgSq);
        if (step < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "adam: step counts from 1");
        }
        OptimizerKernels.Adam(param.Array<float>(), grad.Array<float>(), expAvg.Array<float>(), expAvgSq.Array<float>(), maxExpAvgSq?.Array<float>(), param.Numel, (float)lr, (float)beta1, (float)beta2, (float)eps, (float)weightDecay, decoupled, step);
    }

    /// <summary>One SGD step. <paramref name="momentumBuffer"/> is null without momentum; <paramref name="firstStep"/>
    /// says the buffer holds nothing yet (it is then set to the gradient, as PyTorch does).</summary>
    public static void Sgd(Tensor param, Tensor grad, Tensor? momentumBuffer, bool firstStep, double lr, double momentum, double dampening, double weightDecay, bool nesterov)
    {
        Check("sgd", param, grad, momentumBuffer);
        OptimizerKernels.Sgd(param.Array<float>(), grad.Array<float>(), momentumBuffer?.Array<float>(), param.Numel, (float)lr, (float)momentum, (float)dampening, (float)weightDecay, nesterov, firstStep);
    }

    /// <summary>One RMSProp step; <paramref name="gradAvg"/> non-null means centred, <paramref name="momentumBuffer"/> non-null means momentum.</summary>
    public static void RmsProp(Tensor param, Tensor grad, Tensor squareAvg, Tensor? gradAvg, Tensor? momentumBuffer, double lr, double alpha, double eps, double weightDecay, double momentum)
    {
        Check("rmsprop", param, grad, squareAvg, gradAvg, momentumBuffer);
        OptimizerKernels.RmsProp(param.Array<float>(), grad.Array<float>(), squareAvg.Array<float>(), gradAvg?.Array<float>(), momentumBuffer?.Array<float>(), param.Numel, (float)lr, (float)alpha, (float)eps, (float)weightDecay, (float)momentum);
    }

    /// <summary>target += weight * (source - target), in place: the exponential moving average of weights.</summary>
    public static void Lerp(Tensor target, Tensor source, double weight)
    {
        Check("lerp", target, source);
        var t = target.Array<float>();
        var s = source.Array<float>();
        var w = (float)weight;
        CpuParallel.For(target.Numel, 1 << 15, (a, b) =>
        {
            for (var i = a; i < b; i++)
            {
                t[i] += w * (s[i] - t[i]);
            }
        });
    }

    /// <summary>Sum of squares of the elements, accumulated in double (for gradient norms).</summary>
    public static double SumOfSquares(Tensor x)
    {
        if (x.DType == DType.Float64)
        {
            return System.Numerics.Tensors.TensorPrimitives.SumOfSquares(x.Span<double>());
        }
        if (x.DType != DType.Float32)
        {
            throw new ArgumentException($"sum_of_squares: expected a floating-point tensor, got {x.DType.Name()}");
        }
        var s = x.Span<float>();
        var total = 0.0;
        const int block = 4096;
        for (var i = 0; i < s.Length; i += block)
        {
            total += System.Numerics.Tensors.TensorPrimitives.SumOfSquares(s.Slice(i, Math.Min(block, s.Length - i)));
        }
        return total;
    }

    /// <summary>Clamps every element into [-limit, limit] in place.</summary>
    public static void ClampInPlace(Tensor x, double limit)
    {
        Check("clamp_", x);
        var s = x.Span<float>();
        var lo = (float)-limit;
        var hi = (float)limit;
        for (var i = 0; i < s.Length; i++)
        {
            s[i] = float.IsNaN(s[i]) ? s[i] : Math.Clamp(s[i], lo, hi);
        }
    }

    private static void Check(string op, Tensor first, params Tensor?[] rest)
    {
        if (first.DType != DType.Float32)
        {
            throw new ArgumentException($"{op}: fused updates take float32 tensors, got {first.DType.Name()} {ShapeUtil.Format(first.ShapeRef)}");
        }
        foreach (var t in rest)
        {
            if (t is not null && (t.DType != DType.Float32 || !ShapeUtil.SameShape(t.ShapeRef, first.ShapeRef)))
            {
                throw new ArgumentException($"{op}: {t.DType.Name()} {ShapeUtil.Format(t.ShapeRef)} does not match the parameter's float32 {ShapeUtil.Format(first.ShapeRef)}");
            }
        }
    }
}
