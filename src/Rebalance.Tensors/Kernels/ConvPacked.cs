namespace Rebalance.Tensors.Kernels;

/// <summary>
/// float32 convolution that feeds the GEMM prepacked operands: im2col writes straight into the GEMM's
/// packed-panel layout (no separate column matrix to write, read and repack), and the weights are packed
/// once per call instead of once per image group. Same grouping, chunking and results as <see cref="Conv"/>
/// up to summation order inside the GEMM; both are tested against the direct reference loops.
/// </summary>
internal static unsafe class ConvPacked
{
    private const int WeightGradChunks = 8;

    /// <summary>
    /// Image ranges for the passes without a cross-image reduction (forward, input gradient): about
    /// 256 GEMM columns per group, and a group count that is a multiple of the thread count so the
    /// threads get equal work. Results do not depend on the split.
    /// </summary>
    internal static (int Groups, Func<int, (int Start, int Count)> Range) Balanced(in ConvGeometry g)
    {
        var threads = Math.Max(1, Engine.NumThreads);
        var target = Math.Max(1, (int)Math.Round((double)g.N * g.Ohw / 256));
        var groups = Math.Min(g.N, ((target + threads - 1) / threads) * threads);
        var n = g.N;
        return (groups, gi =>
        {
            var s0 = (int)((long)n * gi / groups);
            var s1 = (int)((long)n * (gi + 1) / groups);
            return (s0, s1 - s0);
        });
    }

    /// <summary>y = conv(x, w).</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeometry g)
    {
        var (mr, nr) = Gemm.Tile;
        var map = Conv.BuildMap(g);
        var (groups, range) = Balanced(g);
        var packedW = BufferPool.Rent<float>(Gemm.Pad(g.O, mr) * g.Ckk);
        fixed (float* pw = w, pPacked = packedW)
        {
            Gemm.PackAFull(false, pw, g.Ckk, g.O, g.Ckk, pPacked);
        }
        CpuParallel.ForEach(groups, gi =>
        {
            var (n0, cnt) = range(gi);
            var ld = cnt * g.Ohw;
            var packedCol = BufferPool.Rent<float>(g.Ckk * Gemm.Pad(ld, nr));
            var outBuf = cnt == 1 ? null : BufferPool.Rent<float>(g.O * ld);
            fixed (float* px = x, pA = packedW, pB = packedCol, py = y, pOut = outBuf)
            {
                Im2ColPackedB(px + ((long)n0 * g.C * g.Hw), g, cnt, map, pB, nr);
                var c = cnt == 1 ? py + ((long)n0 * g.O * g.Ohw) : pOut;
                Gemm.SgemmPacked(g.O, ld, g.Ckk, 1f, pA, pB, 0f, c, ld);
            }
            if (outBuf is not null)
            {
                Conv.GroupToNchw<float>(outBuf, y, g, n0, cnt);
                BufferPool.Return(outBuf);
            }
            BufferPool.Return(packedCol);
        });
        BufferPool.Return(packedW);
    }

    /// <summary>gx = conv^T(gy, w) (also the forward pass of a transposed convolution).</summary>
    public static void BackwardData(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        var (mr, nr) = Gemm.Tile;
        var map = Conv.BuildMap(g);
        var (groups, range) = Balanced(g);
        var packedWt = BufferPool.Rent<float>(Gemm.Pad(g.Ckk, mr) * g.O);
        fixed (float* pw = w, pPacked = packedWt)
        {
            Gemm.PackAFull(true, pw, g.Ckk, g.Ckk, g.O, pPacked);
        }
        CpuParallel.ForEach(groups, gi =>
        {
            var (n0, cnt) = range(gi);
            var ld = cnt * g.Ohw;
            var packedGy = BufferPool.Rent<float>(g.O * Gemm.Pad(ld, nr));
            var cols = BufferPool.Rent<float>(g.Ckk * ld);
            fixed (float* pgy = gy, pA = packedWt, pB = packedGy, pCols = cols, pgx = gx)
            {
                PackOutputGradB(pgy + ((long)n0 * g.O * g.Ohw), g, cnt, pB, nr);
                Gemm.SgemmPacked(g.Ckk, ld, g.O, 1f, pA, pB, 0f, pCols, ld);
                for (var i = 0; i < cnt; i++)
                {
                    Conv.Col2Im<float>(cols, ld, i * g.Ohw, g, gx.AsSpan((n0 + i) * g.C * g.Hw, g.C * g.Hw), map);
                }
            }
            BufferPool.Return(cols);
            BufferPool.Return(packedGy);
        });
        BufferPool.Return(packedWt);
    }

    /// <summary>gw = sum_n gy[n] im2col(x[n])^T, computed per chunk as im2col(x) @ gy^T of shape (C*KH*KW, O),
    /// chunks summed in order, then transposed.</summary>
    public static void BackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        var (mr, nr) = Gemm.Tile;
        var map = Conv.BuildMap(g);
        var gs = g.GroupSize;
        // A fixed number of chunks, each an equal slice of the images (so threads get equal work), each
        // slice taken in groups of at most gs images. Fixed by the shape alone, never by the thread count.
        var chunks = Math.Min(g.N, WeightGradChunks);
        var wsize = g.O * g.Ckk;
        if (chunks == 0)
        {
            gw.AsSpan(0, wsize).Clear();
            return;
        }
        var partials = new float[chunks][];
        CpuParallel.ForEach(chunks, ci =>
        {
            var s0 = (int)((long)g.N * ci / chunks);
            var s1 = (int)((long)g.N * (ci + 1) / chunks);
            var acc = BufferPool.Rent<float>(wsize); // (C*KH*KW, O); fully written by the first GEMM (beta 0)
            partials[ci] = acc;
            var first = true;
            for (var n0 = s0; n0 < s1; n0 += gs)
            {
                var cnt = Math.Min(gs, s1 - n0);
                var ld = cnt * g.Ohw;
                var packedCol = BufferPool.Rent<float>(Gemm.Pad(g.Ckk, mr) * ld);
                var packedGyT = BufferPool.Rent<float>(ld * Gemm.Pad(g.O, nr));
                fixed (float* px = x, pgy = gy, pA = packedCol, pB = packedGyT, pAcc = acc)
                {
                    Im2ColPackedA(px + ((long)n0 * g.C * g.Hw), g, cnt, map, pA, mr);
                    PackOutputGradTransposedB(pgy + ((long)n0 * g.O * g.Ohw), g, cnt, pB, nr);
                    Gemm.SgemmPacked(g.Ckk, g.O, ld, 1f, pA, pB, first ? 0f : 1f, pAcc, g.O);
                }
                first = false;
                BufferPool.Return(packedCol);
                BufferPool.Return(packedGyT);
            }
        });
        // Chunks added in order, ((p0 + p1) + p2) + ..., then (C*KH*KW, O) transposed to (O, C*KH*KW).
        var total = partials[0].AsSpan(0, wsize);
        for (var ci = 1; ci < chunks; ci++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(total, partials[ci].AsSpan(0, wsize), total);
        }
        for (var r = 0; r < g.Ckk; r++)
        {
            for (var o = 0; o < g.O; o++)
            {
                gw[(o * g.Ckk) + r] = total[(r * g.O) + o];
            }
        }
        foreach (var part in partials)
        {
            BufferPool.Return(part);
        }
    }

    /// <summary>
    /// Copies cnt images so each (HW) plane is followed by one zero: a tap in the padding then reads
    /// that zero, and the gathers below need no branch. Plane stride is HW + 1.
    /// </summary>
    private static float[] PaddedPlanes(float* x, in ConvGeometry g, int cnt)
    {
        var stride = g.Hw + 1;
        var buf = BufferPool.Rent<float>(cnt * g.C * stride);
        fixed (float* pb = buf)
        {
            for (var plane = 0; plane < cnt * g.C; plane++)
            {
                Buffer.MemoryCopy(x + ((long)plane * g.Hw), pb + ((long)plane * stride), (long)g.Hw * sizeof(float), (long)g.Hw * sizeof(float));
                pb[((long)plane * stride) + g.Hw] = 0f;
            }
        }
        return buf;
    }

    /// <summary>
    /// For column positions [p0, p0 + count) of the group (position = i*OHW + q) and every tap t, the offset
    /// into the padded planes of channel 0: i*C*(HW+1) + (map[t, q] or HW for the padding). Adding
    /// c*(HW+1) gives channel c. table[t * count + j].
    /// </summary>
    private static void TapTable(int* map, in ConvGeometry g, int p0, int count, int* table)
    {
        var kk = g.KH * g.KW;
        var stride = g.Hw + 1;
        var i = p0 / g.Ohw;
        var q = p0 - (i * g.Ohw);
        for (var j = 0; j < count; j++)
        {
            var imageBase = i * g.C * stride;
            for (var t = 0; t < kk; t++)
            {
                var off = map[(t * g.Ohw) + q];
                table[(t * count) + j] = imageBase + (off >= 0 ? off : g.Hw);
            }
            if (++q == g.Ohw)
            {
                q = 0;
                i++;
            }
        }
    }

    // B = im2col of cnt images: (C*KH*KW, cnt*OHW), element (r, col) with r = c*KH*KW + t, col = i*OHW + q.
    internal static void Im2ColPackedB(float* x, in ConvGeometry g, int cnt, int[] map, float* dst, int nr)
    {
        var k = g.Ckk;
        var n = cnt * g.Ohw;
        var nPad = Gemm.Pad(n, nr);
        var kk = g.KH * g.KW;
        var stride = g.Hw + 1;
        var padded = PaddedPlanes(x, g, cnt);
        var tableBuf = BufferPool.Rent<int>(kk * nr);
        fixed (float* xp = padded)
        fixed (int* pm = map, tb = tableBuf)
        {
            for (var s0 = 0; s0 < n; s0 += nr)
            {
                var cols = Math.Min(nr, n - s0);
                TapTable(pm, g, s0, cols, tb);
                // Rows r = c * kk + t in order; the row pointer moves by nr and jumps at each k-block.
                var pc = 0;
                var kc = Math.Min(Gemm.KBlock, k);
                var rowPtr = dst + ((long)s0 * kc);
                var r = 0;
                for (var c = 0; c < g.C; c++)
                {
                    var src = xp + ((long)c * stride);
                    for (var t = 0; t < kk; t++, r++)
                    {
                        if (r == pc + Gemm.KBlock)
                        {
                            pc += Gemm.KBlock;
                            kc = Math.Min(Gemm.KBlock, k - pc);
                            rowPtr = dst + ((long)nPad * pc) + ((long)s0 * kc);
                        }
                        var d = rowPtr;
                        rowPtr += nr;
                        var offs = tb + (t * cols);
                        var j = 0;
                        for (; j < cols; j++)
                        {
                            d[j] = src[offs[j]];
                        }
                        for (; j < nr; j++)
                        {
                            d[j] = 0f;
                        }
                    }
                }
            }
        }
        BufferPool.Return(tableBuf);
        BufferPool.Return(padded);
    }

    // A = im2col of cnt images as (C*KH*KW rows, cnt*OHW columns): element (r, p) with p = i*OHW + q.
    private static void Im2ColPackedA(float* x, in ConvGeometry g, int cnt, int[] map, float* dst, int mr)
    {
        var m = g.Ckk;
        var k = cnt * g.Ohw;
        var mPad = Gemm.Pad(m, mr);
        var kk = g.KH * g.KW;
        var stride = g.Hw + 1;
        var padded = PaddedPlanes(x, g, cnt);
        var tableBuf = BufferPool.Rent<int>(kk * Gemm.KBlock);
        fixed (float* xp = padded)
        fixed (int* pm = map, tb = tableBuf)
        {
            for (var pc = 0; pc < k; pc += Gemm.KBlock)
            {
                var kc = Math.Min(Gemm.KBlock, k - pc);
                TapTable(pm, g, pc, kc, tb);
                for (var r = 0; r < mPad; r++)
                {
                    var panel = r / mr;
                    var lane = r - (panel * mr);
                    var d = dst + ((long)mPad * pc) + ((long)panel * mr * kc) + lane;
                    if (r >= m)
                    {
                        for (var p = 0; p < kc; p++)
                        {
                            d[p * mr] = 0f;
                        }
                        continue;
                    }
                    var c = r / kk;
                    var t = r - (c * kk);
                    var src = xp + ((long)c * stride);
                    var offs = tb + (t * kc);
                    for (var p = 0; p < kc; p++)
                    {
                        d[p * mr] = src[offs[p]];
                    }
                }
            }
        }
        BufferPool.Return(tableBuf);
        BufferPool.Return(padded);
    }

    // B = the output gradient of cnt images as (O rows, cnt*OHW columns).
    private static void PackOutputGradB(float* gy, in ConvGeometry g, int cnt, float* dst, int nr)
    {
        var k = g.O;
        var n = cnt * g.Ohw;
        var nPad = Gemm.Pad(n, nr);
        for (var o = 0; o < k; o++)
        {
            var pc = o / Gemm.KBlock * Gemm.KBlock;
            var kc = Math.Min(Gemm.KBlock, k - pc);
            var row = dst + ((long)nPad * pc) + ((o - pc) * nr);
            var panelStride = (long)nr * kc;
            var d = row;
            var lane = 0;
            for (var i = 0; i < cnt; i++)
            {
                var src = gy + ((long)((i * g.O) + o) * g.Ohw);
                for (var q = 0; q < g.Ohw; q++)
                {
                    d[lane] = src[q];
                    if (++lane == nr)
                    {
                        lane = 0;
                        d += panelStride;
                    }
                }
            }
            if (lane != 0)
            {
                for (; lane < nr; lane++)
                {
                    d[lane] = 0f;
                }
            }
        }
    }

    // B = transposed output gradient: (cnt*OHW rows, O columns), element (p = i*OHW + q, o).
    private static void PackOutputGradTransposedB(float* gy, in ConvGeometry g, int cnt, float* dst, int nr)
    {
        var k = cnt * g.Ohw;
        var n = g.O;
        var nPad = Gemm.Pad(n, nr);
        for (var o = 0; o < nPad; o++)
        {
            var panel = o / nr;
            var lane = o - (panel * nr);
            for (var pc = 0; pc < k; pc += Gemm.KBlock)
            {
                var kc = Math.Min(Gemm.KBlock, k - pc);
                var d = dst + ((long)nPad * pc) + ((long)panel * nr * kc) + lane;
                if (o >= n)
                {
                    for (var p = 0; p < kc; p++, d += nr)
                    {
                        *d = 0f;
                    }
                    continue;
                }
                // Position pc lies in image i at q; step q and roll over to the next image.
                var i = pc / g.Ohw;
                var q = pc - (i * g.Ohw);
                var src = gy + ((long)((i * g.O) + o) * g.Ohw);
                for (var p = 0; p < kc; p++, d += nr)
                {
                    *d = src[q];
                    if (++q == g.Ohw)
                    {
                        q = 0;
                        i++;
                        src = gy + ((long)((i * g.O) + o) * g.Ohw);
                    }
                }
            }
        }
    }
}
