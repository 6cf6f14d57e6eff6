#!/usr/bin/python3
"""Writes tests/Rebalance.Evaluation.Tests/Fixtures/ssim_reference.json: pairs of 8-bit images and the
SSIM that scikit-image's structural_similarity gives them with its defaults (7x7 uniform window, sample
covariance, K1 0.01, K2 0.03) and data_range 255, for the C# Ssim to match. Grey pairs of 28x28 and
9x7, and an RGB pair of 32x32 (channel_axis 0, the planar layout Rebalance keeps).

Run: /usr/bin/python3 tools/make_ssim_references.py  (needs Debian's python3-skimage; deterministic)
"""
import json
import os

import numpy as np
from skimage.metrics import structural_similarity

rng = np.random.default_rng(7)
cases = []


def add(name, a, b, channels):
    if channels == 1:
        value = structural_similarity(a, b, data_range=255)
    else:
        value = structural_similarity(a, b, data_range=255, channel_axis=0)
    cases.append({
        "name": name,
        "channels": channels,
        "height": int(a.shape[-2]),
        "width": int(a.shape[-1]),
        "a": a.astype(np.uint8).ravel().tolist(),
        "b": b.astype(np.uint8).ravel().tolist(),
        "ssim": float(value),
    })


base = rng.integers(0, 256, size=(28, 28)).astype(np.float64)
add("noise-vs-noisier", base, np.clip(base + rng.normal(0, 40, size=base.shape), 0, 255).round(), 1)
digit = np.zeros((28, 28))
digit[6:22, 12:16] = 230
digit[6:10, 8:20] = 200
shifted = np.roll(digit, 2, axis=1)
add("bar-vs-shifted", digit, shifted, 1)
add("small", rng.integers(0, 256, size=(9, 7)), rng.integers(0, 256, size=(9, 7)), 1)
rgb = rng.integers(0, 256, size=(3, 32, 32)).astype(np.float64)
add("rgb", rgb, np.clip(rgb * 0.8 + 20 + rng.normal(0, 10, size=rgb.shape), 0, 255).round(), 3)

out = os.path.join(os.path.dirname(__file__), "..", "tests", "Rebalance.Evaluation.Tests", "Fixtures", "ssim_reference.json")
with open(out, "w") as f:
    json.dump({"cases": cases}, f)
print("wrote", out, [(c["name"], round(c["ssim"], 6)) for c in cases])
