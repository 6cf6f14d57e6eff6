
namespace Rebalance.Tensors.Tests;

/// <summary>
/// Compares autograd against central finite differences in float64. The function's output is reduced
/// to a scalar with fixed random weights, so every output element takes part. The second-order check
/// differentiates h(x) = sum_i &lt;grad_i f(x), v_i&gt; built with createGraph, against finite differences
/// of the first-order gradient.
/// </summary>
internal static class GradCheck
{
    private const double Eps = 1e-6;

    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, bool secondOrder = true, double tol = 1e-5)
    {
        foreach (var x in inputs)
        {
            Assert.Equal(DType.Float64, x.DType);
            x.RequiresGrad = true;
        }
        var gen = new Generator(4242);
        var probe = f(inputs);
        Assert.Equal(DType.Float64, probe.DType);
        var w = gen.Normal(probe.Shape, dtype: DType.Float64);
        Tensor Scalar() => (f(inputs) * w).Sum();

        var analytic = Autograd.Grad([Scalar()], inputs, allowUnused: true);
        for (var i = 0; i < inputs.Length; i++)
        {
            var numeric = Numeric(inputs[i], () => Scalar().Item());
            AssertClose(numeric, analytic[i], tol, $"first-order gradient of input {i}");
        }

        if (!secondOrder)
        {
            return;
        }
        var v = inputs.Select(x => gen.Normal(x.Shape, dtype: DType.Float64)).ToArray();
        Tensor H(bool create)
        {
            var g = Autograd.Grad([Scalar()], inputs, createGraph: create, allowUnused: true);
            Tensor? h = null;
            for (var i = 0; i < inputs.Length; i++)
            {
                if (g[i] is { } gi)
                {
                    var term = (gi * v[i]).Sum();
                    h = h is null ? term : h + term;
                }
            }
            return h ?? Tensor.Scalar(0, DType.Float64);
        }
        var hGraph = H(create: true);
        var analytic2 = hGraph.RequiresGrad ? Autograd.Grad([hGraph], inputs, allowUnused: true) : new Tensor?[inputs.Length];
        for (var i = 0; i < inputs.Length; i++)
        {
            var numeric = Numeric(inputs[i], () => H(create: false).Item());
            AssertClose(numeric, analytic2[i], tol * 10, $"second-order gradient of input {i}");
        }
    }

    private static double[] Numeric(Tensor x, Func<double> f)
    {
        var data = x.Span<double>().ToArray();
        var result = new double[data.Length];
        for (var j = 0; j < data.Length; j++)
        {
            var orig = data[j];
            x.Span<double>()[j] = orig + Eps;
            var fp = f();
            x.Span<double>()[j] = orig - Eps;
            var fm = f();
            x.Span<double>()[j] = orig;
            result[j] = (fp - fm) / (2 * Eps);
        }
        return result;
    }

    private static void AssertClose(double[] numeric, Tensor? analytic, double tol, string what)
    {
        var a = analytic?.ToDoubleArray() ?? new double[numeric.Length];
        Assert.Equal(numeric.Length, a.Length);
        for (var j = 0; j < numeric.Length; j++)
        {
            var err = Math.Abs(a[j] - numeric[j]);
            if (!(err <= tol + (tol * Math.Abs(numeric[j]))))
            {
                Assert.Fail($"{what}, element {j}: autograd {a[j]:G10}, finite differences {numeric[j]:G10}");
            }
        }
    }
}
