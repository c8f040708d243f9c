#!/usr/bin/env python3
"""Is a weak run's representation weak, or only its partition?

    python scripts/encoder_kmeans.py MNIST_DIR RUN_DIR [RUN_DIR ...]

For each finished MNIST run (trained on the 10,000 test images), rebuilds its
exported model with scripts/load_export.py, and prints the ACC (Hungarian) of
  - its Sinkhorn codes over the whole set (what the report scores),
  - k-means (K = 10, 5 restarts, scikit-learn) on the encoder features f(x),
  - k-means on the normalised cluster embeddings z.
Codes well below the encoder's k-means: the partition is the problem; both
low: the representation is. Used for method.md §12 ("The representation first").
One CPU thread, so it can run beside a sweep.
"""
import gzip
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_export  # noqa: E402


def mnist_test(root):
    images = gzip.open(Path(root) / "t10k-images-idx3-ubyte.gz").read()[16:]
    labels = gzip.open(Path(root) / "t10k-labels-idx1-ubyte.gz").read()[8:]
    return np.frombuffer(images, np.uint8).reshape(-1, 1, 28, 28), np.frombuffer(labels, np.uint8)


def acc(y, p):
    k = int(max(y.max(), p.max())) + 1
    w = np.zeros((k, k))
    np.add.at(w, (p, y), 1)
    r, c = linear_sum_assignment(-w)
    return w[r, c].sum() / len(y)


def main():
    torch.set_num_threads(1)
    images, labels = mnist_test(sys.argv[1])
    x = torch.from_numpy(images.copy())
    for run in sys.argv[2:]:
        m = load_export.Export(run)
        with torch.no_grad():
            f = [m.encoder(m.eval_transform(x[i : i + 1000])) for i in range(0, len(x), 1000)]
            z = torch.cat([m.head(y) for y in f])
            z = (z / z.norm(dim=-1, keepdim=True)).numpy()
            f = torch.cat(f).numpy()
        codes = m.assign(x)[0].numpy()
        row = [Path(run).name, f"codes {acc(labels, codes):.3f}"]
        for name, feats in [("encoder k-means", f), ("z k-means", z)]:
            km = KMeans(10, n_init=5, random_state=0).fit(feats)
            row.append(f"{name} {acc(labels, km.labels_):.3f}")
        print("  ".join(row), flush=True)


if __name__ == "__main__":
    main()
