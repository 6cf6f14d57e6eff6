namespace Rebalance.Tensors.Kernels.Reference;

/// <summary>Direct convolution loops with double accumulation: the ground truth for the conv tests.</summary>
internal static class ConvReference
{
    // y[n,o,oh,ow] = sum_{c,kh,kw} x[n,c,oh*s-p+kh*d, ow*s-p+kw*d] * w[o,c,kh,kw]
    public static void Forward(float[] x, float[] w, float[] y, ConvGeometry g)
    {
        for (var n = 0; n < g.N; n++)
        {
            for (var o = 0; o < g.O; o++)
            {
                for (var oh = 0; oh < g.OH; oh++)
                {
                    for (var ow = 0; ow < g.OW; ow++)
                    {
                        double acc = 0;
                        for (var c = 0; c < g.C; c++)
                        {
                            for (var kh = 0; kh < g.KH; kh++)
                            {
                                for (var kw = 0; kw < g.KW; kw++)
                                {
                                    var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                                    var iw = (ow * g.SW) - g.PW + (kw * g.DW);
                                    if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
                                    {
                                        acc += (double)x[(((n * g.C) + c) * g.H + ih) * g.W + iw] * w[(((o * g.C) + c) * g.KH + kh) * g.KW + kw];
                                    }
                                }
                            }
                        }
                        y[(((n * g.O) + o) * g.OH + oh) * g.OW + ow] = (float)acc;
                    }
                }
            }
        }
    }

    // gx[n,c,ih,iw] = sum over (o,kh,kw,oh,ow) that read (ih,iw) of gy[n,o,oh,ow] * w[o,c,kh,kw]
    public static void BackwardData(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        var acc = new double[gx.Length];
        for (var n = 0; n < g.N; n++)
        {
            for (var o = 0; o < g.O; o++)
            {
                for (var oh = 0; oh < g.OH; oh++)
                {
                    for (var ow = 0; ow < g.OW; ow++)
                    {
                        var gv = (double)gy[(((n * g.O) + o) * g.OH + oh) * g.OW + ow];
                        for (var c = 0; c < g.C; c++)
                        {
                            for (var kh = 0; kh < g.KH; kh++)
                            {
                                for (var kw = 0; kw < g.KW; kw++)
                                {
                                    var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                                    var iw = (ow * g.SW) - g.PW + (kw * g.DW);
                                    if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
                                    {
                                        acc[(((n * g.C) + c) * g.H + ih) * g.W + iw] += gv * w[(((o * g.C) + c) * g.KH + kh) * g.KW + kw];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for (var i = 0; i < gx.Length; i++)
        {
            gx[i] = (float)acc[i];
        }
    }

    // gw[o,c,kh,kw] = sum_{n,oh,ow} gy[n,o,oh,ow] * x[n,c,oh*s-p+kh*d, ow*s-p+kw*d]
    public static void BackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        for (var o = 0; o < g.O; o++)
        {
            for (var c = 0; c < g.C; c++)
            {
                for (var kh = 0; kh < g.KH; kh++)
                {
                    for (var kw = 0; kw < g.KW; kw++)
                    {
                        double acc = 0;
                        for (var n = 0; n < g.N; n++)
                        {
                            for (var oh = 0; oh < g.OH; oh++)
                            {
                                for (var ow = 0; ow < g.OW; ow++)
                                {
                                    var ih = (oh * g.SH) - g.PH + (kh * g.DH);
                                    var iw = (ow * g.SW) - g.PW + (kw * g.DW);
                                    if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
                                    {
                                        acc += (double)gy[(((n * g.O) + o) * g.OH + oh) * g.OW + ow] * x[(((n * g.C) + c) * g.H + ih) * g.W + iw];
                                    }
                                }
                            }
                        }
                        gw[(((o * g.C) + c) * g.KH + kh) * g.KW + kw] = (float)acc;
                    }
                }
            }
        }
    }
}
