#!/usr/bin/env python3
"""The ConCURL training step of `sweep bench` in PyTorch eager + kornia, for the
comparison of `make bench-compare` (issue: ahead of PyTorch on the same machine).

Same computation as src/train/step.rs for the named configurations of
src/train/bench.rs: ResNet-18 (BasicBlock, cifar stem, channel width multiplier),
BYOL projector/predictor and cluster head (Linear-BN-ReLU-Linear, 4096 -> 256 and
2048 -> 256), K = 10 prototypes, M projections to d' with orthonormal rows, the
method.md §5 augmentations (kornia, per-image parameters, on the batch's device), L1 +
L2 + L3 with log-space Sinkhorn (eps 0.05, 3 iterations), Adam 5e-4 (foreach),
EMA 0.99 of the target (torch._foreach_lerp_). Prints one line:
    NAME images_per_sec=X median_step=Y
Usage: .venv/bin/python benches/concurl_torch.py cpu-small [--steps 10 --warmup 3]
       [--batch B] [--device cpu|cuda:N] [--channels-last]
`sweep bench NAME --compare` embeds this file and runs it alternating with its own
step; without --channels-last this is plain eager PyTorch (NCHW).
"""
import argparse
import statistics
import time

import kornia.augmentation as K
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # name: (blocks, width, batch)
    "cpu-small": ([2, 2, 2, 2], 0.25, 64),
    "cifar-r18": ([2, 2, 2, 2], 1.0, 256),
    "cifar-r34": ([3, 4, 6, 3], 1.0, 256),
}


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """cifar stem: 3x3 conv stride 1, BN, ReLU, no max-pool; global average pool."""

    def __init__(self, blocks, width):
        super().__init__()
        w = [max(4, round(c * width)) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU())
        layers, cin = [], w[0]
        for i, (n, c) in enumerate(zip(blocks, w)):
            for j in range(n):
                layers.append(Block(cin, c, 2 if (j == 0 and i > 0) else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.dim = cin

    def forward(self, x):
        return self.layers(self.stem(x)).mean((2, 3))


def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o))


def sinkhorn(scores, eps=0.05, iters=3):
    with torch.no_grad():
        b, k = scores.shape
        log_q = scores.t() / eps
        log_q = log_q - torch.logsumexp(log_q.flatten(), 0)
        for _ in range(iters):
            log_q = log_q - torch.logsumexp(log_q, 1, keepdim=True) - torch.log(torch.tensor(float(k)))
            log_q = log_q - torch.logsumexp(log_q, 0, keepdim=True) - torch.log(torch.tensor(float(b)))
        log_q = log_q - torch.logsumexp(log_q, 0, keepdim=True)
        return log_q.exp().t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=sorted(CONFIGS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--m", type=int, default=100)
    ap.add_argument("--d-prime", type=int, default=64)
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the configuration's)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N")
    ap.add_argument("--channels-last", action="store_true",
                    help="encoders and augmented views in channels-last (NHWC) memory format")
    a = ap.parse_args()
    blocks, width, b = CONFIGS[a.name]
    b = a.batch or b
    torch.manual_seed(0)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    enc = ResNet(blocks, width)
    proj, pred, head = mlp(enc.dim, 4096, 256), mlp(256, 4096, 256), mlp(enc.dim, 2048, 256)
    protos = nn.Parameter(torch.randn(10, 256))
    online = nn.ModuleList([enc, proj, pred, head])
    t_enc, t_proj = ResNet(blocks, width), mlp(enc.dim, 4096, 256)
    t_enc.load_state_dict(enc.state_dict())
    t_proj.load_state_dict(proj.state_dict())
    target = nn.ModuleList([t_enc, t_proj]).requires_grad_(False)
    online.to(dev)
    target.to(dev)
    protos = nn.Parameter(protos.detach().to(dev))
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    enc.to(memory_format=fmt)
    t_enc.to(memory_format=fmt)
    params = list(online.parameters()) + [protos]
    opt = torch.optim.Adam(params, lr=5e-4, foreach=True)
    g = torch.randn(a.m, a.d_prime, 256)
    transforms = torch.linalg.qr(g.transpose(1, 2)).Q.transpose(1, 2).to(dev)  # orthonormal rows
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])

    def view(blur_p):
        return nn.Sequential(
            K.RandomResizedCrop((32, 32), scale=(0.08, 1.0)),
            K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8),
            K.RandomGrayscale(p=0.2),
            K.RandomGaussianBlur((3, 3), (0.1, 2.0), p=blur_p),
            K.Normalize(mean, std),
        )

    aug1, aug2 = view(1.0).to(dev), view(0.5).to(dev)
    pool = torch.randint(0, 256, (4 * b, 3, 32, 32), dtype=torch.uint8, device=dev)
    t_params = list(t_enc.parameters()) + list(t_proj.parameters())
    o_params = list(enc.parameters()) + list(proj.parameters())
    t_bufs = [x for x in list(t_enc.buffers()) + list(t_proj.buffers()) if x.is_floating_point()]
    o_bufs = [x for x in list(enc.buffers()) + list(proj.buffers()) if x.is_floating_point()]

    def step(i):
        x = pool[(i % 4) * b:(i % 4 + 1) * b].float() / 255.0
        x1, x2 = aug1(x).contiguous(memory_format=fmt), aug2(x).contiguous(memory_format=fmt)
        y1, y2 = enc(x1), enc(x2)
        w1, w2 = pred(proj(y1)), pred(proj(y2))
        z1, z2 = head(y1), head(y2)
        with torch.no_grad():
            v1, v2 = t_proj(t_enc(x1)), t_proj(t_enc(x2))
        l1 = (2 - 2 * (F.normalize(w1, dim=1) * F.normalize(v2, dim=1)).sum(1)).mean() + (
            2 - 2 * (F.normalize(w2, dim=1) * F.normalize(v1, dim=1)).sum(1)).mean()
        c = F.normalize(protos, dim=1)
        s1, s2 = F.normalize(z1, dim=1) @ c.t(), F.normalize(z2, dim=1) @ c.t()
        q1, q2 = sinkhorn(s1.detach()), sinkhorn(s2.detach())
        l2 = -0.5 * ((q2 * F.log_softmax(s1 / 0.1, 1)).sum(1).mean() + (q1 * F.log_softmax(s2 / 0.1, 1)).sum(1).mean())
        # L3: all M maps in one einsum over the stacked rows [z1; z2; C].
        rows = torch.einsum("mde,ne->mnd", transforms, torch.cat([z1, z2, protos]))
        rows = F.normalize(rows, dim=2)
        zt1, zt2, ct = rows[:, :b], rows[:, b:2 * b], rows[:, 2 * b:]
        lp1 = F.log_softmax(torch.bmm(zt1, ct.transpose(1, 2)) / 0.1, 2)
        lp2 = F.log_softmax(torch.bmm(zt2, ct.transpose(1, 2)) / 0.1, 2)
        l3 = -0.5 * ((q2 * lp1).sum(2).mean() + (q1 * lp2).sum(2).mean())
        loss = l1 + l2 + l3
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(t_params, o_params, 0.01)
            torch._foreach_lerp_(t_bufs, o_bufs, 0.01)
        return loss

    for i in range(a.warmup):
        step(i)
    sync()
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        loss = step(i)
        sync()
        times.append(time.perf_counter() - t0)
    assert torch.isfinite(loss)
    med = statistics.median(times)
    print(f"{a.name} images_per_sec={b / med:.1f} median_step={med:.4f}")


if __name__ == "__main__":
    main()
