#!/usr/bin/python3
"""Writes tests/Rebalance.Data.Tests/Fixtures/morpho_reference.json: 28x28 digits and the six Morpho-MNIST
morphometrics (Castro et al. 2019) measured the way the paper describes, with scikit-image and SciPy
primitives: the image upscaled 4x (skimage's pyramid_expand, cubic, which smooths with a Gaussian of
sigma 4/3), cut to 8 bits, binarised at half its range; area = foreground pixels / 16; the medial axis
(skimage's medial_axis) and the Euclidean distance map; thickness = 2 x the mean distance on the axis / 4;
length = the axis's 8-neighbour chain length / 4 (right and down neighbours 1, diagonal ones sqrt 2);
slant = arctan(-mu11 / mu02) of the 4x image's moments; width and height = the sides of the
parallelogram sheared by the slant that holds 98% of the 4x image's mass (1% cut on each side).

medial_axis breaks ties between pixels at the same distance and of the same cornerness with a random
permutation (a new one on each call in the released code); length and thickness are given for
random_state 0 and as the range over 50 seeds, since the C# measurement breaks ties in a fixed
pseudo-random order of its own. Area, slant, width and height do not depend on the axis and must agree
to rounding. The 4x image of two cases is stored whole, to compare pixel by pixel.

Cases: hand-drawn shapes whose values are known from their geometry (a vertical bar 3 x 16, the same
bar sheared one pixel per two rows, a horizontal bar, a ring) and the first 12 MNIST training digits
(from the dataset cache, ~/.cache/rebalance/mnist, filled by tools/setup.sh).

Run: /usr/bin/python3 tools/make_morpho_references.py  (needs Debian's python3-skimage; deterministic)
"""
import gzip
import json
import os

import numpy as np
from scipy import ndimage
from skimage import morphology, transform

SCALE = 4
TIE_SEEDS = 50
LENGTH_MASK = np.array([[0., 0., 0.], [0., 0., 1.], [np.sqrt(2.), 1., np.sqrt(2.)]])


def hires(img):
    up = transform.pyramid_expand(img, upscale=SCALE, order=3)
    return (255. * up).astype(np.uint8)


def measure(img):
    hi = hires(img)
    lo, top = int(hi.min()), int(hi.max())
    binary = hi >= lo + (top - lo) * .5
    area = binary.sum() / SCALE ** 2
    lengths, thicknesses = [], []
    for seed in range(TIE_SEEDS):
        skeleton, distance = morphology.medial_axis(binary, return_distance=True, random_state=seed)
        skel = skeleton.astype(float)
        lengths.append(np.einsum('ij,ij->', ndimage.correlate(skel, LENGTH_MASK, mode='constant'), skel) / SCALE)
        thicknesses.append(2. * distance[skeleton].mean() / SCALE)
    length, thickness = lengths[0], thicknesses[0]

    f = hi.astype(float)
    h, w = f.shape
    x = np.arange(w)[None, :]
    y = np.arange(h)[:, None]
    m00 = f.sum()
    mx = (x * f).sum() / m00
    my = (y * f).sum() / m00
    u11 = (x * y * f).sum() / m00 - mx * my
    u02 = (y ** 2 * f).sum() / m00 - my ** 2
    shear = u11 / u02
    slant = np.arctan(-shear)
    locs = np.arange(w)
    hcdf = np.array([((x + .5 < t + shear * (y - my)) * f).sum() for t in locs]) / m00
    vcdf = np.array([((y < t) * f).sum() for t in range(h)]) / m00
    left, right = np.interp([.01, .99], hcdf, locs)
    top_, bottom = np.interp([.01, .99], vcdf, np.arange(h))
    return hi, dict(area=float(area), length=float(length), thickness=float(thickness),
                    length_range=[float(min(lengths)), float(max(lengths))],
                    thickness_range=[float(min(thicknesses)), float(max(thicknesses))], slant=float(slant),
                    width=float((right - left) / SCALE), height=float((bottom - top_) / SCALE))


def read_idx(path, count):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as fh:
        data = fh.read()
    return np.frombuffer(data, np.uint8, offset=16)[:count * 784].reshape(count, 28, 28)


cases = []


def add(name, img, keep_hires=False):
    hi, values = measure(img)
    case = {"name": name, "image": img.astype(np.uint8).ravel().tolist(), **values}
    if keep_hires:
        case["hires"] = hi.ravel().tolist()
    cases.append(case)


bar = np.zeros((28, 28), np.uint8)
bar[6:22, 12:15] = 255
add("vertical bar 3x16", bar, keep_hires=True)

sheared = np.zeros((28, 28), np.uint8)
for r in range(6, 22):
    c = 9 + (21 - r) // 2
    sheared[r, c:c + 3] = 255
add("bar sheared 1 px per 2 rows", sheared)

flat = np.zeros((28, 28), np.uint8)
flat[12:15, 6:22] = 255
add("horizontal bar 16x3", flat)

yy, xx = np.mgrid[0:28, 0:28]
radius = np.hypot(yy - 13.5, xx - 13.5)
ring = (((radius >= 5) & (radius <= 8)) * 255).astype(np.uint8)
add("ring of radius 5 to 8", ring)

root = os.environ.get("REBALANCE_DATA") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rebalance")
mnist = os.path.join(root, "mnist", "train-images-idx3-ubyte")
if not os.path.exists(mnist):
    mnist += ".gz"
for k, img in enumerate(read_idx(mnist, 12)):
    add(f"mnist train {k}", img, keep_hires=(k == 0))

out = os.path.join(os.path.dirname(__file__), "..", "tests", "Rebalance.Data.Tests", "Fixtures",
                   "morpho_reference.json")
with open(out, "w") as fh:
    json.dump({"scale": SCALE, "cases": cases}, fh)
for c in cases:
    print(f'{c["name"]:32s} area {c["area"]:7.2f} length {c["length"]:6.2f} {c["length_range"]} '
          f'thickness {c["thickness"]:5.2f} {c["thickness_range"]} '
          f'slant {c["slant"]:+.3f} width {c["width"]:5.2f} height {c["height"]:5.2f}')
