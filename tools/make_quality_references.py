#!/usr/bin/python3
"""Writes tests/Rebalance.Evaluation.Tests/Fixtures/quality_reference.json: fixed feature matrices and
class probabilities, and the FID, KID, Inception Score, precision/recall and density/coverage that
numpy and scipy compute for them, for the Rebalance.Evaluation quality tests to compare against.

The formulas here are written independently of the C# ones, in the form of the reference code each
paper's authors published: FID as pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm), KID as
the unbiased MMD^2 with the cubic polynomial kernel (one subset: the whole equal-size sets), the
Inception Score over 10 consecutive splits with numpy's population std, precision/recall (k = 3) and
density/coverage (k = 5) from full distance matrices.

Run: /usr/bin/python3 tools/make_quality_references.py  (deterministic; the committed file comes from it)
"""
import json
import os

import numpy as np
from scipy import linalg

rng = np.random.default_rng(20240611)
d = 16
real = rng.normal(size=(300, d)) @ rng.normal(size=(d, d)) * 0.5
fake = rng.normal(size=(250, d)) @ rng.normal(size=(d, d)) * 0.5 + 0.3
# float32 first: the C# side reads the features as float32.
real = real.astype(np.float32).astype(np.float64)
fake = fake.astype(np.float32).astype(np.float64)


def fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid_one_subset(a, b):
    m = a.shape[0]
    k = lambda x, y: (x @ y.T / x.shape[1] + 1) ** 3
    kxx, kyy, kxy = k(a, a), k(b, b), k(a, b)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def dist(a, b):
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0))


def kth(a, k):
    dd = dist(a, a)
    return np.sort(dd, axis=1)[:, k]  # column 0 is the point itself


def prdc(a, b, kpr=3, kdc=5):
    rr, fr = kth(a, kpr), kth(b, kpr)
    rdc = kth(a, kdc)
    drf = dist(a, b)  # real x fake
    precision = (drf <= rr[:, None]).any(axis=0).mean()
    recall = (drf <= fr[None, :]).any(axis=1).mean()
    density = (drf <= rdc[:, None]).sum() / (kdc * b.shape[0])
    coverage = (drf.min(axis=1) <= rdc).mean()
    return float(precision), float(recall), float(density), float(coverage)


def inception_score(p, splits=10):
    n = p.shape[0]
    scores = []
    for s in range(splits):
        part = p[s * n // splits:(s + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        kl = (part * (np.log(part) - np.log(py))).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


logits = rng.normal(size=(205, 10)) * 2.5
probs = np.exp(logits - logits.max(1, keepdims=True))
probs = probs / probs.sum(1, keepdims=True)
p, r, de, co = prdc(real, fake)
is_mean, is_std = inception_score(probs)
out = {
    "real": real.tolist(),
    "fake": fake.tolist(),
    "probabilities": probs.tolist(),
    "fid": fid(real, fake),
    "fid_same": fid(real, real),
    "kid_first250": kid_one_subset(real[:250], fake),
    "precision": p, "recall": r, "density": de, "coverage": co,
    "is_mean": is_mean, "is_std": is_std,
}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "Rebalance.Evaluation.Tests", "Fixtures", "quality_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print({k: v for k, v in out.items() if not isinstance(v, list)})
