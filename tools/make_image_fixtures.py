#!/usr/bin/python3
"""Writes the JPEG, BMP, GIF and TGA test fixtures of tests/Rebalance.Data.Tests/Fixtures/images with an
encoder independent of the one Rebalance reads them with: Pillow (Debian's python3-pil, libjpeg inside).

For every fixture NAME.EXT it also writes NAME.expected: the image as Pillow itself decodes it, 8-bit
samples interleaved (H, W, C), after a 12-byte header of width, height and channels (little-endian int32),
the layout of the PNG fixtures. Channels follow what Rebalance returns: 1 for grey JPEG, 3 for colour
JPEG, BMP and TGA, 4 (RGBA) for GIF, whose palette is read as colour. JPEG pixels may differ by the
usual +-1 of IDCT rounding between decoders; the lossless formats must match exactly.

Run: /usr/bin/python3 tools/make_image_fixtures.py  (deterministic; the committed files come from it)
"""
import os
import random
import struct

from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "Rebalance.Data.Tests", "Fixtures", "images")
os.makedirs(OUT, exist_ok=True)
rng = random.Random(1234)


def smooth_rgb(w, h):
    """A smooth colour picture with some texture (JPEG-friendly; flat noise would test little)."""
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1), ((x + y) * 7 + rng.randrange(24)) % 256)
    return img


def digit_like(w, h):
    """A bright stroke on black, like MNIST."""
    img = Image.new("L", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            d = abs((x - w // 2) - (y - h // 2) // 2)
            px[x, y] = max(0, 255 - d * 60) if 3 < y < h - 3 else 0
    return img


def write_expected(name, img, channels):
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    data = img.convert(mode).tobytes()
    with open(os.path.join(OUT, name + ".expected"), "wb") as f:
        f.write(struct.pack("<iii", img.width, img.height, channels))
        f.write(data)


def save(name, ext, img, channels, **options):
    path = os.path.join(OUT, name + ext)
    img.save(path, **options)
    # What Pillow reads back from its own file is the reference (for JPEG: libjpeg's decoding).
    back = Image.open(path)
    back.load()
    write_expected(name, back, channels)


# JPEG: baseline and progressive, grey and colour, three chroma subsamplings, odd sizes (partial MCUs).
save("grey-baseline", ".jpg", digit_like(28, 28), 1, quality=90)
save("grey-progressive", ".jpeg", digit_like(28, 28), 1, quality=85, progressive=True)
save("rgb-444", ".jpg", smooth_rgb(32, 32), 3, quality=92, subsampling=0)
save("rgb-422", ".jpg", smooth_rgb(33, 17), 3, quality=90, subsampling=1)
save("rgb-420", ".jpg", smooth_rgb(50, 50), 3, quality=90, subsampling=2)
save("rgb-420-progressive", ".jpg", smooth_rgb(31, 29), 3, quality=88, subsampling=2, progressive=True)
# BMP: 24-bit colour, 8-bit palette (grey levels), 1-bit.
save("rgb24", ".bmp", smooth_rgb(13, 7), 3)
save("grey8-palette", ".bmp", digit_like(28, 28), 3)
save("mono1", ".bmp", digit_like(16, 16).point(lambda v: 255 if v > 127 else 0).convert("1"), 3)
# GIF: palette image, and an animation of which only the first frame is read.
save("palette", ".gif", smooth_rgb(20, 12).quantize(64), 4)
frames = [digit_like(28, 28).convert("P"), Image.new("P", (28, 28), 200)]
frames[0].save(os.path.join(OUT, "animated.gif"), save_all=True, append_images=frames[1:], duration=100, loop=0)
first = Image.open(os.path.join(OUT, "animated.gif"))
first.seek(0)
first.load()
write_expected("animated", first, 4)
# TGA: raw and run-length encoded colour, raw grey.
save("rgb-raw", ".tga", smooth_rgb(12, 9), 3)
save("rgb-rle", ".tga", smooth_rgb(12, 9), 3, compression="tga_rle")
save("grey-raw", ".tga", digit_like(10, 6), 1)
print(f"wrote fixtures to {os.path.normpath(OUT)}")
