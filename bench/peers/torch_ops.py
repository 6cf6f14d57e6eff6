#!/usr/bin/env python3
"""PyTorch peer for the Rebalance micro-benchmarks.

Reads a JSON list of workloads on stdin, times each one with the same protocol as the C# harness
(warm-up, then rounds of at least `min_seconds`, best round reported) and prints one JSON object per
line: {"name": ..., "seconds_per_iter": ...}. Runs with 2 threads unless REBALANCE_PEER_THREADS says
otherwise.

Workload kinds:
  gemm:  {"kind": "gemm", "name", "m", "n", "k"}
  conv2d / conv_transpose2d: {"kind", "name", "n", "cin", "h", "w", "cout", "k", "stride", "padding",
         "output_padding"}; timed as forward + backward (input and weight gradients).
"""
import json
import os
import sys
import time

import torch

import peer_info


def best_round(fn, min_seconds, rounds=3):
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(rounds):
        iters = 0
        start = time.perf_counter()
        while True:
            fn()
            iters += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds and iters >= 3:
                break
        best = min(best, elapsed / iters)
    return best


def make(w):
    g = torch.Generator().manual_seed(0)
    if w["kind"] == "gemm":
        a = torch.rand(w["m"], w["k"], generator=g)
        b = torch.rand(w["k"], w["n"], generator=g)
        c = torch.empty(w["m"], w["n"])
        return lambda: torch.mm(a, b, out=c)
    n, cin, h, wd, cout, k = w["n"], w["cin"], w["h"], w["w"], w["cout"], w["k"]
    s, p = w["stride"], w["padding"]
    x = torch.rand(n, cin, h, wd, generator=g).requires_grad_()
    if w["kind"] == "conv2d":
        weight = torch.rand(cout, cin, k, k, generator=g).requires_grad_()
        fwd = lambda: torch.nn.functional.conv2d(x, weight, None, s, p)
    else:
        weight = torch.rand(cin, cout, k, k, generator=g).requires_grad_()
        op = w.get("output_padding", 0)
        fwd = lambda: torch.nn.functional.conv_transpose2d(x, weight, None, s, p, op)
    gy = torch.rand_like(fwd().detach())

    def step():
        # Gradients are zeroed in place and accumulated into, as optimizer.zero_grad() does by default in
        # PyTorch 1.13 (and as torch_train.py and our side do).
        if x.grad is not None:
            x.grad.zero_()
            weight.grad.zero_()
        fwd().backward(gy)

    return step


def main():
    torch.set_num_threads(int(os.environ.get("REBALANCE_PEER_THREADS", "2")))
    print(json.dumps({"info": peer_info.describe()}), flush=True)
    spec = json.load(sys.stdin)
    for w in spec["workloads"]:
        sec = best_round(make(w), spec.get("min_seconds", 1.0))
        print(json.dumps({"name": w["name"], "seconds_per_iter": sec}), flush=True)


if __name__ == "__main__":
    main()
