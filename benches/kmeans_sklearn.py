#!/usr/bin/env python3
"""scikit-learn's k-means timed on the data `sweep bench kmeans` uses.

    .venv/bin/python benches/kmeans_sklearn.py --n 60000 --d 256 --k 10 --n-init 3

The blobs are defined by a formula that src/eval/kmeans.rs (`bench_blobs`)
implements too, so both sides cluster the same float32 matrix: SplitMix64
(`util::mix_seed`) of (BENCH_SEED, index) gives uniforms in [0, 1); k centres
with coordinates U[-5, 5) (indices offset by 2^40); row i lies in blob i mod k
with U[-2, 2) noise per coordinate.

Prints the median of 3 wall-clock times of KMeans(n_clusters=k, n_init=N,
init="k-means++") (max_iter 300, tol 1e-4, the defaults the Rust side uses) and
the inertia, which should agree with the Rust benchmark's to a few 1e-4.
"""
import argparse
import time

import numpy as np

BENCH_SEED = 20_240_601
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix_seed(seed, salt):
    """util::mix_seed, vectorised over uint64 `salt` (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) ^ (salt * GOLDEN)
        z = z + GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(index):
    return (mix_seed(BENCH_SEED, index) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def bench_blobs(n, d, k):
    """Row-major n x d float32, as `bench_blobs` in src/eval/kmeans.rs."""
    cidx = np.uint64(1 << 40) + np.arange(k * d, dtype=np.uint64)
    centers = (10.0 * (uniform(cidx) - 0.5)).reshape(k, d)
    noise = (4.0 * (uniform(np.arange(n * d, dtype=np.uint64)) - 0.5)).reshape(n, d)
    return (centers[np.arange(n) % k] + noise).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    from sklearn.cluster import KMeans

    x = bench_blobs(args.n, args.d, args.k)
    times, inertia = [], float("nan")
    for _ in range(args.reps):
        t0 = time.perf_counter()
        km = KMeans(n_clusters=args.k, n_init=args.n_init, init="k-means++", random_state=0).fit(x)
        times.append(time.perf_counter() - t0)
        inertia = float(km.inertia_)
    print(f"sklearn KMeans n={args.n} d={args.d} k={args.k} n_init={args.n_init}: "
          f"median {np.median(times):.3f} s over {args.reps} (inertia {inertia:.6e})")


if __name__ == "__main__":
    main()
