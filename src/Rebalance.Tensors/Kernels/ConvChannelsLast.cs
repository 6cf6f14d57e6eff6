using System.Runtime.Intrinsics;

namespace Rebalance.Tensors.Kernels;

/// <summary>
/// float32 convolution on channels-last copies of its operands, for the layers that are neither stride 1
/// (<see cref="ConvDirect"/>) nor few-channel (<see cref="ConvFewChannels"/>): the 4x4 stride-2 layers
/// DCGAN-style models are built from.
/// </summary>
/// <remarks>
/// <para>In (N, H, W, C) order the input pixels a kernel row covers, (kw, c) for kw = 0..KW-1, are one
/// contiguous run of KW*C floats. So each output position's im2col row is KH such runs, and the GEMM
/// micro-kernels of <see cref="IndirectMicroKernels"/> read those runs in place through a table of row
/// pointers: there is no im2col gather, no packing of the image operand and no col2im scatter.</para>
/// <para>Forward: y(p, o) = sum over kh of run(p, kh) . W(kh)(:, o), with W packed once per call.
/// Input gradient: the positions of gx are split into the SH x SW phases of the stride; within a phase
/// every position receives the same taps, which again form contiguous runs of the padded output gradient,
/// so each phase is a GEMM of the same kind. Weight gradient: gw(o, kh, kw, c) = sum over p of
/// gy(p, o) run(p, kh)(kw, c), with the positions as the GEMM's k and the runs read through the pointer
/// table. Every output element is summed by one thread in a fixed order, so results do not depend on the
/// thread count.</para>
/// <para>Taps that land on zero padding are skipped rather than multiplied: positions are taken in
/// <see cref="BorderOrder"/>, which puts those with the same valid taps together, and each tile of the
/// forward pass and input gradient sums only the kernel rows and run stretches its positions need, while
/// the weight gradient leaves out, per kernel row and block of run elements, the positions whose runs there
/// are all padding. On 14x14 images with a 4x4 stride-2 kernel and padding 1 that is a seventh of the work.</para>
/// <para>Forward and input gradient run image groups end to end on one thread (to channels-last, GEMM,
/// back to channels-first), so a group's copies stay in that core's cache; the weight gradient sums over
/// all images and converts them once up front, or reads the copy the forward pass left when conv2d asked
/// it to keep one.</para>
/// </remarks>
internal static unsafe class ConvChannelsLast
{
    private const int Mr = IndirectMicroKernels.Mr;
    private const int Nr = IndirectMicroKernels.Nr;
    private const int KBlock = 256;

    /// <summary>Rows and columns of the AVX2 sub-tile (the GEMM's 6x16 kernel).</summary>
    private const int SubRows = 6;
    private const int Half = Nr / 2;

    /// <summary>Tests switch this path off to compare the others with it.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>Benchmarks switch the skipping of padding taps off (every tile then takes all taps) to measure it.</summary>
    internal static bool KeepPaddingTaps { get; set; }

    /// <summary>Whether the 12x32 tile runs as one AVX-512 kernel (else as four AVX2 sub-tiles).</summary>
    private static bool Wide => Gemm.Current == GemmKernel.Avx512;

    /// <summary>
    /// Columns of a packed weight panel that one micro-kernel reads per k: all 32 for AVX-512; 16 for AVX2,
    /// whose 6x16 sub-tiles then find their half of the panel as one contiguous (len, 16) block (the panel is
    /// stored as its two halves one after the other) rather than every other 64 bytes of a (len, 32) one.
    /// </summary>
    private static int PanelWidth => Wide ? Nr : Half;

    /// <summary>Where element (j, col) of a packed panel with len rows sits from the panel's start, for halves of the given width.</summary>
    private static long PanelIndex(int j, int col, int len, int width) => ((long)(col / width) * len * width) + ((long)j * width) + (col % width);

    /// <summary>AVX-512 or AVX2 + FMA in use, no dilation, and runs and channel counts long enough to fill the tiles.</summary>
    public static bool Applies(in ConvGeometry g) =>
        !Disabled && Vectorised && g.DH == 1 && g.DW == 1 && g.KW * g.C >= 64 && g.O >= 16 && g.C >= 16;

    /// <summary>
    /// The weight gradient's kernel also serves stride-1 layers (where it beats the direct kernel) and
    /// layers with few channels, as long as padding to the tile wastes at most half the work.
    /// </summary>
    public static bool AppliesToWeightGradient(in ConvGeometry g) =>
        !Disabled && Vectorised && g.DH == 1 && g.DW == 1 && WeightPadding(g).Least <= 1.5;

    /// <summary>The GEMM kernel in use is a vector one (the tiles' kernels exist for AVX-512 and AVX2 + FMA).</summary>
    private static bool Vectorised => Gemm.Current >= GemmKernel.Avx2;

    /// <summary>Work done over useful work for the two tile orientations of the weight gradient.</summary>
    private static (double OutputRows, double RunRows, double Least) WeightPadding(in ConvGeometry g)
    {
        var run = g.KW * g.C;
        var outputRows = (double)Pad(g.O, Mr) / g.O * Pad(run, Nr) / run;
        var runRows = (double)Pad(run, Mr) / run * Pad(g.O, Nr) / g.O;
        return (outputRows, runRows, Math.Min(outputRows, runRows));
    }

    /// <summary>Whether the weight gradient puts run elements rather than output channels on the tile's rows.</summary>
    internal static bool PrefersRunRows(in ConvGeometry g)
    {
        var (outputRows, runRows, _) = WeightPadding(g);
        return runRows < outputRows;
    }

    private static int Pad(int extent, int tile) => (extent + tile - 1) / tile * tile;

    /// <summary>Floats of slack a buffer needs for <see cref="Align"/>.</summary>
    private const int AlignSlack = 16;

    /// <summary>The first 64-byte boundary at or after p: vector loads that straddle two cache lines cost
    /// about 8% of the micro-kernels' speed. Pool arrays are pinned, so the offset is the same in every
    /// <c>fixed</c> block.</summary>
    private static float* Align(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    /// <summary>Rows and columns of the zero-padded channels-last input: every tap of every output lands inside.</summary>
    private static (int Hp, int Wp) PaddedInput(in ConvGeometry g) =>
        (Math.Max(g.PH + g.H, ((g.OH - 1) * g.SH) + g.KH), Math.Max(g.PW + g.W, ((g.OW - 1) * g.SW) + g.KW));

    /// <summary>
    /// Copies n images of planes (C, H, W) to (n, hp, wp, ld) with each image at row top, column left,
    /// zeros around it and in channels [c, ld). scratch holds h*w*c floats.
    /// </summary>
    private static void ToPaddedNhwc(float* src, int n, int c, int h, int w, int top, int left, int hp, int wp, int ld, float* dst, float* scratch)
    {
        var img = (long)hp * wp * ld;
        var hw = h * w;
        // Without spatial padding the transpose writes the destination directly; otherwise it goes through
        // a (HW, C) scratch copy whose pixel rows are then placed inside the zero border.
        var direct = top == 0 && left == 0 && wp == w && hp == h;
        for (var i = 0; i < n; i++)
        {
            var d = dst + (i * img);
            var s = src + ((long)i * c * hw);
            if (direct)
            {
                Transpose.Run(s, hw, d, ld, c, hw);
                for (var q = 0; q < hw && ld > c; q++)
                {
                    new Span<float>(d + ((long)q * ld) + c, ld - c).Clear();
                }
                continue;
            }
            Transpose.Run(s, hw, scratch, c, c, hw);
            new Span<float>(d, top * wp * ld).Clear();
            new Span<float>(d + ((long)(top + h) * wp * ld), (hp - top - h) * wp * ld).Clear();
            for (var y = 0; y < h; y++)
            {
                var row = d + ((long)(top + y) * wp * ld);
                new Span<float>(row, left * ld).Clear();
                new Span<float>(row + ((left + w) * ld), (wp - left - w) * ld).Clear();
                var from = scratch + ((long)y * w * c);
                if (ld == c)
                {
                    Buffer.MemoryCopy(from, row + (left * ld), (long)w * c * sizeof(float), (long)w * c * sizeof(float));
                    continue;
                }
                for (var x = 0; x < w; x++)
                {
                    var px = row + ((left + x) * ld);
                    Buffer.MemoryCopy(from + ((long)x * c), px, (long)c * sizeof(float), (long)c * sizeof(float));
                    new Span<float>(px + c, ld - c).Clear();
                }
            }
        }
    }

    /// <summary><see cref="ToPaddedNhwc(float*, int, int, int, int, int, int, int, int, int, float*, float*)"/> over all images, in parallel
    /// (into <see cref="Align"/>ed dst when aligned).</summary>
    private static void ToPaddedNhwc(float[] src, int n, int c, int h, int w, int top, int left, int hp, int wp, int ld, float[] dst, bool aligned = false)
    {
        var img = (long)hp * wp * ld;
        CpuParallel.For(n, 1, (n0, n1) =>
        {
            var scratch = BufferPool.Rent<float>(h * w * c);
            fixed (float* ps = src, pd0 = dst, pt = scratch)
            {
                var pd = aligned ? Align(pd0) : pd0;
                ToPaddedNhwc(ps + ((long)n0 * c * h * w), n1 - n0, c, h, w, top, left, hp, wp, ld, pd + (n0 * img), pt);
            }
            BufferPool.Return(scratch);
        });
    }

    /// <summary>dst (n, c, hw) = src (n, hw, ld) restricted to the first c channels.</summary>
    private static void FromNhwc(float* src, int n, int c, int hw, int ld, float* dst)
    {
        for (var i = 0; i < n; i++)
        {
            Transpose.Run(src + ((long)i * hw * ld), ld, dst + ((long)i * c * hw), hw, hw, c);
        }
    }

    /// <summary>
    /// dst = src (n, c, hw) in the order slot gives (pixel q of image i is position slot[i * hw + q] of
    /// n * hw), as blocks of <see cref="SubRows"/> channels: element (k, o) for o in [0, ld) at
    /// ((o / SubRows) * n * hw + k) * SubRows + o % SubRows, zeros for o >= c. Each block is the packed A
    /// operand of <see cref="GemmMicroKernels.Kernel256"/>, with positions as its k. ld is a multiple of SubRows.
    /// </summary>
    private static void ToOrderedBlocks(float[] src, int n, int c, int hw, int ld, int[] slot, float[] dst)
    {
        var blockStride = (long)n * hw * SubRows;
        CpuParallel.For(n, 1, (n0, n1) =>
        {
            var scratch = BufferPool.Rent<float>(hw * ld);
            fixed (float* ps = src, pd = dst, pt = scratch)
            {
                for (var i = n0; i < n1; i++)
                {
                    ToPaddedNhwc(ps + ((long)i * c * hw), 1, c, hw, 1, 0, 0, hw, 1, ld, pt, pt);
                    for (var q = 0; q < hw; q++)
                    {
                        var from = pt + ((long)q * ld);
                        var to = pd + ((long)slot[(i * hw) + q] * SubRows);
                        for (var o = 0; o < ld; o += SubRows, to += blockStride)
                        {
                            Vector128.Store(Vector128.Load(from + o), to);
                            to[4] = from[o + 4];
                            to[5] = from[o + 5];
                        }
                    }
                }
            }
            BufferPool.Return(scratch);
        });
    }

    /// <summary>
    /// Copies the 32 run elements at rows[j] + off, j in [0, kc), into two packed (kc, 16) halves: elements
    /// 0-15 to half0 + 16 j, 16-31 to half1 + 16 j (the packed B operand of <see cref="GemmMicroKernels.Kernel256"/>).
    /// </summary>
    private static void PackRunHalves(float** rows, int kc, nint off, float* half0, float* half1)
    {
        for (var j = 0; j < kc; j++)
        {
            var from = rows[j] + off;
            Vector256.Store(Vector256.Load(from), half0 + (j * Half));
            Vector256.Store(Vector256.Load(from + 8), half0 + (j * Half) + 8);
            Vector256.Store(Vector256.Load(from + 16), half1 + (j * Half));
            Vector256.Store(Vector256.Load(from + 24), half1 + (j * Half) + 8);
        }
    }

    /// <summary>dst row slot[n * hw + q] (ld floats: channels [0, c), then zeros) = pixel q of image n of src (n, c, hw), in parallel
    /// (into <see cref="Align"/>ed dst when aligned).</summary>
    private static void ToOrderedRows(float[] src, int n, int c, int hw, int ld, int[] slot, float[] dst, bool aligned)
    {
        CpuParallel.For(n, 1, (n0, n1) =>
        {
            var scratch = BufferPool.Rent<float>(hw * ld);
            fixed (float* ps = src, pd0 = dst, pt = scratch)
            {
                var pd = aligned ? Align(pd0) : pd0;
                for (var i = n0; i < n1; i++)
                {
                    ToPaddedNhwc(ps + ((long)i * c * hw), 1, c, hw, 1, 0, 0, hw, 1, ld, pt, pt);
                    for (var q = 0; q < hw; q++)
                    {
                        Buffer.MemoryCopy(pt + ((long)q * ld), pd + ((long)slot[(i * hw) + q] * ld), (long)ld * sizeof(float), (long)ld * sizeof(float));
                    }
                }
            }
            BufferPool.Return(scratch);
        });
    }

    /// <summary>
    /// Bounds the memory of the cached position orders and weight-gradient plans (a few ints per output
    /// position each): a cache that would pass the budget is emptied first, so a long run that meets many
    /// geometries (varying batch sizes, say) rebuilds plans instead of growing without end.
    /// </summary>
    private static class PlanBudget
    {
        /// <summary>About 64 MB of ints across both caches.</summary>
        private const long MaxInts = 16L << 20;

        private static long s_ints;

        /// <summary>Counts a new entry of the given size, first emptying both caches when it would pass the budget.</summary>
        public static void Admit(long ints)
        {
            if (Interlocked.Add(ref s_ints, ints) > MaxInts)
            {
                BorderOrder.ClearCache();
                WeightPlan.ClearCache();
                Interlocked.Exchange(ref s_ints, ints);
            }
        }
    }

    /// <summary>Kernel taps [Lo, Hi) along one axis that read real data rather than zero padding.</summary>
    internal readonly record struct Taps(int Lo, int Hi)
    {
        public bool IsEmpty => Hi <= Lo;

        /// <summary>The smallest range holding both (an empty range holds nothing).</summary>
        public Taps Union(Taps other) => IsEmpty ? other : other.IsEmpty ? this : new Taps(Math.Min(Lo, other.Lo), Math.Max(Hi, other.Hi));

        /// <summary>Widens a tile's (rows, columns) to take in a position with taps (r, c); a position without
        /// valid taps adds nothing.</summary>
        public static void Widen(ref Taps rows, ref Taps columns, Taps r, Taps c)
        {
            if (!r.IsEmpty && !c.IsEmpty)
            {
                rows = rows.Union(r);
                columns = columns.Union(c);
            }
        }

        /// <summary>Taps k = 0..count-1 valid where first + k lies in [0, extent).</summary>
        public static Taps Inside(int first, int count, int extent) => new(Math.Clamp(-first, 0, count), Math.Clamp(extent - first, 0, count));
    }

    /// <summary>
    /// An order of the positions (image, row, column) of a batch in which positions that skip the same
    /// padding taps sit together, so a tile of them skips those taps too: about a seventh of a 4x4 stride-2
    /// layer's multiply-adds on 14x14 images land on padding. Classes are the distinct (row taps, column
    /// taps) pairs; the class with every tap valid comes first and the others follow by the direction of
    /// their clipping, around the border, so a tile that straddles two classes rarely needs more than one
    /// of them. Within a class, positions are in (image, row, column) order.
    /// </summary>
    internal sealed class BorderOrder
    {
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<(ConvGeometry G, int Kind, int Count), BorderOrder> Cache = new();

        private BorderOrder(int[] positions, int[] segments, Taps[] segmentRows, Taps[] segmentColumns, Taps[] rowTaps, Taps[] columnTaps)
        {
            Positions = positions;
            Segments = segments;
            SegmentRows = segmentRows;
            SegmentColumns = segmentColumns;
            RowTaps = rowTaps;
            ColumnTaps = columnTaps;
        }

        /// <summary>n * rows * columns + r * columns + c for each position, in order.</summary>
        public int[] Positions { get; }

        /// <summary>Class s holds Positions[Segments[s] .. Segments[s + 1]).</summary>
        public int[] Segments { get; }

        /// <summary>Row taps of class s.</summary>
        public Taps[] SegmentRows { get; }

        /// <summary>Column taps of class s.</summary>
        public Taps[] SegmentColumns { get; }

        /// <summary>Valid taps of each row.</summary>
        public Taps[] RowTaps { get; }

        /// <summary>Valid taps of each column.</summary>
        public Taps[] ColumnTaps { get; }

        public static void ClearCache() => Cache.Clear();

        /// <summary>The order for count images of the grid that grid(g, kind) describes (valid taps per row and
        /// column, and the tap counts), cached: kind tells apart the grids of one geometry.</summary>
        public static BorderOrder For(in ConvGeometry g, int kind, int count, Func<ConvGeometry, int, (Taps[] Rows, Taps[] Columns, int RowTaps, int ColumnTaps)> grid)
        {
            var key = (g, kind, count);
            if (Cache.TryGetValue(key, out var found))
            {
                return found;
            }
            var (rows, columns, rowTaps, columnTaps) = grid(g, kind);
            var made = Build(rows, columns, rowTaps, columnTaps, count);
            PlanBudget.Admit(made.Positions.Length);
            Cache[key] = made;
            return made;
        }

        internal static BorderOrder Build(Taps[] rowTaps, Taps[] columnTaps, int rowTapCount, int columnTapCount, int count)
        {
            var rowClasses = rowTaps.Distinct().ToArray();
            var columnClasses = columnTaps.Distinct().ToArray();
            // Clipping direction: positive when the low taps are cut (top or left edge), negative for the high ones.
            static double Cut(Taps t, int n) => t.IsEmpty ? 0 : t.Lo - (n - t.Hi);
            var classes = (from r in rowClasses
                           from c in columnClasses
                           let full = r == new Taps(0, rowTapCount) && c == new Taps(0, columnTapCount)
                           orderby full ? 0 : 1, Math.Atan2(Cut(r, rowTapCount), Cut(c, columnTapCount)), r.Lo, r.Hi, c.Lo, c.Hi
                           select (Row: r, Column: c)).ToArray();
            var cells = rowTaps.Length * columnTaps.Length;
            var positions = new int[count * cells];
            var segments = new int[classes.Length + 1];
            var k = 0;
            for (var s = 0; s < classes.Length; s++)
            {
                segments[s] = k;
                for (var n = 0; n < count; n++)
                {
                    for (var r = 0; r < rowTaps.Length; r++)
                    {
                        if (rowTaps[r] != classes[s].Row)
                        {
                            continue;
                        }
                        for (var c = 0; c < columnTaps.Length; c++)
                        {
                            if (columnTaps[c] == classes[s].Column)
                            {
                                positions[k++] = (n * cells) + (r * columnTaps.Length) + c;
                            }
                        }
                    }
                }
            }
            segments[classes.Length] = k;
            return new BorderOrder(positions, segments, classes.Select(c => c.Row).ToArray(), classes.Select(c => c.Column).ToArray(), rowTaps, columnTaps);
        }
    }

    /// <summary>Floats of a buffer that holds the whole batch's padded channels-last input, as
    /// <see cref="Forward(float[], float[], float[], ConvGeometry, float[])"/> can leave it for
    /// <see cref="BackwardWeight(float[], float[], float[], ConvGeometry, float[], int)"/>.</summary>
    public static int InputCopyLength(in ConvGeometry g)
    {
        var (hp, wp) = PaddedInput(g);
        return (g.N * hp * wp * g.C) + Math.Max(Mr, Nr) + AlignSlack;
    }

    /// <summary>y = conv(x, w).</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeometry g) => Forward(x, w, y, g, null);

    /// <summary>
    /// y = conv(x, w). With keep (<see cref="InputCopyLength"/> floats), the image groups are converted
    /// into it rather than into scratch, so the whole batch's padded channels-last input is left there for
    /// the weight gradient, which then skips its own conversion; the copy starts at the returned offset
    /// (aligned as the weight gradient wants it: the offset is kept rather than recomputed, since the
    /// buffer may move in between).
    /// </summary>
    public static int Forward(float[] x, float[] w, float[] y, ConvGeometry g, float[]? keep)
    {
        var (hp, wp) = PaddedInput(g);
        var keepOffset = 0;
        if (keep is not null)
        {
            if (keep.Length < InputCopyLength(g))
            {
                throw new ArgumentException($"channels-last input copy needs {InputCopyLength(g)} floats, got {keep.Length}", nameof(keep));
            }
            fixed (float* pk = keep)
            {
                keepOffset = PrefersRunRows(g) ? 0 : (int)(Align(pk) - pk);
            }
        }
        var img = hp * wp * g.C;
        var run = g.KW * g.C;
        var oPad = Pad(g.O, Nr);
        var wk = BufferPool.Rent<float>((g.KH * run * oPad) + AlignSlack);
        // wk: per kh, per panel of 32 output channels, (run, 32) as halves of PanelWidth: element (kw*C + c, o).
        var width = PanelWidth;
        CpuParallel.For(oPad, 16, (o0, o1) =>
        {
            fixed (float* pw = w, pk0 = wk)
            {
                var pk = Align(pk0);
                for (var o = o0; o < o1; o++)
                {
                    for (var kh = 0; kh < g.KH; kh++)
                    {
                        var dst = pk + ((long)kh * run * oPad) + ((long)(o / Nr) * run * Nr) + PanelIndex(0, o % Nr, run, width);
                        for (var kw = 0; kw < g.KW; kw++)
                        {
                            var src = pw + ((long)o * g.Ckk) + (kh * g.KW) + kw;
                            for (var c = 0; c < g.C; c++, dst += width)
                            {
                                *dst = o < g.O ? src[(long)c * g.KH * g.KW] : 0f;
                            }
                        }
                    }
                }
            }
        });
        var (groups, range) = ConvPacked.Balanced(g);
        CpuParallel.ForEach(groups, gi =>
        {
            var (n0, cnt) = range(gi);
            var positions = cnt * g.Ohw;
            var tiles = (positions + Mr - 1) / Mr;
            var order = BorderOrder.For(g, 0, cnt, OutputGrid);
            var xp = keep is null ? BufferPool.Rent<float>((cnt * img) + Nr) : null;
            var scratch = BufferPool.Rent<float>(g.C * g.Hw);
            var yn = BufferPool.Rent<float>((positions * oPad) + AlignSlack);
            var rows = stackalloc float*[Mr];
            var targets = stackalloc long[Mr];
            var tileBuf = stackalloc float[(Mr * Nr) + AlignSlack];
            var tile = Align(tileBuf);
            fixed (float* px = x, pxp0 = keep ?? xp, ps = scratch, pk0 = wk, pyn0 = yn, py = y)
            {
                var pxp = keep is null ? pxp0 : pxp0 + keepOffset + ((long)n0 * img);
                var pk = Align(pk0);
                var pyn = Align(pyn0);
                ToPaddedNhwc(px + ((long)n0 * g.C * g.Hw), cnt, g.C, g.H, g.W, g.PH, g.PW, hp, wp, g.C, pxp, ps);
                for (var t = 0; t < tiles; t++)
                {
                    // The tile's taps: the union of its positions' valid ones (the others read zero padding).
                    var khs = default(Taps);
                    var kws = default(Taps);
                    for (var i = 0; i < Mr; i++)
                    {
                        var k = (t * Mr) + i;
                        if (k >= positions)
                        {
                            rows[i] = rows[0]; // rows past the end read a valid row; their results are dropped
                            targets[i] = -1;
                            continue;
                        }
                        var p = order.Positions[k];
                        var n = p / g.Ohw;
                        var q = p - (n * g.Ohw);
                        var oh = q / g.OW;
                        var ow = q - (oh * g.OW);
                        rows[i] = pxp + ((long)n * img) + ((((long)oh * g.SH * wp) + ((long)ow * g.SW)) * g.C);
                        targets[i] = (long)p * oPad;
                        Taps.Widen(ref khs, ref kws, order.RowTaps[oh], order.ColumnTaps[ow]);
                    }
                    (khs, kws) = KeepPaddingTaps ? (new Taps(0, g.KH), new Taps(0, g.KW)) : (khs, kws);
                    var k0 = kws.Lo * g.C;
                    var k1 = kws.Hi * g.C;
                    for (var panel = 0; panel < oPad; panel += Nr)
                    {
                        var summed = SumTile(rows, khs, (nint)wp * g.C, k0, k1, pk + ((long)panel * run), run, (long)run * oPad, tile);
                        StoreTile(tile, !summed, targets, pyn + panel);
                    }
                }
                FromNhwc(pyn, cnt, g.O, g.Ohw, oPad, py + ((long)n0 * g.O * g.Ohw));
            }
            BufferPool.Return(yn);
            BufferPool.Return(scratch);
            if (xp is not null)
            {
                BufferPool.Return(xp);
            }
        });
        BufferPool.Return(wk);
        return keepOffset;
    }

    /// <summary>The output positions' valid taps: output row oh reads input rows oh * SH - PH + kh.</summary>
    private static (Taps[] Rows, Taps[] Columns, int RowTaps, int ColumnTaps) OutputGrid(ConvGeometry g, int kind)
    {
        var rows = new Taps[g.OH];
        var columns = new Taps[g.OW];
        for (var oh = 0; oh < g.OH; oh++)
        {
            rows[oh] = Taps.Inside((oh * g.SH) - g.PH, g.KH, g.H);
        }
        for (var ow = 0; ow < g.OW; ow++)
        {
            columns[ow] = Taps.Inside((ow * g.SW) - g.PW, g.KW, g.W);
        }
        return (rows, columns, g.KH, g.KW);
    }

    /// <summary>
    /// tile (12 x 32) = sum over kernel rows r in taps of the runs rows[i] + r * rowStep + [k0, k1) times the
    /// packed weight panel at weights + r * weightStep (len rows of 32, as halves of <see cref="PanelWidth"/>),
    /// in k-blocks. Returns false when taps is empty and nothing was written.
    /// </summary>
    private static bool SumTile(float** rows, Taps taps, nint rowStep, int k0, int k1, float* weights, int len, long weightStep, float* tile)
    {
        var summed = false;
        var wide = Wide;
        for (var r = taps.Lo; r < taps.Hi; r++)
        {
            var b = weights + (r * weightStep);
            for (var kb = k0; kb < k1; kb += KBlock)
            {
                if (wide)
                {
                    IndirectMicroKernels.RowsA512(Math.Min(KBlock, k1 - kb), rows, (r * rowStep) + kb, b + ((long)kb * Nr), tile, Nr, summed);
                }
                else
                {
                    IndirectMicroKernels.RowsA256(Math.Min(KBlock, k1 - kb), rows, (r * rowStep) + kb, b + ((long)kb * Half), b + ((long)(len + kb) * Half), tile, Nr, summed);
                }
                summed = true;
            }
        }
        return summed;
    }

    /// <summary>Stores the tile's rows (zeros when nothing was summed into it) at to + targets[i], skipping targets of -1.</summary>
    private static void StoreTile(float* tile, bool empty, long* targets, float* to)
    {
        for (var i = 0; i < Mr; i++)
        {
            if (targets[i] >= 0)
            {
                var d = to + targets[i];
                if (Vector512.IsHardwareAccelerated)
                {
                    Vector512.Store(empty ? Vector512<float>.Zero : Vector512.Load(tile + (i * Nr)), d);
                    Vector512.Store(empty ? Vector512<float>.Zero : Vector512.Load(tile + (i * Nr) + 16), d + 16);
                }
                else
                {
                    for (var j = 0; j < Nr; j += 8)
                    {
                        Vector256.Store(empty ? Vector256<float>.Zero : Vector256.Load(tile + (i * Nr) + j), d + j);
                    }
                }
            }
        }
    }

    /// <summary>One phase of the input gradient: positions ih = ih0 + SH*i (nh of them), iw likewise, each
    /// receiving the taps kh = rh + SH*a (ah of them) and kw = rw + SW*b (bw of them).</summary>
    private readonly record struct Phase(int Rh, int Rw, int Ih0, int Iw0, int Nh, int Nw, int Ah, int Bw, long WeightOffset);

    /// <summary>The input-gradient phase kind - 1's valid taps: tap a of input row ih reads output-gradient row
    /// (ih + PH - rh) / SH - (ah - 1) + a, tap b likewise.</summary>
    private static (Taps[] Rows, Taps[] Columns, int RowTaps, int ColumnTaps) PhaseGrid(ConvGeometry g, int kind)
    {
        var ph = Phases(g, Pad(g.C, Nr))[kind - 1];
        var rows = new Taps[ph.Nh];
        var columns = new Taps[ph.Nw];
        for (var yi = 0; yi < ph.Nh; yi++)
        {
            var qh = (ph.Ih0 + (yi * g.SH) + g.PH - ph.Rh) / g.SH;
            rows[yi] = Taps.Inside(qh - (ph.Ah - 1), ph.Ah, g.OH);
        }
        for (var xi = 0; xi < ph.Nw; xi++)
        {
            var qw = (ph.Iw0 + (xi * g.SW) + g.PW - ph.Rw) / g.SW;
            columns[xi] = Taps.Inside(qw - (ph.Bw - 1), ph.Bw, g.OW);
        }
        return (rows, columns, ph.Ah, ph.Bw);
    }

    /// <summary>The phases of the input gradient that hold positions, and the packed weights' size.</summary>
    private static Phase[] Phases(in ConvGeometry g, int cPad) => PhasesAndSize(g, cPad).Phases;

    private static (Phase[] Phases, long WeightSize) PhasesAndSize(in ConvGeometry g, int cPad)
    {
        var phaseList = new List<Phase>();
        long weightSize = 0;
        for (var rh = 0; rh < g.SH; rh++)
        {
            for (var rw = 0; rw < g.SW; rw++)
            {
                var ih0 = (((rh - g.PH) % g.SH) + g.SH) % g.SH;
                var iw0 = (((rw - g.PW) % g.SW) + g.SW) % g.SW;
                var nh = ih0 < g.H ? (g.H - ih0 + g.SH - 1) / g.SH : 0;
                var nw = iw0 < g.W ? (g.W - iw0 + g.SW - 1) / g.SW : 0;
                var ah = rh < g.KH ? (g.KH - rh + g.SH - 1) / g.SH : 0;
                var bw = rw < g.KW ? (g.KW - rw + g.SW - 1) / g.SW : 0;
                if (nh > 0 && nw > 0)
                {
                    phaseList.Add(new Phase(rh, rw, ih0, iw0, nh, nw, ah, bw, weightSize));
                    weightSize += (long)ah * bw * g.O * cPad;
                }
            }
        }
        return (phaseList.ToArray(), weightSize);
    }

    /// <summary>gx = conv^T(gy, w) (also the forward pass of a transposed convolution).</summary>
    public static void BackwardData(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        // Tap counts per phase are at most ceil(K/S); the padded output gradient leaves room for them.
        var top = ((g.KH + g.SH - 1) / g.SH) - 1;
        var left = ((g.KW + g.SW - 1) / g.SW) - 1;
        var hg = top + Math.Max(g.OH, ((g.H - 1 + g.PH) / g.SH) + 1);
        var wg = left + Math.Max(g.OW, ((g.W - 1 + g.PW) / g.SW) + 1);
        var img = hg * wg * g.O;
        var cPad = Pad(g.C, Nr);

        var (phases, weightSize) = PhasesAndSize(g, cPad);

        // Per phase, per a (kh = rh + SH*(ah-1-a)), per panel of 32 input channels: (bw*O, 32) as halves of
        // PanelWidth, element (b*O + o, c) with kw = rw + SW*(bw-1-b): a run holds output columns in
        // increasing order, which is decreasing kw.
        var wk = BufferPool.Rent<float>((int)weightSize + AlignSlack);
        var width = PanelWidth;
        CpuParallel.For(g.O, 8, (o0, o1) =>
        {
            fixed (float* pw = w, pk0 = wk)
            {
                var pk = Align(pk0);
                foreach (var ph in phases)
                {
                    var seg = ph.Bw * g.O;
                    for (var a = 0; a < ph.Ah; a++)
                    {
                        var kh = ph.Rh + (g.SH * (ph.Ah - 1 - a));
                        var block = pk + ph.WeightOffset + ((long)a * seg * cPad);
                        for (var b = 0; b < ph.Bw; b++)
                        {
                            var kw = ph.Rw + (g.SW * (ph.Bw - 1 - b));
                            for (var o = o0; o < o1; o++)
                            {
                                var j = (b * g.O) + o;
                                var src = pw + ((long)o * g.Ckk) + (kh * g.KW) + kw;
                                for (var panel = 0; panel < cPad; panel += Nr)
                                {
                                    var dst = block + ((long)panel * seg);
                                    var cn = Math.Min(Nr, g.C - panel);
                                    for (var c = 0; c < Nr; c++)
                                    {
                                        dst[PanelIndex(j, c, seg, width)] = c < cn ? src[(long)(panel + c) * g.KH * g.KW] : 0f;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });

        var (groups, range) = ConvPacked.Balanced(g);
        CpuParallel.ForEach(groups, gi =>
        {
            var (n0, cnt) = range(gi);
            var gyp = BufferPool.Rent<float>((cnt * img) + Nr);
            var scratch = BufferPool.Rent<float>(g.O * g.Ohw);
            var gxn = BufferPool.Rent<float>(cnt * g.Hw * cPad);
            var rows = stackalloc float*[Mr];
            var targets = stackalloc long[Mr];
            var tileBuf = stackalloc float[(Mr * Nr) + AlignSlack];
            var tile = Align(tileBuf);
            fixed (float* pgy = gy, pg = gyp, ps = scratch, pk0 = wk, pout = gxn, pgx = gx)
            {
                var pk = Align(pk0);
                ToPaddedNhwc(pgy + ((long)n0 * g.O * g.Ohw), cnt, g.O, g.OH, g.OW, top, left, hg, wg, g.O, pg, ps);
                for (var pi = 0; pi < phases.Length; pi++)
                {
                    var ph = phases[pi];
                    var perImage = ph.Nh * ph.Nw;
                    var positions = cnt * perImage;
                    var seg = ph.Bw * g.O;
                    var order = BorderOrder.For(g, 1 + pi, cnt, PhaseGrid);
                    for (var p0 = 0; p0 < positions; p0 += Mr)
                    {
                        // As in the forward pass: the union of the positions' valid taps, which skips the
                        // output-gradient rows and columns outside the image.
                        var ahs = default(Taps);
                        var bws = default(Taps);
                        for (var i = 0; i < Mr; i++)
                        {
                            if (p0 + i >= positions)
                            {
                                rows[i] = rows[0];
                                targets[i] = -1;
                                continue;
                            }
                            var p = order.Positions[p0 + i];
                            var n = p / perImage;
                            var r = p - (n * perImage);
                            var yi = r / ph.Nw;
                            var xi = r - (yi * ph.Nw);
                            var ih = ph.Ih0 + (yi * g.SH);
                            var iw = ph.Iw0 + (xi * g.SW);
                            var qh = (ih + g.PH - ph.Rh) / g.SH;
                            var qw = (iw + g.PW - ph.Rw) / g.SW;
                            var row = qh - (ph.Ah - 1) + top;
                            var col = qw - (ph.Bw - 1) + left;
                            rows[i] = pg + ((long)n * img) + ((((long)row * wg) + col) * g.O);
                            targets[i] = (((long)n * g.Hw) + ((long)ih * g.W) + iw) * cPad;
                            Taps.Widen(ref ahs, ref bws, order.RowTaps[yi], order.ColumnTaps[xi]);
                        }
                        (ahs, bws) = KeepPaddingTaps ? (new Taps(0, ph.Ah), new Taps(0, ph.Bw)) : (ahs, bws);
                        var k0 = bws.Lo * g.O;
                        var k1 = bws.Hi * g.O;
                        for (var panel = 0; panel < cPad; panel += Nr)
                        {
                            var summed = SumTile(rows, ahs, (nint)wg * g.O, k0, k1, pk + ph.WeightOffset + ((long)panel * seg), seg, (long)seg * cPad, tile);
                            StoreTile(tile, !summed, targets, pout + panel);
                        }
                    }
                }
                FromNhwc(pout, cnt, g.C, g.Hw, cPad, pgx + ((long)n0 * g.C * g.Hw));
            }
            BufferPool.Return(gxn);
            BufferPool.Return(scratch);
            BufferPool.Return(gyp);
        });
        BufferPool.Return(wk);
    }

    /// <summary>
    /// What the weight gradient of one geometry needs besides its operands: the batch's positions in
    /// <see cref="BorderOrder"/> order, where each one's kernel-row-0 run starts in the padded input, and for
    /// each (kernel row, block of run elements) the ranges of that order whose runs are not all padding.
    /// </summary>
    private sealed class WeightPlan
    {
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, WeightPlan> Cache = new();

        private WeightPlan(BorderOrder order, int[] slot, long[] runStart, int[] rangeStart, int[] ranges)
        {
            Order = order;
            Slot = slot;
            RunStart = runStart;
            RangeStart = rangeStart;
            Ranges = ranges;
        }

        public BorderOrder Order { get; }

        /// <summary>Slot[p] = where position p (image, oh, ow in natural order) sits in the order.</summary>
        public int[] Slot { get; }

        /// <summary>Offset of the k-th ordered position's kernel-row-0 run in the padded channels-last input.</summary>
        public long[] RunStart { get; }

        /// <summary>Unit (kh, run block) u has the ranges Ranges[2i], Ranges[2i + 1] (start, end) for i in [RangeStart[u], RangeStart[u + 1]).</summary>
        public int[] RangeStart { get; }

        public int[] Ranges { get; }

        public static void ClearCache() => Cache.Clear();

        public static WeightPlan For(in ConvGeometry g)
        {
            if (Cache.TryGetValue(g, out var found))
            {
                return found;
            }
            var made = Build(g);
            PlanBudget.Admit(made.Slot.Length * 3L);
            Cache[g] = made;
            return made;
        }

        private static WeightPlan Build(ConvGeometry g)
        {
            var order = BorderOrder.For(g, 0, g.N, OutputGrid);
            var (hp, wp) = PaddedInput(g);
            var img = (long)hp * wp * g.C;
            var positions = order.Positions.Length;
            var slot = new int[positions];
            var runStart = new long[positions];
            for (var k = 0; k < positions; k++)
            {
                var p = order.Positions[k];
                slot[p] = k;
                var n = p / g.Ohw;
                var q = p - (n * g.Ohw);
                var oh = q / g.OW;
                var ow = q - (oh * g.OW);
                runStart[k] = (n * img) + ((((long)oh * g.SH * wp) + ((long)ow * g.SW)) * g.C);
            }
            var width = PrefersRunRows(g) ? Mr : Nr;
            var run = g.KW * g.C;
            var runBlocks = Pad(run, width) / width;
            var rangeStart = new List<int>();
            var ranges = new List<int>();
            for (var kh = 0; kh < g.KH; kh++)
            {
                for (var rb = 0; rb < runBlocks; rb++)
                {
                    // The block's elements j = kw * C + c cover kernel columns kwA..kwB.
                    var kwA = rb * width / g.C;
                    var kwB = Math.Min(run - 1, ((rb + 1) * width) - 1) / g.C;
                    rangeStart.Add(ranges.Count / 2);
                    var segments = order.Segments;
                    for (var sgi = 0; sgi + 1 < segments.Length; sgi++)
                    {
                        var rt = order.SegmentRows[sgi];
                        var ct = order.SegmentColumns[sgi];
                        var useful = kh >= rt.Lo && kh < rt.Hi && ct.Lo <= kwB && ct.Hi > kwA && segments[sgi + 1] > segments[sgi];
                        if (!useful)
                        {
                            continue;
                        }
                        if (ranges.Count > 0 && ranges.Count / 2 > rangeStart[^1] && ranges[^1] == segments[sgi])
                        {
                            ranges[^1] = segments[sgi + 1];
                        }
                        else
                        {
                            ranges.Add(segments[sgi]);
                            ranges.Add(segments[sgi + 1]);
                        }
                    }
                }
            }
            rangeStart.Add(ranges.Count / 2);
            return new WeightPlan(order, slot, runStart, rangeStart.ToArray(), ranges.ToArray());
        }
    }

    /// <summary>
    /// gw = sum over positions of gy(p, o) * im2col(x)(p, :), from the channels-last input runs. Two
    /// orientations: output channels as the tile's rows and run columns as its vector lanes, or the
    /// transpose; the one that pads less to the 12 x 32 tile is taken (runs of 40 floats, as in a 5x5
    /// layer on 8 channels, would waste 60% as vector lanes and 20% as rows). The positions are summed in
    /// <see cref="BorderOrder"/> order, so each (kernel row, run block) skips the positions whose runs there
    /// lie wholly in the padding.
    /// </summary>
    public static void BackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g) => BackwardWeight(x, gy, gw, g, null, 0);

    /// <summary>The weight gradient, with the padded channels-last input already in prepared from offset on
    /// (as <see cref="Forward(float[], float[], float[], ConvGeometry, float[])"/> left it) when given.</summary>
    public static void BackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g, float[]? prepared, int preparedOffset)
    {
        // Run rows: acc(kh, kw*C + c, o); the output gradient in (position, O) order is B and the runs,
        // read through the pointer table, are A. Output rows: acc(kh, o, kw*C + c); the output gradient
        // is A and the runs are B. Either way each work unit sums all positions in order. Output rows on
        // AVX2 pack both operands for the GEMM's own 6x16 kernel: the output gradient once, in blocks of six
        // channels, and each unit's 32 run elements per block of positions, as two 16-wide halves. Read in
        // place, the positions' runs and output-gradient rows are each a new cache line per k, and so many
        // lines and pages per k-block that the 6x16 sub-tiles ran a third slower than the forward pass's.
        // Run rows keep reading in place: there each k's twelve run elements are one contiguous stretch and
        // the output gradient's rows are whole lines, and packing both cost more than it saved (8% slower
        // on cnn28's 5x5 layer).
        var runRows = PrefersRunRows(g);
        var wide = Wide;
        var packed = !runRows && !wide;
        var plan = WeightPlan.For(g);
        var (hp, wp) = PaddedInput(g);
        var img = hp * wp * g.C;
        var run = g.KW * g.C;
        var runPad = Pad(run, runRows ? Mr : Nr);
        var oPad = Pad(g.O, runRows ? Nr : Mr);
        var positions = g.N * g.Ohw;
        // acc element (kh, o, j) with j = kw*C + c sits at kh*khStride + o*oStride + j*jStride.
        var khStride = (long)runPad * oPad;
        var oStride = runRows ? 1 : runPad;
        var jStride = runRows ? oPad : 1;
        if (prepared is not null && (prepared.Length < InputCopyLength(g) || preparedOffset < 0 || preparedOffset > AlignSlack))
        {
            throw new ArgumentException($"channels-last input copy of {prepared.Length} floats at offset {preparedOffset} does not fit this geometry", nameof(prepared));
        }
        var xp = prepared ?? BufferPool.Rent<float>(InputCopyLength(g));
        var gyn = BufferPool.Rent<float>((positions * oPad) + Mr + AlignSlack);
        var acc = BufferPool.Rent<float>((int)(g.KH * khStride) + AlignSlack);
        // The operand read in place with vector loads is the one aligned: gy for run rows, the input runs
        // otherwise (output rows on AVX2 read packed copies of both).
        if (prepared is null)
        {
            ToPaddedNhwc(x, g.N, g.C, g.H, g.W, g.PH, g.PW, hp, wp, g.C, xp, aligned: !runRows);
        }
        if (packed)
        {
            ToOrderedBlocks(gy, g.N, g.O, g.Ohw, oPad, plan.Slot, gyn);
        }
        else
        {
            ToOrderedRows(gy, g.N, g.O, g.Ohw, oPad, plan.Slot, gyn, aligned: runRows);
        }
        // Work units: (kh, tile of 12 run elements, panel of 32 outputs) for run rows; (kh, panel of 32
        // run elements, tile of 12 outputs) otherwise, the outputs innermost so a thread's consecutive
        // units share the same input runs.
        var runBlocks = runPad / (runRows ? Mr : Nr);
        var outBlocks = oPad / (runRows ? Nr : Mr);
        var units = g.KH * runBlocks * outBlocks;
        // With the padding taps kept (a benchmark switch), every unit sums all positions as one range.
        int[]? everything = !KeepPaddingTaps ? null : positions > 0 ? [0, positions] : [];
        CpuParallel.For(units, 1, (u0, u1) =>
        {
            var rowPtrs = stackalloc float*[KBlock];
            var runCopy = packed ? BufferPool.Rent<float>((2 * KBlock * Half) + AlignSlack) : null;
            fixed (float* px0 = xp, pg0 = gyn, pa0 = acc, pr0 = runCopy)
            {
                // The packed halves of the current unit's runs: columns 0-15 at half0, 16-31 at half1.
                var half0 = packed ? Align(pr0) : null;
                var half1 = half0 + (KBlock * Half);
                var px = prepared is not null ? px0 + preparedOffset : runRows ? px0 : Align(px0);
                var pg = runRows ? Align(pg0) : pg0;
                var pa = Align(pa0);
                for (var pb = 0; pb < Math.Max(positions, 1); pb += KBlock)
                {
                    var kc = Math.Min(KBlock, positions - pb);
                    var packedRest = -1;
                    for (var j = 0; j < kc; j++)
                    {
                        rowPtrs[j] = px + plan.RunStart[pb + j];
                    }
                    for (var u = u0; u < u1; u++)
                    {
                        var ob = u % outBlocks;
                        var rest = u / outBlocks;
                        var rb = rest % runBlocks;
                        var kh = rest / runBlocks;
                        var runOff = ((nint)kh * wp * g.C) + (rb * (runRows ? Mr : Nr));
                        var c = runRows
                            ? pa + (kh * khStride) + ((long)rb * Mr * jStride) + (ob * Nr)
                            : pa + (kh * khStride) + ((long)ob * Mr * oStride) + (rb * Nr);
                        var ldc = runRows ? oPad : runPad;
                        var (ranges, r0, r1) = everything is not null ? (everything, 0, everything.Length / 2) : (plan.Ranges, plan.RangeStart[rest], plan.RangeStart[rest + 1]);
                        if (r0 == r1)
                        {
                            // Every run of this block is padding: its gradient is zero.
                            for (var i = 0; pb == 0 && i < Mr; i++)
                            {
                                new Span<float>(c + ((long)i * ldc), Nr).Clear();
                            }
                            continue;
                        }
                        var firstStart = ranges[2 * r0];
                        // The tile's rows past the last run element or output channel are padding; on AVX2 a
                        // lower 6-row half made only of them is left out, on AVX-512 (run rows) the tile's lower
                        // four or eight rows (the accumulator rows stay unread).
                        var m = Math.Min(Mr, runRows ? run - (rb * Mr) : g.O - (ob * Mr));
                        if (packed && rest != packedRest)
                        {
                            PackRunHalves(rowPtrs, kc, runOff, half0, half1);
                            packedRest = rest;
                        }
                        for (var r = r0; r < r1; r++)
                        {
                            var a = Math.Max(ranges[2 * r], pb);
                            var e = Math.Min(ranges[(2 * r) + 1], pb + kc);
                            if (a >= e)
                            {
                                continue;
                            }
                            if (runRows)
                            {
                                if (wide)
                                {
                                    var bk = pg + ((long)a * oPad) + (ob * Nr);
                                    if (m <= 4)
                                    {
                                        IndirectMicroKernels.RowsK512Rows4(e - a, rowPtrs + (a - pb), runOff, bk, oPad, c, ldc, a > firstStart);
                                    }
                                    else if (m <= 8)
                                    {
                                        IndirectMicroKernels.RowsK512Rows8(e - a, rowPtrs + (a - pb), runOff, bk, oPad, c, ldc, a > firstStart);
                                    }
                                    else
                                    {
                                        IndirectMicroKernels.RowsK512(e - a, rowPtrs + (a - pb), runOff, bk, oPad, c, ldc, a > firstStart);
                                    }
                                }
                                else
                                {
                                    IndirectMicroKernels.RowsK256(e - a, rowPtrs + (a - pb), runOff, pg + ((long)a * oPad) + (ob * Nr), oPad, c, ldc, a > firstStart, m);
                                }
                            }
                            else
                            {
                                if (wide)
                                {
                                    IndirectMicroKernels.RowsB512(e - a, pg + ((long)a * oPad) + (ob * Mr), oPad, rowPtrs + (a - pb), runOff, c, ldc, a > firstStart);
                                }
                                else
                                {
                                    // The tile's two blocks of six channels, each (positions, 6), against the halves;
                                    // both sub-tiles of one half run together while it is in L1.
                                    var a0 = pg + ((((long)ob * 2 * positions) + a) * SubRows);
                                    var a1 = a0 + ((long)positions * SubRows);
                                    var b0 = half0 + ((a - pb) * Half);
                                    var b1 = half1 + ((a - pb) * Half);
                                    var more = a > firstStart;
                                    GemmMicroKernels.Kernel256(e - a, a0, b0, c, ldc, 1f, more);
                                    if (m > SubRows)
                                    {
                                        GemmMicroKernels.Kernel256(e - a, a1, b0, c + (SubRows * ldc), ldc, 1f, more);
                                    }
                                    GemmMicroKernels.Kernel256(e - a, a0, b1, c + Half, ldc, 1f, more);
                                    if (m > SubRows)
                                    {
                                        GemmMicroKernels.Kernel256(e - a, a1, b1, c + (SubRows * ldc) + Half, ldc, 1f, more);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if (runCopy is not null)
            {
                BufferPool.Return(runCopy);
            }
        });
        // acc -> gw (O, C, KH, KW)
        CpuParallel.For(g.O, 8, (o0, o1) =>
        {
            fixed (float* pa0 = acc, pw = gw)
            {
                var pa = Align(pa0);
                for (var o = o0; o < o1; o++)
                {
                    for (var c = 0; c < g.C; c++)
                    {
                        var dst = pw + ((long)((o * g.C) + c) * g.KH * g.KW);
                        for (var kh = 0; kh < g.KH; kh++)
                        {
                            var src = pa + (kh * khStride) + ((long)o * oStride) + ((long)c * jStride);
                            for (var kw = 0; kw < g.KW; kw++)
                            {
                                dst[(kh * g.KW) + kw] = src[(long)kw * g.C * jStride];
                            }
                        }
                    }
                }
            }
        });
        BufferPool.Return(acc);
        BufferPool.Return(gyn);
        if (prepared is null)
        {
            BufferPool.Return(xp);
        }
    }
}
