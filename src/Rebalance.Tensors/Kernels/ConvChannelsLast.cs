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
/// <para>Forward and input gradient run image groups end to end on one thread (to channels-last, GEMM,
/// back to channels-first), so a group's copies stay in that core's cache; the weight gradient sums over
/// all images and converts them once up front.</para>
/// </remarks>
internal static unsafe class ConvChannelsLast
{
    private const int Mr = IndirectMicroKernels.Mr;
    private const int Nr = IndirectMicroKernels.Nr;
    private const int KBlock = 256;

    /// <summary>Tests switch this path off to compare the others with it.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>AVX-512 in use, no dilation, and runs and channel counts long enough to fill the tiles.</summary>
    public static bool Applies(in ConvGeometry g) =>
        !Disabled && Gemm.Tile == (GemmMicroKernels.Mr512, GemmMicroKernels.Nr512) && g.DH == 1 && g.DW == 1 && g.KW * g.C >= 64 && g.O >= 16 && g.C >= 16;

    /// <summary>
    /// The weight gradient's kernel also serves stride-1 layers (where it beats the direct kernel) and
    /// layers with few channels, as long as padding to the tile wastes at most half the work.
    /// </summary>
    public static bool AppliesToWeightGradient(in ConvGeometry g) =>
        !Disabled && Gemm.Tile == (GemmMicroKernels.Mr512, GemmMicroKernels.Nr512) && g.DH == 1 && g.DW == 1 && WeightPadding(g).Least <= 1.5;

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
    /// rows[j] = the start of output position pb + j's kernel-row-0 run in the padded channels-last input,
    /// for j &lt; count; positions are (image, oh, ow) in order, stepped without division.
    /// </summary>
    private static void RunTable(float* xp, int img, int wp, in ConvGeometry g, int pb, int count, float** rows)
    {
        var n = pb / g.Ohw;
        var q = pb - (n * g.Ohw);
        var oh = q / g.OW;
        var ow = q - (oh * g.OW);
        var rowStep = (long)g.SH * wp * g.C;
        var colStep = (long)g.SW * g.C;
        var line = xp + ((long)n * img) + (oh * rowStep);
        for (var j = 0; j < count; j++)
        {
            rows[j] = line + (ow * colStep);
            if (++ow == g.OW)
            {
                ow = 0;
                line += rowStep;
                if (++oh == g.OH)
                {
                    oh = 0;
                    n++;
                    line = xp + ((long)n * img);
                }
            }
        }
    }

    /// <summary>y = conv(x, w).</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeometry g)
    {
        var (hp, wp) = PaddedInput(g);
        var img = hp * wp * g.C;
        var run = g.KW * g.C;
        var oPad = Pad(g.O, Nr);
        var wk = BufferPool.Rent<float>((g.KH * run * oPad) + AlignSlack);
        // wk: per kh, per panel of 32 output channels, (run, 32): element (kw*C + c, o).
        CpuParallel.For(oPad, 16, (o0, o1) =>
        {
            fixed (float* pw = w, pk0 = wk)
            {
                var pk = Align(pk0);
                for (var o = o0; o < o1; o++)
                {
                    for (var kh = 0; kh < g.KH; kh++)
                    {
                        var dst = pk + ((long)kh * run * oPad) + ((o / Nr) * run * Nr) + (o % Nr);
                        for (var kw = 0; kw < g.KW; kw++)
                        {
                            var src = pw + ((long)o * g.Ckk) + (kh * g.KW) + kw;
                            for (var c = 0; c < g.C; c++, dst += Nr)
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
            var xp = BufferPool.Rent<float>((cnt * img) + Nr);
            var scratch = BufferPool.Rent<float>(g.C * g.Hw);
            var yn = BufferPool.Rent<float>((tiles * Mr * oPad) + AlignSlack);
            var rows = stackalloc float*[Mr];
            fixed (float* px = x, pxp = xp, ps = scratch, pk0 = wk, pyn0 = yn, py = y)
            {
                var pk = Align(pk0);
                var pyn = Align(pyn0);
                ToPaddedNhwc(px + ((long)n0 * g.C * g.Hw), cnt, g.C, g.H, g.W, g.PH, g.PW, hp, wp, g.C, pxp, ps);
                for (var t = 0; t < tiles; t++)
                {
                    for (var i = 0; i < Mr; i++)
                    {
                        var p = (t * Mr) + i;
                        p = p < positions ? p : 0; // rows past the end read a valid row; their results are dropped
                        var n = p / g.Ohw;
                        var q = p - (n * g.Ohw);
                        var oh = q / g.OW;
                        var ow = q - (oh * g.OW);
                        rows[i] = pxp + ((long)n * img) + ((((long)oh * g.SH * wp) + ((long)ow * g.SW)) * g.C);
                    }
                    for (var panel = 0; panel < oPad; panel += Nr)
                    {
                        var c = pyn + ((long)t * Mr * oPad) + panel;
                        var first = true;
                        for (var kh = 0; kh < g.KH; kh++)
                        {
                            var b = pk + ((long)kh * run * oPad) + ((long)panel * run);
                            for (var kb = 0; kb < run; kb += KBlock)
                            {
                                var kc = Math.Min(KBlock, run - kb);
                                IndirectMicroKernels.RowsA512(kc, rows, ((nint)kh * wp * g.C) + kb, b + ((long)kb * Nr), c, oPad, !first);
                                first = false;
                            }
                        }
                    }
                }
                FromNhwc(pyn, cnt, g.O, g.Ohw, oPad, py + ((long)n0 * g.O * g.Ohw));
            }
            BufferPool.Return(yn);
            BufferPool.Return(scratch);
            BufferPool.Return(xp);
        });
        BufferPool.Return(wk);
    }

    /// <summary>One phase of the input gradient: positions ih = ih0 + SH*i (nh of them), iw likewise, each
    /// receiving the taps kh = rh + SH*a (ah of them) and kw = rw + SW*b (bw of them).</summary>
    private readonly record struct Phase(int Rh, int Rw, int Ih0, int Iw0, int Nh, int Nw, int Ah, int Bw, long WeightOffset);

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
        var phases = phaseList.ToArray();

        // Per phase, per a (kh = rh + SH*(ah-1-a)), per panel of 32 input channels: (bw*O, 32), element
        // (b*O + o, c) with kw = rw + SW*(bw-1-b): a run holds output columns in increasing order, which is
        // decreasing kw.
        var wk = BufferPool.Rent<float>((int)weightSize + AlignSlack);
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
                                    var dst = block + ((long)panel * seg) + (j * Nr);
                                    var cn = Math.Min(Nr, g.C - panel);
                                    for (var c = 0; c < cn; c++)
                                    {
                                        dst[c] = src[(long)(panel + c) * g.KH * g.KW];
                                    }
                                    for (var c = cn; c < Nr; c++)
                                    {
                                        dst[c] = 0f;
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
                foreach (var ph in phases)
                {
                    var perImage = ph.Nh * ph.Nw;
                    var positions = cnt * perImage;
                    var seg = ph.Bw * g.O;
                    for (var p0 = 0; p0 < positions; p0 += Mr)
                    {
                        for (var i = 0; i < Mr; i++)
                        {
                            var p = p0 + i;
                            var valid = p < positions;
                            p = valid ? p : 0;
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
                            targets[i] = valid ? (((long)n * g.Hw) + ((long)ih * g.W) + iw) * cPad : -1;
                        }
                        for (var panel = 0; panel < cPad; panel += Nr)
                        {
                            if (ph.Ah == 0 || ph.Bw == 0)
                            {
                                new Span<float>(tile, Mr * Nr).Clear();
                            }
                            var first = true;
                            for (var a = 0; a < ph.Ah; a++)
                            {
                                var b = pk + ph.WeightOffset + ((long)a * seg * cPad) + ((long)panel * seg);
                                for (var kb = 0; kb < seg; kb += KBlock)
                                {
                                    var kc = Math.Min(KBlock, seg - kb);
                                    IndirectMicroKernels.RowsA512(kc, rows, ((nint)a * wg * g.O) + kb, b + ((long)kb * Nr), tile, Nr, !first);
                                    first = false;
                                }
                            }
                            for (var i = 0; i < Mr; i++)
                            {
                                if (targets[i] >= 0)
                                {
                                    var to = pout + targets[i] + panel;
                                    Vector512.Store(Vector512.Load(tile + (i * Nr)), to);
                                    Vector512.Store(Vector512.Load(tile + (i * Nr) + 16), to + 16);
                                }
                            }
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
    /// gw = sum over positions of gy(p, o) * im2col(x)(p, :), from the channels-last input runs. Two
    /// orientations: output channels as the tile's rows and run columns as its vector lanes, or the
    /// transpose; the one that pads less to the 12 x 32 tile is taken (runs of 40 floats, as in a 5x5
    /// layer on 8 channels, would waste 60% as vector lanes and 20% as rows).
    /// </summary>
    public static void BackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        // Run rows: acc(kh, kw*C + c, o); the output gradient in (position, O) order is B and the runs,
        // read through the pointer table, are A. Output rows: acc(kh, o, kw*C + c); the output gradient
        // is A and the runs are B. Either way each work unit sums all positions in order.
        var runRows = PrefersRunRows(g);
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
        var xp = BufferPool.Rent<float>((g.N * img) + Math.Max(Mr, Nr) + AlignSlack);
        var gyn = BufferPool.Rent<float>((positions * oPad) + Mr + AlignSlack);
        var acc = BufferPool.Rent<float>((int)(g.KH * khStride) + AlignSlack);
        // The operand read with vector loads is the one aligned: gy for run rows, the input runs otherwise.
        ToPaddedNhwc(x, g.N, g.C, g.H, g.W, g.PH, g.PW, hp, wp, g.C, xp, aligned: !runRows);
        ToPaddedNhwc(gy, g.N, g.O, g.OH, g.OW, 0, 0, g.OH, g.OW, oPad, gyn, aligned: runRows);
        // Work units: (kh, tile of 12 run elements, panel of 32 outputs) for run rows; (kh, panel of 32
        // run elements, tile of 12 outputs) otherwise, the outputs innermost so a thread's consecutive
        // units share the same input runs.
        var runBlocks = runPad / (runRows ? Mr : Nr);
        var outBlocks = oPad / (runRows ? Nr : Mr);
        var units = g.KH * runBlocks * outBlocks;
        CpuParallel.For(units, 1, (u0, u1) =>
        {
            var rowPtrs = stackalloc float*[KBlock];
            fixed (float* px0 = xp, pg0 = gyn, pa0 = acc)
            {
                var px = runRows ? px0 : Align(px0);
                var pg = runRows ? Align(pg0) : pg0;
                var pa = Align(pa0);
                if (positions == 0)
                {
                    new Span<float>(pa, (int)(g.KH * khStride)).Clear();
                    return;
                }
                for (var pb = 0; pb < positions; pb += KBlock)
                {
                    var kc = Math.Min(KBlock, positions - pb);
                    RunTable(px, img, wp, g, pb, kc, rowPtrs);
                    for (var u = u0; u < u1; u++)
                    {
                        var ob = u % outBlocks;
                        var rest = u / outBlocks;
                        var rb = rest % runBlocks;
                        var kh = rest / runBlocks;
                        var runOff = ((nint)kh * wp * g.C) + (rb * (runRows ? Mr : Nr));
                        if (runRows)
                        {
                            var c = pa + (kh * khStride) + ((long)rb * Mr * jStride) + (ob * Nr);
                            IndirectMicroKernels.RowsK512(kc, rowPtrs, runOff, pg + ((long)pb * oPad) + (ob * Nr), oPad, c, oPad, pb > 0);
                        }
                        else
                        {
                            var c = pa + (kh * khStride) + ((long)ob * Mr * oStride) + (rb * Nr);
                            IndirectMicroKernels.RowsB512(kc, pg + ((long)pb * oPad) + (ob * Mr), oPad, rowPtrs, runOff, c, runPad, pb > 0);
                        }
                    }
                }
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
        BufferPool.Return(xp);
    }
}
