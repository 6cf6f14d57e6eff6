namespace Rebalance.Data.Formats;

/// <summary>A decoded image: 8-bit samples, interleaved (H, W, Channels) with Channels 1 (grey),
/// 2 (grey + alpha), 3 (RGB) or 4 (RGBA). Every decoder (<see cref="Png"/>, <see cref="ImageFiles"/>) returns one.</summary>
public sealed record RasterImage(int Width, int Height, int Channels, byte[] Pixels)
{
    /// <summary>
    /// The image as planar (C, H, W) bytes with C = 1 for grey sources and 3 for colour ones. Alpha is
    /// dropped (datasets hold opaque images); a grey image is widened to RGB when <paramref name="channels"/> is 3.
    /// </summary>
    public byte[] ToPlanar(int channels)
    {
        var colour = Channels >= 3;
        if (channels == 1 && colour)
        {
            throw new ArgumentException("a colour image cannot be read as one channel", nameof(channels));
        }
        var plane = Width * Height;
        var result = new byte[channels * plane];
        for (var p = 0; p < plane; p++)
        {
            for (var c = 0; c < channels; c++)
            {
                result[(c * plane) + p] = Pixels[(p * Channels) + (colour ? c : 0)];
            }
        }
        return result;
    }
}
