#!/usr/bin/env python3
"""PyTorch peer for the Rebalance training benchmarks: the reference workloads of DESIGN.md.

Reads {"workloads": [{"name": "dcgan28" | "wgangp28" | "cnn28"}], "min_seconds": S} on stdin, times
one training step of each with the protocol of the C# harness (3 warm-up steps, then 3 rounds of at
least S seconds, best round) and prints {"name": ..., "seconds_per_iter": ...} per line. 2 threads
unless REBALANCE_PEER_THREADS says otherwise.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import peer_info

from torch_ops import best_round


def generator():
    return nn.Sequential(
        nn.Linear(100, 6272), nn.BatchNorm1d(6272), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())


def discriminator(batch_norm):
    layers = [nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(128))
    layers += [nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(6272, 1)]
    return nn.Sequential(*layers)


def dcgan28():
    g, d = generator(), discriminator(True)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    real = torch.rand(64, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)

    def step():
        z = torch.randn(64, 100)
        opt_d.zero_grad()
        fake = g(z)
        loss_d = F.binary_cross_entropy_with_logits(d(real), ones) + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = F.binary_cross_entropy_with_logits(d(fake), ones)
        loss_g.backward()
        opt_g.step()

    return step


def wgangp28():
    g, d = generator(), discriminator(False)
    opt_g = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), 1e-4, betas=(0.0, 0.9))
    real = torch.rand(64, 1, 28, 28) * 2 - 1

    def step():
        z = torch.randn(64, 100)
        opt_d.zero_grad()
        fake = g(z)
        fd = fake.detach()
        eps = torch.rand(64, 1, 1, 1)
        xhat = (eps * real + (1 - eps) * fd).requires_grad_(True)
        grad = torch.autograd.grad(d(xhat).sum(), xhat, create_graph=True)[0]
        gp = ((grad.reshape(64, -1).pow(2).sum(1).sqrt() - 1) ** 2).mean()
        loss_d = d(fd).mean() - d(real).mean() + 10 * gp
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = -d(fake).mean()
        loss_g.backward()
        opt_g.step()

    return step


def cnn28():
    m = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.2), nn.MaxPool2d(2),
        nn.Conv2d(8, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.Dropout(0.2), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 600), nn.ReLU(), nn.Dropout(0.5), nn.Linear(600, 10))
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x = torch.rand(128, 1, 28, 28) * 2 - 1
    y = torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()

    return step


def main():
    torch.set_num_threads(int(os.environ.get("REBALANCE_PEER_THREADS", "2")))
    torch.manual_seed(0)
    print(json.dumps({"info": peer_info.describe()}), flush=True)
    spec = json.load(sys.stdin)
    makers = {"dcgan28": dcgan28, "wgangp28": wgangp28, "cnn28": cnn28}
    for w in spec["workloads"]:
        sec = best_round(makers[w["name"]](), spec.get("min_seconds", 1.0))
        print(json.dumps({"name": w["name"], "seconds_per_iter": sec}), flush=True)


if __name__ == "__main__":
    main()
