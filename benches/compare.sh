#!/usr/bin/env bash
# `make bench-compare`: the same ConCURL step in sweep (libtorch from Rust) and in
# PyTorch eager + kornia (benches/concurl_torch.py), alternating, ROUNDS rounds
# each; prints the median images/s of each side and their ratio.
# Usage: benches/compare.sh [NAME...]   (default: cpu-small cifar-r18)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-10}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(cpu-small cifar-r18)
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for name in "${names[@]}"; do
  ours=(); theirs=()
  for r in $(seq "$ROUNDS"); do
    ours+=("$(./target/release/sweep bench "$name" --device cpu --steps "$STEPS" | sed -n 's/.*throughput: \([0-9.]*\) images\/s.*/\1/p')")
    theirs+=("$(.venv/bin/python benches/concurl_torch.py "$name" --steps "$STEPS" | sed -n 's/.*images_per_sec=\([0-9.]*\).*/\1/p')")
  done
  o=$(printf '%s\n' "${ours[@]}" | median)
  t=$(printf '%s\n' "${theirs[@]}" | median)
  printf '%-10s sweep %8.1f images/s   PyTorch+kornia %8.1f images/s   ratio %.2f   (rounds: sweep %s; PyTorch %s)\n' \
    "$name" "$o" "$t" "$(awk -v a="$o" -v b="$t" 'BEGIN {print a / b}')" "${ours[*]}" "${theirs[*]}"
done
