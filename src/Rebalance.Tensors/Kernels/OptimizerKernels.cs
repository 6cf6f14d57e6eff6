using System.Runtime.Intrinsics;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// Fused in-place parameter updates (one pass over parameter, gradient and state instead of a chain of
/// tensor ops). Each has a vector body (Vector512, or Vector256 without AVX-512) and a scalar loop that
/// also serves as its reference; <see cref="ForceScalar"/> lets tests compare them.
/// </summary>
internal static unsafe class OptimizerKernels
{
    private const int MinChunk = 1 << 15;

    internal static bool ForceScalar { get; set; }

    /// <summary>Adam / AdamW as in PyTorch's single-tensor implementation. decay: coupled L2 (Adam,
    /// added to the gradient) or decoupled (AdamW, parameter shrunk by lr * weightDecay).</summary>
    public static void Adam(float[] p, float[] g, float[] m, float[] v, float[]? vMax, int n, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled, long step)
    {
        var bc1 = 1 - Math.Pow(beta1, step);
        var bc2Sqrt = (float)Math.Sqrt(1 - Math.Pow(beta2, step));
        var stepSize = (float)(lr / bc1);
        var shrink = decoupled ? 1 - (lr * weightDecay) : 1f;
        var l2 = decoupled ? 0f : weightDecay;
        CpuParallel.For(n, MinChunk, (s, e) =>
        {
            fixed (float* pp = p, pg = g, pm = m, pv = v, pmax = vMax)
            {
                var i = s;
                if (!ForceScalar && Vector512.IsHardwareAccelerated && pmax == null)
                {
                    var vb1 = Vector512.Create(beta1);
                    var vb1c = Vector512.Create(1 - beta1);
                    var vb2 = Vector512.Create(beta2);
                    var vb2c = Vector512.Create(1 - beta2);
                    var vbc2 = Vector512.Create(bc2Sqrt);
                    var veps = Vector512.Create(eps);
                    var vstep = Vector512.Create(stepSize);
                    var vshrink = Vector512.Create(shrink);
                    var vl2 = Vector512.Create(l2);
                    for (; i <= e - 16; i += 16)
                    {
                        var param = Vector512.Load(pp + i);
                        var grad = Vector512.Load(pg + i) + (vl2 * param);
                        param *= vshrink;
                        var mi = (Vector512.Load(pm + i) * vb1) + (grad * vb1c);
                        var vi = (Vector512.Load(pv + i) * vb2) + (grad * grad * vb2c);
                        var denom = (Vector512.Sqrt(vi) / vbc2) + veps;
                        (param - (vstep * (mi / denom))).Store(pp + i);
                        mi.Store(pm + i);
                        vi.Store(pv + i);
                    }
                }
                else if (!ForceScalar && Vector256.IsHardwareAccelerated && pmax == null)
                {
                    var vb1 = Vector256.Create(beta1);
                    var vb1c = Vector256.Create(1 - beta1);
                    var vb2 = Vector256.Create(beta2);
                    var vb2c = Vector256.Create(1 - beta2);
                    var vbc2 = Vector256.Create(bc2Sqrt);
                    var veps = Vector256.Create(eps);
                    var vstep = Vector256.Create(stepSize);
                    var vshrink = Vector256.Create(shrink);
                    var vl2 = Vector256.Create(l2);
                    for (; i <= e - 8; i += 8)
                    {
                        var param = Vector256.Load(pp + i);
                        var grad = Vector256.Load(pg + i) + (vl2 * param);
                        param *= vshrink;
                        var mi = (Vector256.Load(pm + i) * vb1) + (grad * vb1c);
                        var vi = (Vector256.Load(pv + i) * vb2) + (grad * grad * vb2c);
                        var denom = (Vector256.Sqrt(vi) / vbc2) + veps;
                        (param - (vstep * (mi / denom))).Store(pp + i);
                        mi.Store(pm + i);
                        vi.Store(pv + i);
                    }
                }
                for (; i < e; i++)
                {
                    var param = pp[i];
                    var grad = pg[i] + (l2 * param);
                    param *= shrink;
                    var mi = (pm[i] * beta1) + (grad * (1 - beta1));
                    var vi = (pv[i] * beta2) + (grad * grad * (1 - beta2));
                    pm[i] = mi;
                    pv[i] = vi;
                    if (pmax != null)
                    {
                        vi = pmax[i] = Math.Max(pmax[i], vi);
                    }
                    var denom = (MathF.Sqrt(vi) / bc2Sqrt) + eps;
                    pp[i] = param - (stepSize * (mi / denom));
                }
            }
        });
    }

    /// <summary>SGD with optional momentum (dampening, Nesterov) and coupled weight decay, as PyTorch.
    /// <paramref name="buf"/> is the momentum buffer; <paramref name="first"/> means it is empty.</summary>
    public static void Sgd(float[] p, float[] g, float[]? buf, int n, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool first)
    {
        CpuParallel.For(n, MinChunk, (s, e) =>
        {
            for (var i = s; i < e; i++)
            {
                var d = g[i] + (weightDecay * p[i]);
                if (buf is not null)
                {
                    var b = first ? d : (buf[i] * momentum) + ((1 - dampening) * d);
                    buf[i] = b;
                    d = nesterov ? d + (momentum * b) : b;
                }
                p[i] -= lr * d;
            }
        });
    }

    /// <summary>RMSProp as PyTorch: optional centring, momentum and coupled weight decay.</summary>
    public static void RmsProp(float[] p, float[] g, float[] sq, float[]? avg, float[]? buf, int n, float lr, float alpha, float eps, float weightDecay, float momentum)
    {
        CpuParallel.For(n, MinChunk, (s, e) =>
        {
            for (var i = s; i < e; i++)
            {
                var grad = g[i] + (weightDecay * p[i]);
                var si = (sq[i] * alpha) + ((1 - alpha) * grad * grad);
                sq[i] = si;
                float denom;
                if (avg is not null)
                {
                    var ai = avg[i] + ((grad - avg[i]) * (1 - alpha));
                    avg[i] = ai;
                    denom = MathF.Sqrt(si - (ai * ai)) + eps;
                }
                else
                {
                    denom = MathF.Sqrt(si) + eps;
                }
                if (buf is not null)
                {
                    var b = (buf[i] * momentum) + (grad / denom);
                    buf[i] = b;
                    p[i] -= lr * b;
                }
                else
                {
                    p[i] -= lr * grad / denom;
                }
            }
        });
    }
}
