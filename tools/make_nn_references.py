#!/usr/bin/python3
"""Writes tests/Rebalance.Nn.Tests/Fixtures/torch_reference.safetensors: inputs, weights, outputs and
gradients of layers, optimiser trajectories and learning-rate schedules computed by PyTorch, for the
Rebalance.Nn tests to compare against. Run with the Debian PyTorch: /usr/bin/python3 tools/make_nn_references.py
The safetensors file is written by hand (struct + json) so no extra package is needed."""
import json
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(1234)
out = {}
meta = {"producer": "tools/make_nn_references.py", "torch": torch.__version__}


def put(name, t):
    # Clone: a stored view would follow later in-place updates (optimiser steps, running statistics).
    out[name] = t.detach().clone().contiguous().to(torch.float32) if t.dtype.is_floating_point else t.detach().clone().contiguous().to(torch.int32)


def layer_case(name, module, x, extra_inputs=()):
    """Forward, then backward of sum(y * r): records x, r, y, grads of x and of every parameter."""
    x = x.clone().requires_grad_(True)
    for pname, p in module.state_dict().items():
        put(f"{name}.param.{pname}", p)
    y = module(x, *extra_inputs)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    put(f"{name}.x", x)
    put(f"{name}.r", r)
    put(f"{name}.y", y)
    put(f"{name}.grad.x", x.grad)
    for pname, p in module.named_parameters():
        put(f"{name}.grad.{pname}", p.grad)
    for bname, b in module.named_buffers():
        put(f"{name}.after.{bname}", b)


layer_case("linear", nn.Linear(7, 5), torch.randn(4, 7))
layer_case("conv_k3s1p1", nn.Conv2d(3, 4, 3, stride=1, padding=1), torch.randn(2, 3, 6, 6))
layer_case("conv_k4s2p1", nn.Conv2d(2, 3, 4, stride=2, padding=1), torch.randn(2, 2, 8, 8))
layer_case("convT_k4s2p1", nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), torch.randn(2, 3, 4, 4))
bn1 = nn.BatchNorm1d(5)
with torch.no_grad():
    bn1.weight.uniform_(0.5, 1.5)
    bn1.bias.uniform_(-0.5, 0.5)
layer_case("bn1d_train", bn1, torch.randn(6, 5) * 2 + 1)
bn2 = nn.BatchNorm2d(3)
with torch.no_grad():
    bn2.weight.uniform_(0.5, 1.5)
    bn2.bias.uniform_(-0.5, 0.5)
layer_case("bn2d_train", bn2, torch.randn(4, 3, 5, 5) * 3 - 1)
bn2e = nn.BatchNorm2d(3)
with torch.no_grad():
    bn2e.running_mean.uniform_(-1, 1)
    bn2e.running_var.uniform_(0.5, 2)
    bn2e.weight.uniform_(0.5, 1.5)
bn2e.eval()
layer_case("bn2d_eval", bn2e, torch.randn(2, 3, 4, 4))
ln = nn.LayerNorm([4, 3])
with torch.no_grad():
    ln.weight.uniform_(0.5, 1.5)
    ln.bias.uniform_(-0.5, 0.5)
layer_case("layernorm", ln, torch.randn(5, 4, 3))


class Up(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")


layer_case("upsample", Up(), torch.randn(2, 2, 3, 3))


class MbStd(nn.Module):
    """ProGAN minibatch standard deviation, group size 2."""

    def forward(self, x):
        n, c, h, w = x.shape
        g = min(2, n)
        y = x.reshape(g, -1, c, h, w)
        y = y - y.mean(0, keepdim=True)
        y = (y.pow(2).mean(0) + 1e-8).sqrt()
        y = y.mean([1, 2, 3])
        y = y.reshape(1, -1, 1, 1, 1).expand(g, -1, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, y], 1)


layer_case("mbstd", MbStd(), torch.randn(4, 3, 2, 2))


class MbDisc(nn.Module):
    """Salimans et al. minibatch discrimination, 4 kernels of 3 dims."""

    def __init__(self):
        super().__init__()
        self.T = nn.Parameter(torch.randn(6, 4 * 3))

    def forward(self, x):
        m = (x @ self.T).reshape(-1, 4, 3)
        diff = m.unsqueeze(0) - m.unsqueeze(1)
        c = torch.exp(-diff.abs().sum(3))
        return torch.cat([x, c.sum(0) - 1], 1)


layer_case("mbdisc", MbDisc(), torch.randn(5, 6) * 0.3)


class CondBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3, affine=False)
        self.embed = nn.Embedding(4, 6)

    def forward(self, x, y):
        h = self.bn(x)
        gb = self.embed(y)
        return h * gb[:, :3].reshape(-1, 3, 1, 1) + gb[:, 3:].reshape(-1, 3, 1, 1)


labels = torch.tensor([0, 3, 1, 3])
put("condbn.labels", labels)
layer_case("condbn", CondBN(), torch.randn(4, 3, 2, 2), (labels,))


class Emb(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 3)

    def forward(self, idx):
        return self.emb(idx)


emb = Emb()
idx = torch.tensor([[0, 4, 2], [4, 4, 1]])
put("embedding.idx", idx)
for pname, p in emb.state_dict().items():
    put(f"embedding.param.{pname}", p)
ye = emb(idx)
re = torch.randn_like(ye)
(ye * re).sum().backward()
put("embedding.y", ye)
put("embedding.r", re)
put("embedding.grad.emb.weight", emb.emb.weight.grad)

# Spectral norm: one training forward (one power iteration) from known u, v, then one in eval mode.
sn = nn.utils.spectral_norm(nn.Linear(6, 4))
put("spectral.param.weight_orig", sn.weight_orig)
put("spectral.param.bias", sn.bias)
put("spectral.u0", sn.weight_u)
put("spectral.v0", sn.weight_v)
xs = torch.randn(3, 6)
put("spectral.x", xs)
put("spectral.y_train", sn(xs))
put("spectral.u1", sn.weight_u)
put("spectral.v1", sn.weight_v)
sn.eval()
put("spectral.y_eval", sn(xs))
snc = nn.utils.spectral_norm(nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1))
put("spectral_convT.param.weight_orig", snc.weight_orig)
put("spectral_convT.param.bias", snc.bias)
put("spectral_convT.u0", snc.weight_u)
put("spectral_convT.v0", snc.weight_v)
xc = torch.randn(2, 3, 3, 3)
put("spectral_convT.x", xc)
put("spectral_convT.y_train", snc(xc))
put("spectral_convT.u1", snc.weight_u)

# Losses as used by the reference workloads.
logits = torch.randn(6, 4)
target = torch.tensor([0, 3, 1, 1, 2, 0])
put("loss.logits", logits)
put("loss.target", target)
put("loss.ce", F.cross_entropy(logits, target).reshape(1))
put("loss.bce", F.binary_cross_entropy_with_logits(logits, (torch.randn(6, 4) > 0).float() * 0 + 1).reshape(1))

# Optimisers: three steps from p0 with fixed gradients g1..g3.
p0 = torch.randn(10)
grads = [torch.randn(10) for _ in range(3)]
put("optim.p0", p0)
for i, g in enumerate(grads):
    put(f"optim.g{i + 1}", g)
configs = {
    "sgd": lambda p: torch.optim.SGD([p], lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001),
    "adam": lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.5, 0.999), weight_decay=0.01),
    "adam_amsgrad": lambda p: torch.optim.Adam([p], lr=0.01, amsgrad=True),
    "adamw": lambda p: torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.99), weight_decay=0.1),
    "rmsprop": lambda p: torch.optim.RMSprop([p], lr=0.01),
    "rmsprop_centered": lambda p: torch.optim.RMSprop([p], lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01),
}
for name, make in configs.items():
    p = p0.clone().requires_grad_(True)
    opt = make(p)
    for i, g in enumerate(grads):
        p.grad = g.clone()
        opt.step()
        put(f"optim.{name}.p{i + 1}", p)

# Schedules: learning rates over 12 epochs from 0.1.
def lrs(make, metrics=None):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    rates = []
    for e in range(12):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        rates.append(opt.param_groups[0]["lr"])
    return torch.tensor(rates, dtype=torch.float64)


put("sched.step", lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)))
put("sched.exp", lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.8)))
put("sched.cosine", lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.001)))
plateau_metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.85, 0.86, 0.87, 0.88, 0.84, 0.849, 0.85]
put("sched.plateau_metrics", torch.tensor(plateau_metrics))
put("sched.plateau", lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1), plateau_metrics))

# Spectral norm, two training forwards in one step (as a discriminator sees real, then fake images):
# each forward runs a power iteration, and the gradient of each output must use that forward's own u, v.
# Drawn last so the values above stay as they were.
sn2 = nn.utils.spectral_norm(nn.Linear(5, 4))
put("spectral2.param.weight_orig", sn2.weight_orig)
put("spectral2.param.bias", sn2.bias)
put("spectral2.u0", sn2.weight_u)
put("spectral2.v0", sn2.weight_v)
xa = torch.randn(3, 5)
xb = torch.randn(2, 5)
ra = torch.randn(3, 4)
rb = torch.randn(2, 4)
put("spectral2.xa", xa)
put("spectral2.xb", xb)
put("spectral2.ra", ra)
put("spectral2.rb", rb)
ya = sn2(xa)
yb = sn2(xb)
((ya * ra).sum() + (yb * rb).sum()).backward()
put("spectral2.grad.weight_orig", sn2.weight_orig.grad)
put("spectral2.grad.bias", sn2.bias.grad)
put("spectral2.u2", sn2.weight_u)

# Write safetensors by hand.
header = {"__metadata__": meta}
blobs = []
offset = 0
for name in sorted(out):
    t = out[name]
    data = t.numpy().tobytes()
    header[name] = {"dtype": "F32" if t.dtype == torch.float32 else "I32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
hb = json.dumps(header, separators=(",", ":")).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
path = sys.argv[1] if len(sys.argv) > 1 else "tests/Rebalance.Nn.Tests/Fixtures/torch_reference.safetensors"
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hb)))
    f.write(hb)
    for b in blobs:
        f.write(b)
print(f"wrote {len(out)} tensors to {path}")
