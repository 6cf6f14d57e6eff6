#!/usr/bin/env python3
"""Writes the PNG test fixtures of tests/Rebalance.Data.Tests/Fixtures/png with an encoder independent of
Rebalance's own (Python's zlib and struct, nothing else).

For every fixture NAME.png it also writes NAME.expected: the decoded image as Rebalance's decoder must
return it, 8-bit samples interleaved (H, W, C), preceded by a 12-byte header of width, height and
channels (little-endian int32). Conventions: low bit depths are scaled to 0..255 as v * 255 // (2^d - 1),
16-bit samples keep their high byte, palette images become RGB, alpha is kept (2 or 4 channels).

Run: python3 tools/make_png_fixtures.py  (deterministic; the committed files come from it)
"""
import os
import random
import struct
import zlib

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "Rebalance.Data.Tests", "Fixtures", "png")
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
SPP = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_row(ftype, row, prev, bpp):
    out = bytearray(len(row))
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
        out[i] = (row[i] - pred) & 0xFF
    return bytes([ftype]) + bytes(out)


def pack_row(samples, depth):
    """samples: list of ints (already at the file's depth)."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    bits = "".join(format(s, "0%db" % depth) for s in samples)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def write(name, width, height, colour, depth, interlace=0, filters=None, seed=0):
    rnd = random.Random(seed)
    spp = SPP[colour]
    maxv = (1 << depth) - 1
    palette = None
    if colour == 3:
        n = min(256, 1 << depth)
        palette = [(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(n)]
    # image[y][x] = tuple of samples at the file depth
    image = [[tuple(rnd.randrange(maxv + 1) for _ in range(spp)) for _ in range(width)] for _ in range(height)]
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    bits_pp = spp * depth
    bpp = max(1, bits_pp // 8)
    row_index = 0
    for (x0, y0, dx, dy) in passes:
        xs = list(range(x0, width, dx))
        ys = list(range(y0, height, dy))
        if not xs or not ys:
            continue
        row_bytes = (len(xs) * bits_pp + 7) // 8
        prev = bytes(row_bytes)
        for y in ys:
            samples = [s for x in xs for s in image[y][x]]
            row = pack_row(samples, depth)
            ftype = filters[row_index % len(filters)] if filters else row_index % 5
            raw += filter_row(ftype, row, prev, bpp)
            prev = row
            row_index += 1
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        png += chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    png += chunk(b"tEXt", b"Comment\x00fixture")  # an ancillary chunk the decoder must skip
    comp = zlib.compress(bytes(raw), 9)
    half = len(comp) // 2  # split IDAT in two: decoders must concatenate
    png += chunk(b"IDAT", comp[:half]) + chunk(b"IDAT", comp[half:]) + chunk(b"IEND", b"")
    with open(os.path.join(OUT, name + ".png"), "wb") as f:
        f.write(png)

    out_c = 3 if colour == 3 else spp
    expected = bytearray(struct.pack("<iii", width, height, out_c))
    for y in range(height):
        for x in range(width):
            px = image[y][x]
            if colour == 3:
                expected += bytes(palette[px[0]])
            elif depth == 16:
                expected += bytes(s >> 8 for s in px)
            elif depth < 8:
                expected += bytes(s * 255 // maxv for s in px)
            else:
                expected += bytes(px)
    with open(os.path.join(OUT, name + ".expected"), "wb") as f:
        f.write(expected)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for depth in (1, 2, 4, 8, 16):
        cases.append(("grey%d" % depth, 13, 7, 0, depth))
    for depth in (8, 16):
        cases += [("rgb%d" % depth, 9, 6, 2, depth), ("greyalpha%d" % depth, 5, 8, 4, depth), ("rgba%d" % depth, 7, 7, 6, depth)]
    for depth in (1, 2, 4, 8):
        cases.append(("palette%d" % depth, 11, 5, 3, depth))
    seed = 1
    for (name, w, h, colour, depth) in cases:
        write(name, w, h, colour, depth, seed=seed)
        write(name + "-adam7", w + 4, h + 5, colour, depth, interlace=1, seed=seed + 100)
        seed += 1
    for f in range(5):
        write("rgb8-filter%d" % f, 16, 4, 2, 8, filters=[f], seed=200 + f)
    write("grey8-1x1", 1, 1, 0, 8, seed=300)
    write("grey8-1x1-adam7", 1, 1, 0, 8, interlace=1, seed=301)
    write("rgb8-33x17-adam7", 33, 17, 2, 8, interlace=1, seed=302)
    write("grey4-3x2-adam7", 3, 2, 0, 4, interlace=1, seed=303)


if __name__ == "__main__":
    main()
