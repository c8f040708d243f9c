#!/usr/bin/env bash
# The GPU checks of the results issue in one prepared pass, for a lent machine that
# has PyTorch (for its libtorch) but no Rust. In order, each under its own time
# limit so that the pass ends inside TOTAL_S seconds:
#   1. `sweep doctor`;
#   2. `sweep bench` of cifar-r18 and cifar-r34 on cuda:0, float32 and bf16, and a
#      packed bench (8 runs at once); stops here if CUDA training fails;
#   3. the CPU-scale MNIST sweeps that have not run on the CPU
#      (sweeps/cpu/table5-mnist.toml, sweeps/cpu/beyond-mnist.toml), many runs
#      sharing the GPU, for at most MNIST_S seconds;
#   4. sweeps/gpu/cifar10.toml (ConCURL and BYOL, three seeds, six runs sharing the
#      GPU); where the file holds the placeholders @EPOCHS@, @EVERY@, @BF16@ and
#      @PRECISION@ (as it did before its first run), they are set from the
#      throughput measured in step 2 so that it fits the seconds left.
# Everything lands in $OUT: the logs, the CIFAR sweep file as run, and the stores
# without checkpoints (render them with `sweep report STORE`).
#
# Inputs, carried in .gpu/ (git-ignored): sweep.gz (the stripped target/release/sweep-engine, which does every command),
# test_batch.bin.gz (CIFAR-10's test batch) and mnist/*.gz. Usage there:
#   OUT=/some/dir TOTAL_S=500 bash scripts/gpu-check.sh
set -u
: "${OUT:?set OUT to the folder for the results}"
TOTAL_S=${TOTAL_S:-500}
MNIST_S=${MNIST_S:-150}
T0=$(date +%s)
left() { echo $((TOTAL_S - ($(date +%s) - T0))); }
W=/tmp/gpu-check
mkdir -p "$W/data/cifar-10/cifar-10-batches-bin" "$W/data/mnist"
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
gunzip -c .gpu/sweep.gz > "$W/sweep" && chmod +x "$W/sweep"
gunzip -c .gpu/test_batch.bin.gz > "$W/data/cifar-10/cifar-10-batches-bin/test_batch.bin"
cp .gpu/mnist/* "$W/data/mnist/"
# The test batch alone, unpacked, is all that the test split reads (the 2026-12-04
# pass, on a binary whose presence check still asked for every split, put an
# empty archive beside it).
export SWEEP_DATA="$W/data"
S="$W/sweep"
stamp() { echo "== $(date +%T) (+$(($(date +%s) - T0)) s) $*"; }

# 1.
{ stamp doctor; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; timeout 60 "$S" doctor; } \
  2>&1 | tee "$OUT/doctor.txt"

# 2. Throughput: synchronised medians after warm-up (the bench does both).
{
  for cfg in cifar-r18 cifar-r34; do
    for p in "" "--bf16"; do
      stamp "bench $cfg $p"
      timeout 90 "$S" bench "$cfg" --device cuda:0 $p --warmup 5 --steps 20
    done
  done
  stamp "bench cifar-r18 --pack 8"
  timeout 120 "$S" bench cifar-r18 --device cuda:0 --pack 8 --warmup 3 --steps 10
} 2>&1 | tee "$OUT/bench.txt"
# images/s of the n-th single-run bench (1: r18 float32, 2: r18 bf16).
rate() { grep -o 'throughput: *[0-9.]* images' "$OUT/bench.txt" | sed -n "${1}p" | awk '{print $2}'; }
fp32=$(rate 1); bf16=$(rate 2)
gain=$(grep -o 'throughput: [0-9.]*x' "$OUT/bench.txt" | head -1 | grep -o '[0-9.]*[0-9]' || true)
echo "r18 float32 ${fp32:-?} images/s, bf16 ${bf16:-?} images/s, packed/sequential ${gain:-?}" | tee -a "$OUT/bench.txt"
if [ -z "$fp32" ]; then echo "no throughput measured: the CUDA bench failed (bench.txt)"; exit 1; fi

# 3. Both MNIST sweeps at once, then whatever finished comes back (MNIST_S=0: skipped).
[ "$MNIST_S" -gt 0 ] && {
  stamp "MNIST sweeps, at most $MNIST_S s"
  timeout -s INT -k 20 "$MNIST_S" "$S" run sweeps/cpu/table5-mnist.toml --devices cuda:0 --per-device 4 --isolate --threads 2 \
    --offline --store "$W/mnist/table5" --no-report --plain &
  timeout -s INT -k 20 "$MNIST_S" "$S" run sweeps/cpu/beyond-mnist.toml --devices cuda:0 --per-device 5 --isolate --threads 2 \
    --offline --store "$W/mnist/beyond" --no-report --plain &
  wait; pkill -f "exec-run" || true; sleep 2
  stamp "MNIST sweeps ended"
} > "$OUT/mnist-run.txt" 2>&1 && \
  tar czf "$OUT/mnist-stores.tgz" -C "$W" --exclude='*.ot' --exclude='*.safetensors' mnist

# 4. Precision: bf16 when at least 10% faster. Epochs: six runs share the GPU at
# the packed throughput (at most twice the single one); 55% of the time is kept
# for evaluations, start-up and the t-SNE.
RUN_S=$(( $(left) - 30 ))
read -r BF16 PREC RATE EPOCHS EVERY < <(python3 - "$fp32" "${bf16:-0}" "${gain:-1}" "$RUN_S" <<'PY'
import sys
fp32, bf16, gain, run_s = (float(x) for x in sys.argv[1:])
use_bf16 = bf16 >= 1.1 * fp32
rate = bf16 if use_bf16 else fp32
per_run = rate * max(1.0, min(gain, 2.0)) / 6
epochs = int(max(2, min(200, 0.45 * run_s * per_run / 10000)))
every = max(1, epochs // 5)
epochs = every * (epochs // every)
print("true" if use_bf16 else "false", "bf16" if use_bf16 else "float32", int(rate), epochs, every)
PY
)
echo "CIFAR-10: $RUN_S s left: $EPOCHS epochs, evaluated every $EVERY, bf16=$BF16 (single-run rate $RATE images/s)" \
  | tee -a "$OUT/bench.txt"
sed -i -e "s/@EPOCHS@/$EPOCHS/g" -e "s/@EVERY@/$EVERY/g" -e "s/@BF16@/$BF16/g" -e "s/@PRECISION@/$([ "$PREC" = bf16 ] && echo "bf16 autocast" || echo float32)/g" \
  sweeps/gpu/cifar10.toml
cp sweeps/gpu/cifar10.toml "$OUT/cifar10.toml"
{
  stamp "run sweeps/gpu/cifar10.toml"
  timeout -s INT -k 20 "$RUN_S" "$S" run sweeps/gpu/cifar10.toml --devices cuda:0 --per-device 6 --isolate --threads 2 --offline \
    --store "$W/cifar" --no-report --plain
  stamp "run ended (rc $?)"
} > "$OUT/cifar-run.txt" 2>&1
tar czf "$OUT/cifar-store.tgz" -C "$W" --exclude='*.ot' --exclude='*.safetensors' cifar
stamp done; ls -la "$OUT"
