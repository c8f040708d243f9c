#!/usr/bin/env python3
"""Load a finished sweep run's exported model with plain PyTorch and assign clusters.

    python scripts/load_export.py RUN_DIR IMAGES [--out FILE]

RUN_DIR holds `online.safetensors` (the online network under its parameter
names) and `model.json` (what is needed to rebuild it: see src/train/model_files.rs).
IMAGES is a uint8 N x C x H x W array, as `.npy` or as `.safetensors` (its first
tensor), with C = model.json's `image_channels`.

Rebuilds the ResNet encoder f_theta, the cluster head g and the prototypes C
(method.md §2), applies the evaluation transform (method.md §5: /255, grey to RGB,
antialiased bilinear resize to R, normalise, optional Sobel) and assigns each
image as `sweep` does (method.md §7): s = z/||z|| . (C/||C||)^T in float32, then in
float64 the Sinkhorn codes over the whole set (argmax and max: columns `codes`,
`codes_conf`) and p = softmax(s / tau) (`p`, `p_conf`). Writes CSV
`index,codes,codes_conf,p,p_conf` to FILE or stdout.

Needs only torch (and numpy for .npy): the safetensors format (8-byte
little-endian header length, a JSON header, raw little-endian bytes) is read here
directly, so the `safetensors` package is not required.
"""
import argparse
import json
import math
import struct
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
BN_EPS = 1e-5  # tch's BatchNorm default, as the run used it
LUMA = (0.299, 0.587, 0.114)  # src/augment/color.rs


def read_safetensors(path):
    """{name: tensor} from a .safetensors file."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        t = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


class Export:
    """The encoder, cluster head and prototypes of one run, in eval mode."""

    def __init__(self, run_dir):
        run_dir = Path(run_dir)
        self.card = json.loads((run_dir / "model.json").read_text())
        self.w = read_safetensors(run_dir / self.card["weights"])
        names = set(self.card["parameters"]["encoder"]) | set(self.card["parameters"]["head"])
        missing = sorted(n for n in names | {self.card["parameters"]["prototypes"]} if n not in self.w)
        if missing:
            raise SystemExit(f"{run_dir}: weights lack {missing[:5]}")

    def bn(self, x, p):
        w = self.w
        return F.batch_norm(x, w[p + ".running_mean"], w[p + ".running_var"], w[p + ".weight"], w[p + ".bias"],
                            training=False, eps=BN_EPS)

    def conv(self, x, p, stride, padding):
        return F.conv2d(x, self.w[p + ".weight"], None, stride, padding)

    def encoder(self, x):
        e = self.card["encoder"]
        if e["stem"] == "cifar":
            h = F.relu(self.bn(self.conv(x, "encoder.conv1", 1, 1), "encoder.bn1"))
        else:
            h = F.relu(self.bn(self.conv(x, "encoder.conv1", 2, 3), "encoder.bn1"))
            h = F.max_pool2d(h, 3, 2, 1)
        for i, n in enumerate(e["blocks"]):
            for j in range(n):
                p = f"encoder.layer{i + 1}.{j}"
                stride = 2 if (i > 0 and j == 0) else 1
                y = F.relu(self.bn(self.conv(h, p + ".conv1", stride, 1), p + ".bn1"))
                y = self.bn(self.conv(y, p + ".conv2", 1, 1), p + ".bn2")
                if p + ".downsample.0.weight" in self.w:
                    h = self.bn(self.conv(h, p + ".downsample.0", stride, 0), p + ".downsample.1")
                h = F.relu(h + y)
        return F.adaptive_avg_pool2d(h, 1).flatten(1)

    def head(self, y):
        w = self.w
        h = F.linear(y, w["head.fc1.weight"], w["head.fc1.bias"])
        h = F.relu(self.bn(h, "head.bn1"))
        return F.linear(h, w["head.fc2.weight"], w["head.fc2.bias"])

    def eval_transform(self, images):
        """uint8 N x C x H x W -> the network input (Augmenter::eval)."""
        c, t = self.card, self.card["eval_transform"]
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise SystemExit(f"images must be uint8 N x C x H x W, got {images.dtype} {tuple(images.shape)}")
        if images.shape[1] != c["image_channels"]:
            raise SystemExit(f"the run was trained on {c['image_channels']}-channel images, these have {images.shape[1]}")
        x = images.float() / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        r = c["resolution"]
        if x.shape[2] != r or x.shape[3] != r:
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
        mean = torch.tensor(t["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(t["std"], dtype=torch.float32).view(1, 3, 1, 1)
        n = (x - mean) / std
        if t["sobel"] == "off":
            return n
        grey = n[:, 0:1] * LUMA[0] + n[:, 1:2] * LUMA[1] + n[:, 2:3] * LUMA[2]
        gx = torch.tensor([1.0, 0.0, -1.0, 2.0, 0.0, -2.0, 1.0, 0.0, -1.0])
        gy = torch.tensor([1.0, 2.0, 1.0, 0.0, 0.0, 0.0, -1.0, -2.0, -1.0])
        s = F.conv2d(grey, torch.stack([gx, gy]).view(2, 1, 3, 3), None, 1, 1)
        return s if t["sobel"] == "sobel" else torch.cat([n, s], 1)

    @torch.no_grad()
    def assign(self, images):
        """(codes, codes_conf, p, p_conf) of every image, codes over the whole set."""
        c = self.card
        z = self.head(self.encoder(self.eval_transform(images)))
        protos = self.w[c["parameters"]["prototypes"]]
        norm = lambda v: v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        s = (norm(z) @ norm(protos).T).double()
        q = sinkhorn(s, c["sinkhorn_eps"], c["sinkhorn_iters"])
        p = torch.softmax(s / c["tau"], dim=-1)
        qmax, qarg = q.max(-1)
        pmax, parg = p.max(-1)
        return qarg, qmax, parg, pmax


def sinkhorn(scores, eps, iters):
    """Sinkhorn-Knopp in log space (src/loss/sinkhorn.rs): rows sum to 1/B, columns to 1/K, then rows renormalised."""
    b, k = scores.shape
    log_q = scores / eps
    log_q = log_q - torch.logsumexp(log_q.flatten(), 0)
    for _ in range(iters):
        log_q = log_q - torch.logsumexp(log_q, 0, keepdim=True) - math.log(k)
        log_q = log_q - torch.logsumexp(log_q, 1, keepdim=True) - math.log(b)
    return (log_q - torch.logsumexp(log_q, 1, keepdim=True)).exp()


def load_images(path):
    if str(path).endswith(".npy"):
        import numpy as np
        return torch.from_numpy(np.load(path))
    tensors = read_safetensors(path)
    return next(iter(tensors.values()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("images")
    ap.add_argument("--out")
    a = ap.parse_args()
    codes, codes_conf, p, p_conf = Export(a.run_dir).assign(load_images(a.images))
    lines = ["index,codes,codes_conf,p,p_conf"]
    for i in range(len(codes)):
        lines.append(f"{i},{codes[i].item()},{codes_conf[i].item():.6f},{p[i].item()},{p_conf[i].item():.6f}")
    text = "\n".join(lines) + "\n"
    if a.out:
        Path(a.out).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
