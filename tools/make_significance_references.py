#!/usr/bin/python3
"""Writes tests/Rebalance.Evaluation.Tests/Fixtures/significance_reference.json: paired differences over
seeds with their 95% t intervals, Wilcoxon signed-rank p-values (exact without ties or zeros, the normal
approximation otherwise), Friedman tests with tied scores, and Nemenyi's q at alpha 0.05, all from scipy,
for the C# Significance class to match.

Run: /usr/bin/python3 tools/make_significance_references.py  (Debian's python3-scipy; deterministic)
"""
import json
import os
import warnings

import numpy as np
from scipy import stats

warnings.simplefilter("ignore")
rng = np.random.default_rng(11)
out = {"paired": [], "wilcoxon": [], "friedman": [], "nemenyi_q": {}}

for n, shift in [(1, 0.5), (2, 0.5), (3, 1.0), (5, -0.2), (6, 0.8), (10, 0.1), (30, 0.3)]:
    a = rng.normal(80, 1, n).round(4)
    b = (a - shift + rng.normal(0, 0.7, n)).round(4)
    d = a - b
    case = {"a": a.tolist(), "b": b.tolist(), "mean": float(d.mean())}
    if n >= 2:
        half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)
        case["low"], case["high"] = float(d.mean() - half), float(d.mean() + half)
    if n >= 6:
        case["wilcoxon_p"] = float(stats.wilcoxon(a, b).pvalue)
    out["paired"].append(case)

def wilcoxon_case(name, d, method):
    out["wilcoxon"].append({"name": name, "d": [float(v) for v in d], "p": float(stats.wilcoxon(d, method=method).pvalue)})

wilcoxon_case("exact, 6 all positive", [0.5, 1.2, 0.3, 2.0, 0.9, 1.6], "exact")
wilcoxon_case("exact, 8 mixed", [0.5, -1.2, 0.3, 2.0, -0.9, 1.6, 0.05, 0.7], "exact")
wilcoxon_case("exact, 12 mixed", list(rng.normal(0.3, 1, 12).round(3)), "exact")
wilcoxon_case("exact, centre of the distribution", [1, -2, 3, -4, -5, 6, 7, -8], "exact")
wilcoxon_case("approx, tied magnitudes", [0.5, -0.5, 1.0, 1.0, 2.0, -1.5, 0.5, 3.0], "approx")
wilcoxon_case("approx, zeros dropped", [0.0, 0.4, -0.2, 1.1, 0.0, 0.9, 1.3, -0.6, 0.8], "approx")
wilcoxon_case("approx, 60 differences", list(rng.normal(0.2, 1, 60).round(3)), "auto")

def friedman_case(name, scores):
    scores = np.asarray(scores, dtype=float)
    stat, p = stats.friedmanchisquare(*scores.T)
    ranks = np.mean([stats.rankdata(-row) for row in scores], axis=0)
    out["friedman"].append({"name": name, "scores": scores.tolist(), "statistic": float(stat), "p": float(p), "average_ranks": ranks.tolist()})

friedman_case("3 seeds, 4 methods", rng.normal(80, 2, (3, 4)).round(2))
friedman_case("5 seeds, 6 methods, ties", [[80, 81, 81, 79, 82, 80], [78, 80, 79, 79, 81, 77], [82, 83, 82, 80, 84, 81], [79, 79, 79, 78, 80, 78], [81, 82, 80, 80, 83, 79]])
friedman_case("10 seeds, 3 methods", rng.normal(80, 1, (10, 3)).round(3))

for k in range(2, 13):
    out["nemenyi_q"][str(k)] = float(stats.studentized_range.ppf(0.95, k, np.inf) / np.sqrt(2))

path = os.path.join(os.path.dirname(__file__), "..", "tests", "Rebalance.Evaluation.Tests", "Fixtures", "significance_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
