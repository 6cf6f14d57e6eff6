using System.Numerics.Tensors;

namespace Rebalance.Evaluation.Quality;

/// <summary>
/// The float64 dense linear algebra behind FID, where the figures are compared with numpy's to 1e-6 and
/// the engine's float32 kernels are not precise enough: a Gram matrix, a product of square matrices, and
/// the eigenvalues (only) of a symmetric matrix. Matrices are column-major <c>double[]</c> (MathNet's
/// dense storage). Every output element is summed in a fixed order whatever the thread count, so results
/// do not depend on it.
/// </summary>
internal static class Float64Kernels
{
    /// <summary>Columns of the Gram matrix computed per parallel work item.</summary>
    private const int ColumnBlock = 16;

    /// <summary>The spacing of doubles at 1 (2⁻⁵²): off-diagonal elements below it relative to their
    /// neighbours are rounding and are set to 0.</summary>
    private const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>XᵀX of an n x d column-major matrix (d x d, column-major, symmetric).</summary>
    public static double[] Gram(double[] x, int n, int d)
    {
        var g = new double[d * d];
        var blocks = (d + ColumnBlock - 1) / ColumnBlock;
        Parallel.For(0, blocks, b =>
        {
            for (var j = b * ColumnBlock; j < Math.Min(d, (b + 1) * ColumnBlock); j++)
            {
                var cj = x.AsSpan(j * n, n);
                for (var i = 0; i <= j; i++)
                {
                    var v = TensorPrimitives.Dot(x.AsSpan(i * n, n), cj);
                    g[(j * d) + i] = v;
                    g[(i * d) + j] = v;
                }
            }
        });
        return g;
    }

    /// <summary>AB of two d x d column-major matrices: column j of the product is Σ_k B[k, j] A[:, k].</summary>
    public static double[] Multiply(double[] a, double[] b, int d)
    {
        var c = new double[d * d];
        Parallel.For(0, (d + ColumnBlock - 1) / ColumnBlock, blk =>
        {
            for (var j = blk * ColumnBlock; j < Math.Min(d, (blk + 1) * ColumnBlock); j++)
            {
                var cj = c.AsSpan(j * d, d);
                for (var k = 0; k < d; k++)
                {
                    var s = b[(j * d) + k];
                    if (s != 0)
                    {
                        TensorPrimitives.MultiplyAdd(a.AsSpan(k * d, d), s, cj, cj);
                    }
                }
            }
        });
        return c;
    }

    /// <summary>
    /// The eigenvalues of a symmetric d x d matrix, ascending: Householder reduction to tridiagonal form
    /// (Golub and Van Loan, "Matrix Computations", 4th ed., §8.3.1) followed by the implicit symmetric QL
    /// iteration with Wilkinson shifts (§8.3.3) on the tridiagonal. No eigenvectors are formed, which makes
    /// this several times cheaper than a full decomposition. <paramref name="a"/> is overwritten.
    /// </summary>
    public static double[] SymmetricEigenvalues(double[] a, int d)
    {
        foreach (var v in a.AsSpan(0, d * d))
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException($"symmetric eigenvalues of a matrix holding {v}");
            }
        }
        var diag = new double[d];
        var off = new double[d];
        Tridiagonalise(a, d, diag, off);
        TridiagonalQl(diag, off);
        Array.Sort(diag);
        return diag;
    }

    /// <summary>Reduces the symmetric matrix to tridiagonal form by Householder reflections from the left
    /// column inwards; diag gets the diagonal, off[i] the element below diag[i] (off[d−1] = 0).</summary>
    private static void Tridiagonalise(double[] a, int d, double[] diag, double[] off)
    {
        var v = new double[d];
        var p = new double[d];
        for (var k = 0; k < d - 2; k++)
        {
            // Column k below the diagonal is x; the reflection H = I − βvvᵀ maps it to (−sign(x₀)‖x‖, 0, ...).
            var m = d - k - 1;
            var col = a.AsSpan((k * d) + k + 1, m);
            var norm = TensorPrimitives.Norm(col);
            diag[k] = a[(k * d) + k];
            if (norm == 0)
            {
                off[k] = 0;
                continue;
            }
            var alpha = col[0] > 0 ? -norm : norm;
            var vs = v.AsSpan(0, m);
            col.CopyTo(vs);
            vs[0] -= alpha;
            var vnorm2 = TensorPrimitives.Dot(vs, vs);
            off[k] = alpha;
            if (vnorm2 == 0)
            {
                continue;
            }
            var beta = 2 / vnorm2;
            // Trailing block A' (m x m, starting at (k+1, k+1)): A' ← HA'H = A' − vwᵀ − wvᵀ with
            // p = βA'v, w = p − (β pᵀv / 2) v.
            var ps = p.AsSpan(0, m);
            var start = ((k + 1) * d) + k + 1;
            Parallel.For(0, (m + 63) / 64, blk =>
            {
                for (var j = blk * 64; j < Math.Min(m, (blk + 1) * 64); j++)
                {
                    p[j] = beta * TensorPrimitives.Dot(a.AsSpan(start + (j * d), m), v.AsSpan(0, m));
                }
            });
            var gamma = beta * TensorPrimitives.Dot(ps, vs) / 2;
            TensorPrimitives.MultiplyAdd(vs, -gamma, ps, ps);
            Parallel.For(0, (m + 63) / 64, blk =>
            {
                for (var j = blk * 64; j < Math.Min(m, (blk + 1) * 64); j++)
                {
                    var cj = a.AsSpan(start + (j * d), m);
                    TensorPrimitives.MultiplyAdd(v.AsSpan(0, m), -p[j], cj, cj);
                    TensorPrimitives.MultiplyAdd(p.AsSpan(0, m), -v[j], cj, cj);
                }
            });
        }
        if (d >= 2)
        {
            diag[d - 2] = a[((d - 2) * d) + d - 2];
            off[d - 2] = a[((d - 2) * d) + d - 1];
        }
        diag[d - 1] = a[((d - 1) * d) + d - 1];
        off[d - 1] = 0;
    }

    /// <summary>Eigenvalues of the symmetric tridiagonal (diag, off) by implicit QL with Wilkinson shifts,
    /// deflating where an off-diagonal element falls below rounding of its neighbours; diag gets them.</summary>
    private static void TridiagonalQl(double[] diag, double[] off)
    {
        var n = diag.Length;
        // Besides the local test, an element below rounding of the whole matrix (ε‖T‖, the accuracy any
        // backward-stable method has) is dropped: without it a cluster of eigenvalues at rounding level
        // beside large ones can stall.
        var norm = 0.0;
        for (var i = 0; i < n; i++)
        {
            norm = Math.Max(norm, Math.Abs(diag[i]) + Math.Abs(off[i]) + (i > 0 ? Math.Abs(off[i - 1]) : 0));
        }
        for (var l = 0; l < n; l++)
        {
            for (var iteration = 0; ; iteration++)
            {
                var m = l;
                for (; m < n - 1; m++)
                {
                    var dd = Math.Abs(diag[m]) + Math.Abs(diag[m + 1]);
                    if (Math.Abs(off[m]) <= MachineEpsilon * dd || Math.Abs(off[m]) <= MachineEpsilon * norm)
                    {
                        break;
                    }
                }
                if (m == l)
                {
                    break;
                }
                if (iteration == 60)
                {
                    throw new InvalidOperationException("symmetric eigenvalues: the QL iteration did not converge in 60 sweeps");
                }
                // Wilkinson shift from the leading 2x2 of the unreduced block, then a QL sweep of plane
                // rotations from the bottom of the block up (chasing the bulge).
                var g = (diag[l + 1] - diag[l]) / (2 * off[l]);
                var r = Hypot(g, 1);
                g = diag[m] - diag[l] + (off[l] / (g + (g >= 0 ? r : -r)));
                double s = 1, c = 1, pp = 0;
                var i = m - 1;
                var underflow = false;
                for (; i >= l; i--)
                {
                    var f = s * off[i];
                    var b = c * off[i];
                    r = Hypot(f, g);
                    off[i + 1] = r;
                    if (r == 0)
                    {
                        diag[i + 1] -= pp;
                        off[m] = 0;
                        underflow = true;
                        break;
                    }
                    s = f / r;
                    c = g / r;
                    g = diag[i + 1] - pp;
                    r = ((diag[i] - g) * s) + (2 * c * b);
                    pp = s * r;
                    diag[i + 1] = g + pp;
                    g = (c * r) - b;
                }
                if (underflow)
                {
                    continue;
                }
                diag[l] -= pp;
                off[l] = g;
                off[m] = 0;
            }
        }
    }

    private static double Hypot(double a, double b)
    {
        var (x, y) = (Math.Abs(a), Math.Abs(b));
        if (x < y)
        {
            (x, y) = (y, x);
        }
        if (x == 0)
        {
            return 0;
        }
        var t = y / x;
        return x * Math.Sqrt(1 + (t * t));
    }
}
