using System.Runtime.CompilerServices;
namespace Rebalance.Tensors;

/// <summary>
/// A seeded pseudo-random generator (xoshiro256**, state seeded by SplitMix64). The same seed gives
/// the same sequence on every machine and thread count. Not thread-safe: give each worker its own.
/// </summary>
public sealed class Generator
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    /// <summary>A generator whose whole sequence is fixed by <paramref name="seed"/>.</summary>
    public Generator(ulong seed)
    {
        Seed = seed;
        var x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>The seed this generator started from.</summary>
    public ulong Seed { get; }

    /// <summary>The full state as text (for checkpoints): restoring it with <see cref="SetState"/>
    /// continues the sequence exactly where it was.</summary>
    public string GetState()
    {
        var spare = _spareNormal is { } v ? BitConverter.DoubleToInt64Bits(v).ToString("x16", System.Globalization.CultureInfo.InvariantCulture) : "-";
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Seed:x16}:{_s0:x16}:{_s1:x16}:{_s2:x16}:{_s3:x16}:{spare}");
    }

    /// <summary>Restores a state produced by <see cref="GetState"/> (the seed must match).</summary>
    public void SetState(string state)
    {
        var parts = state.Split(':');
        var hex = System.Globalization.NumberStyles.AllowHexSpecifier;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (parts.Length != 6
            || !ulong.TryParse(parts[0], hex, inv, out var seed)
            || !ulong.TryParse(parts[1], hex, inv, out var s0)
            || !ulong.TryParse(parts[2], hex, inv, out var s1)
            || !ulong.TryParse(parts[3], hex, inv, out var s2)
            || !ulong.TryParse(parts[4], hex, inv, out var s3)
            || (parts[5] != "-" && !long.TryParse(parts[5], hex, inv, out _)))
        {
            throw new FormatException($"generator state '{state}' is not of the form seed:s0:s1:s2:s3:spare in hexadecimal");
        }
        if (seed != Seed)
        {
            throw new ArgumentException($"generator state belongs to seed {seed}, not {Seed}");
        }
        if ((s0 | s1 | s2 | s3) == 0)
        {
            throw new FormatException("generator state is all zero, which xoshiro256** cannot leave");
        }
        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
        _spareNormal = parts[5] == "-" ? null : BitConverter.Int64BitsToDouble(long.Parse(parts[5], hex, inv));
    }

    private static ulong SplitMix(ref ulong x)
    {
        var z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        var st = Load();
        var result = st.Next();
        Save(st);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// The xoshiro256** state as a local value, for the loops that fill a tensor: the JIT keeps a local
    /// struct's fields in registers, where every draw through the class's fields went through memory
    /// (3.5 ns a draw; a classifier's dropout masks took a quarter of its training step). The same
    /// sequence as <see cref="NextUInt64"/> and <see cref="NextDouble"/>; the state is written back after.
    /// </summary>
    private struct State
    {
        public ulong S0;
        public ulong S1;
        public ulong S2;
        public ulong S3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ulong Next()
        {
            var result = ulong.RotateLeft(S1 * 5, 7) * 9;
            var t = S1 << 17;
            S2 ^= S0;
            S3 ^= S1;
            S1 ^= S2;
            S0 ^= S3;
            S2 ^= t;
            S3 = ulong.RotateLeft(S3, 45);
            return result;
        }

        // Below 2^53, so the signed conversion gives the same double as the unsigned one, faster.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public double NextDouble() => (long)(Next() >> 11) * (1.0 / (1UL << 53));
    }

    private State Load() => new() { S0 = _s0, S1 = _s1, S2 = _s2, S3 = _s3 };

    // xoshiro256**'s state update is linear over GF(2): the state after n draws is T^n s for a fixed
    // 256x256 bit matrix T. JumpTables[k] holds the columns of T^(2^k) (column j, the image of state bit j
    // = 64 w + b of S_w, as four words), so the state n draws ahead costs one matrix-vector product per set
    // bit of n: a few microseconds, against a nanosecond and more per draw. A long fill is then split
    // between threads, each chunk starting from the state its first draw would have seen, so the values
    // are those of one serial pass whatever the thread count. Levels are built on first use.
    private static readonly List<ulong[]> JumpTables = [];

    private static ulong[] JumpTable(int level)
    {
        lock (JumpTables)
        {
            if (JumpTables.Count == 0)
            {
                var t1 = new ulong[1024];
                for (var j = 0; j < 256; j++)
                {
                    var e = new State();
                    SetBit(ref e, j);
                    e.Next();
                    (t1[4 * j], t1[(4 * j) + 1], t1[(4 * j) + 2], t1[(4 * j) + 3]) = (e.S0, e.S1, e.S2, e.S3);
                }
                JumpTables.Add(t1);
            }
            while (JumpTables.Count <= level)
            {
                // T^(2^(k+1)) e_j = T^(2^k) (T^(2^k) e_j).
                var last = JumpTables[^1];
                var next = new ulong[1024];
                for (var j = 0; j < 256; j++)
                {
                    var col = Apply(last, new State { S0 = last[4 * j], S1 = last[(4 * j) + 1], S2 = last[(4 * j) + 2], S3 = last[(4 * j) + 3] });
                    (next[4 * j], next[(4 * j) + 1], next[(4 * j) + 2], next[(4 * j) + 3]) = (col.S0, col.S1, col.S2, col.S3);
                }
                JumpTables.Add(next);
            }
            return JumpTables[level];
        }
    }

    private static void SetBit(ref State s, int j)
    {
        var bit = 1UL << (j & 63);
        switch (j >> 6)
        {
            case 0: s.S0 = bit; break;
            case 1: s.S1 = bit; break;
            case 2: s.S2 = bit; break;
            default: s.S3 = bit; break;
        }
    }

    // The columns' XOR over the state's set bits: the matrix times the state over GF(2).
    private static State Apply(ulong[] columns, State s)
    {
        ulong r0 = 0, r1 = 0, r2 = 0, r3 = 0;
        ReadOnlySpan<ulong> words = [s.S0, s.S1, s.S2, s.S3];
        for (var w = 0; w < 4; w++)
        {
            var word = words[w];
            for (var b = 0; b < 64; b++)
            {
                var take = 0UL - ((word >> b) & 1);
                var c = 4 * ((64 * w) + b);
                r0 ^= columns[c] & take;
                r1 ^= columns[c + 1] & take;
                r2 ^= columns[c + 2] & take;
                r3 ^= columns[c + 3] & take;
            }
        }
        return new State { S0 = r0, S1 = r1, S2 = r2, S3 = r3 };
    }

    // The state after n more draws.
    private static State Jump(State s, long n)
    {
        for (var level = 0; n != 0; level++, n >>= 1)
        {
            if ((n & 1) != 0)
            {
                s = Apply(JumpTable(level), s);
            }
        }
        return s;
    }

    /// <summary>Moves the sequence <paramref name="draws"/> 64-bit draws ahead, as that many calls of
    /// <see cref="NextUInt64"/> would (a spare normal, if one is held, stays held).</summary>
    public void Skip(long draws)
    {
        if (draws < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(draws), draws, "skip: the number of draws must not be negative");
        }
        Save(Jump(Load(), draws));
    }

    // Draws one per element, in order, over [0, count), in chunks that may run on several threads:
    // body(state at the chunk's first draw, start, end) must leave the state after the chunk's last draw.
    // Below MinParallelDraws per thread it runs inline on this thread.
    private delegate State ChunkBody(State st, int start, int end);

    private const int MinParallelDraws = 1 << 15;

    private void Draw(int count, ChunkBody body)
    {
        var start = Load();
        if (count < 2 * MinParallelDraws || Engine.NumThreads == 1)
        {
            Save(body(start, 0, count));
            return;
        }
        var end = start;
        Kernels.CpuParallel.For(count, MinParallelDraws, (a, b) =>
        {
            var st = body(a == 0 ? start : Jump(start, a), a, b);
            if (b == count)
            {
                end = st;
            }
        });
        Save(end);
    }

    // NextDouble() < p, on the integer draw: m 2^-53 < p exactly when m < ceil(p 2^53) (m an integer below 2^53).
    private static ulong KeepThreshold(double p) => (ulong)Math.Ceiling(p * (1UL << 53));

    /// <summary>
    /// Dropout's forward in one pass: mask[i] = value with probability p (else 0), y[i] = x[i] * mask[i],
    /// over the first <paramref name="count"/> elements. The same draws, mask and products as
    /// <see cref="BernoulliScaled"/> followed by a multiply, split between the engine's threads.
    /// </summary>
    internal void DropoutFill<T>(T[] x, T[] mask, T[] y, int count, double p, T value)
        where T : unmanaged, System.Numerics.INumber<T>
    {
        var threshold = KeepThreshold(p);
        Draw(count, (st, a, b) =>
        {
            for (var i = a; i < b; i++)
            {
                var m = T.CreateTruncating((st.Next() >> 11) < threshold ? 1 : 0) * value;
                mask[i] = m;
                y[i] = x[i] * m;
            }
            return st;
        });
    }

    private void Save(State st)
    {
        _s0 = st.S0;
        _s1 = st.S1;
        _s2 = st.S2;
        _s3 = st.S3;
    }

    /// <summary>Uniform integer in [0, n), without modulo bias.</summary>
    public int NextInt(int n)
    {
        if (n <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, "NextInt needs a positive bound");
        }
        var bound = (ulong)n;
        var limit = ulong.MaxValue - (ulong.MaxValue % bound);
        ulong r;
        do
        {
            r = NextUInt64();
        }
        while (r >= limit);
        return (int)(r % bound);
    }

    /// <summary>Standard normal (Marsaglia's polar method).</summary>
    public double NextNormal()
    {
        if (_spareNormal is { } spare)
        {
            _spareNormal = null;
            return spare;
        }
        double u, v, s;
        do
        {
            u = (2 * NextDouble()) - 1;
            v = (2 * NextDouble()) - 1;
            s = (u * u) + (v * v);
        }
        while (s >= 1 || s == 0);
        var f = Math.Sqrt(-2 * Math.Log(s) / s);
        _spareNormal = v * f;
        return u * f;
    }

    /// <summary>Uniform values in [low, high).</summary>
    public Tensor Uniform(int[] shape, double low = 0, double high = 1, DType dtype = DType.Float32)
    {
        if (!(high >= low))
        {
            throw new ArgumentException($"uniform: low {low} must not exceed high {high}");
        }
        var t = Tensor.Empty((int[])shape.Clone(), dtype); // every element is written below
        var width = high - low;
        if (dtype == DType.Float32)
        {
            var data = t.Array<float>();
            Draw(t.Numel, (st, a, b) =>
            {
                for (var i = a; i < b; i++)
                {
                    data[i] = (float)(low + (width * st.NextDouble()));
                }
                return st;
            });
        }
        else if (dtype == DType.Float64)
        {
            var data = t.Array<double>();
            Draw(t.Numel, (st, a, b) =>
            {
                for (var i = a; i < b; i++)
                {
                    data[i] = low + (width * st.NextDouble());
                }
                return st;
            });
        }
        else
        {
            for (var i = 0; i < t.Numel; i++)
            {
                t.SetFlat(i, low + (width * NextDouble()));
            }
        }
        return t;
    }

    /// <summary>Normal values with the given mean and standard deviation.</summary>
    public Tensor Normal(int[] shape, double mean = 0, double std = 1, DType dtype = DType.Float32)
    {
        if (!(std >= 0))
        {
            throw new ArgumentException($"normal: std must be non-negative, got {std}");
        }
        var t = Tensor.Empty((int[])shape.Clone(), dtype); // every element is written below
        if (dtype == DType.Float32)
        {
            var span = t.Span<float>();
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (float)(mean + (std * NextNormal()));
            }
        }
        else if (dtype == DType.Float64)
        {
            var span = t.Span<double>();
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = mean + (std * NextNormal());
            }
        }
        else
        {
            for (var i = 0; i < t.Numel; i++)
            {
                t.SetFlat(i, mean + (std * NextNormal()));
            }
        }
        return t;
    }

    /// <summary>1 with probability p, else 0.</summary>
    public Tensor Bernoulli(int[] shape, double p, DType dtype = DType.Float32) => BernoulliScaled(shape, p, 1, dtype);

    /// <summary><paramref name="value"/> (positive) with probability p, else 0: a dropout mask with its scale in
    /// one pass, the same draws and the same values as <see cref="Bernoulli"/> multiplied by the value.</summary>
    internal Tensor BernoulliScaled(int[] shape, double p, double value, DType dtype = DType.Float32)
    {
        if (!(p >= 0 && p <= 1))
        {
            throw new ArgumentException($"bernoulli: p must lie in [0, 1], got {p}");
        }
        var t = Tensor.Empty((int[])shape.Clone(), dtype); // every element is written below
        var threshold = KeepThreshold(p);
        if (dtype == DType.Float32)
        {
            var data = t.Array<float>();
            var v = (float)value;
            Draw(t.Numel, (st, a, b) =>
            {
                for (var i = a; i < b; i++)
                {
                    // Through an int, so the JIT sets it without a branch (a fifth of the draws went the other
                    // way of a branch, each a misprediction); 1 * v and 0 * v are v and 0 exactly, v being positive.
                    data[i] = ((st.Next() >> 11) < threshold ? 1 : 0) * v;
                }
                return st;
            });
        }
        else if (dtype == DType.Float64)
        {
            var data = t.Array<double>();
            Draw(t.Numel, (st, a, b) =>
            {
                for (var i = a; i < b; i++)
                {
                    data[i] = ((st.Next() >> 11) < threshold ? 1 : 0) * value;
                }
                return st;
            });
        }
        else
        {
            for (var i = 0; i < t.Numel; i++)
            {
                t.SetFlat(i, NextDouble() < p ? value : 0);
            }
        }
        return t;
    }

    /// <summary>A random permutation of 0..n-1 (Fisher-Yates), as int32.</summary>
    public Tensor Permutation(int n)
    {
        if (n < 0)
        {
            throw new ArgumentException($"permutation: n must be non-negative, got {n}");
        }
        var p = new int[n];
        for (var i = 0; i < n; i++)
        {
            p[i] = i;
        }
        for (var i = n - 1; i > 0; i--)
        {
            var j = NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return Tensor.FromArray(p, n);
    }

    /// <summary>
    /// Draws <paramref name="numSamples"/> category indices per row of <paramref name="weights"/> (1-D or 2-D,
    /// non-negative, not necessarily normalised), with or without replacement, as int32.
    /// </summary>
    public Tensor Multinomial(Tensor weights, int numSamples, bool replacement = false)
    {
        if (weights.Rank is < 1 or > 2)
        {
            throw new ArgumentException($"multinomial: weights must be 1-D or 2-D, got shape {ShapeUtil.Format(weights.ShapeRef)}");
        }
        var rows = weights.Rank == 1 ? 1 : weights.Size(0);
        var k = weights.Size(-1);
        if (!replacement && numSamples > k)
        {
            throw new ArgumentException($"multinomial: cannot draw {numSamples} samples without replacement from {k} categories");
        }
        var w = weights.ToDoubleArray();
        var result = new int[rows * numSamples];
        for (var r = 0; r < rows; r++)
        {
            var row = w.AsSpan(r * k, k).ToArray();
            foreach (var v in row)
            {
                if (!(v >= 0) || double.IsInfinity(v))
                {
                    throw new ArgumentException($"multinomial: weights must be finite and non-negative, found {v} in row {r}");
                }
            }
            for (var s = 0; s < numSamples; s++)
            {
                var total = row.Sum();
                if (total <= 0)
                {
                    throw new ArgumentException($"multinomial: row {r} has no positive weight left to draw from");
                }
                var u = NextDouble() * total;
                var c = 0;
                double acc = row[0];
                while (acc <= u && c < k - 1)
                {
                    c++;
                    acc += row[c];
                }
                while (row[c] == 0 && c > 0)
                {
                    c--;
                }
                result[(r * numSamples) + s] = c;
                if (!replacement)
                {
                    row[c] = 0;
                }
            }
        }
        return weights.Rank == 1 ? Tensor.FromArray(result, numSamples) : Tensor.FromArray(result, rows, numSamples);
    }
}
