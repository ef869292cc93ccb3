#!/usr/bin/env bash
# Runs on the GPU machine (through the device tool), from the repository root, with .cudacarry
# (tools/cuda_prepare_carry.sh) carried along: measures the copy bandwidth, runs the GPU op tests,
# benchmarks random-weight Llama-3.2-1B and Qwen-2.5-7B shaped MLX 4-bit models (pp512, tg128)
# against the bandwidth limit, then the whole-model parity tests. Results go to $OUT.
#   tools/cuda_device_run.sh [steps...]   (default: bw ops bench1b bench7b model; also
#   prof1b, prof1bpp, prof7b: Nsight Compute per-kernel times of one decode / prefill pass;
#   GTEST_FILTER narrows the test steps)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/cuda_out}
# Unpack the carried binaries and libraries (tools/cuda_prepare_carry.sh) to local disk.
C=/tmp/cudacarry
if [ ! -x $C/bin/ollmlx ]; then
  mkdir -p $C
  python3 -c "import tarfile; tarfile.open('.cudacarry/binlib.tar.xz').extractall('$C')"
  ln -sfn "$PWD/.cudacarry/fixtures" $C/fixtures
fi
mkdir -p "$OUT"
S="$OUT/summary.txt"
# cuBLAS comes from the device's CUDA 13 (usually /usr/local/cuda/lib64; else wherever it is).
CUBLAS_DIR=/usr/local/cuda/lib64
[ -e $CUBLAS_DIR/libcublas.so.13 ] || CUBLAS_DIR=$(dirname "$(find / -name 'libcublas.so.13' -not -path '*/proc/*' 2>/dev/null | head -1)")
run() { LD_LIBRARY_PATH="$C/lib:$CUBLAS_DIR:${LD_LIBRARY_PATH:-}" "$@"; }
step() { echo "== $(date +%T) $*" | tee -a "$S"; }
steps=${*:-bw ops bench1b bench7b model}

step "start; steps: $steps"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv >> "$S" 2>&1
run ldd $C/bin/ollmlx | grep -E "not found|cublas" >> "$S" 2>&1

for s in $steps; do
  case $s in
    bw)
      step "bandwidth"
      timeout 120 python3 tools/gpu_bandwidth.py > "$OUT/bandwidth.json" 2>> "$S"
      cat "$OUT/bandwidth.json" >> "$S" ;;
    ops)
      step "op tests"
      run timeout 180 $C/bin/test_cuda_ops > "$OUT/test_cuda_ops.log" 2>&1
      echo "rc=$?" >> "$S"
      grep -E "^\[  (PASSED|FAILED) |^\[  FAILED  \]|tests ran" "$OUT/test_cuda_ops.log" | tail -20 >> "$S" ;;
    bench1b|bench7b)
      shape=llama-3.2-1b; [ $s = bench7b ] && shape=qwen-2.5-7b
      step "make $shape"
      timeout 200 python3 tools/make_random_mlx_model.py --shape $shape --out /tmp/$shape >> "$S" 2>&1
      step "bench $shape"
      # tg128 after a 512-token prompt, pp512, and 32 sequences decoded together (aggregate);
      # then the same with CUDA graphs off (eager launches) for comparison.
      run env OLLMLX_DEVICE=cuda timeout 240 $C/bin/ollmlx bench -m /tmp/$shape -p 512 -n 128 -d 512 \
        --parallel 32 -r 3 --json > "$OUT/bench_$shape.json" 2>> "$S"
      echo "rc=$?" >> "$S"
      run env OLLMLX_DEVICE=cuda OLLMLX_CUDA_GRAPHS=0 timeout 240 $C/bin/ollmlx bench -m /tmp/$shape -p 0 \
        -n 128 -d 512 --parallel 32 -r 2 --json > "$OUT/bench_${shape}_nographs.json" 2>> "$S"
      echo "rc=$?" >> "$S"
      python3 - "$OUT/bench_$shape.json" /tmp/$shape/bench_info.json "$OUT/bandwidth.json" \
        "$OUT/bench_${shape}_nographs.json" >> "$S" 2>&1 <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); info = json.load(open(sys.argv[2]))
try:
    bw = json.load(open(sys.argv[3]))["bandwidth_bytes_per_s"]
except Exception:
    bw = 3.35e12
limit = bw / info["weight_bytes_per_token"]
tg = b["tg"]["tokens_per_s"]; pp = b["pp"]["tokens_per_s"]
par = b.get("tg_parallel", {}).get("tokens_per_s", 0)
print(f"{info['shape']}: weights/token {info['weight_bytes_per_token']/1e9:.3f} GB, limit {limit:.0f} tok/s "
      f"at {bw/1e12:.2f} TB/s; tg128@d512 {tg:.1f} tok/s = {100*tg/limit:.1f}% of the limit; "
      f"pp512 {pp:.0f} tok/s (prefill of 512 tokens {1e3*512/pp:.2f} ms); "
      f"32 seqs aggregate {par:.0f} tok/s = {par/tg:.2f}x batch 1")
try:
    e = json.load(open(sys.argv[4]))
    etg = e["tg"]["tokens_per_s"]; epar = e.get("tg_parallel", {}).get("tokens_per_s", 0)
    print(f"  graphs off: tg128@d512 {etg:.1f} tok/s (graphs {tg/etg:.2f}x), 32 seqs {epar:.0f} tok/s "
          f"(graphs {par/max(epar,1e-9):.2f}x)")
except Exception as ex:
    print("  graphs-off run missing:", ex)
PY
      ;;
    prof1b|prof1bpp|prof7b)
      # Per-kernel GPU time and DRAM traffic of one forward pass (Nsight Compute).
      NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
      shape=llama-3.2-1b; [ $s = prof7b ] && shape=qwen-2.5-7b
      args="-p 0 -n 2 -r 1"; [ $s = prof1bpp ] && args="-p 512 -n 0 -r 1"
      [ -e /tmp/$shape/config.json ] || timeout 200 python3 tools/make_random_mlx_model.py --shape $shape --out /tmp/$shape >> "$S" 2>&1
      step "ncu $s ($args)"
      run env OLLMLX_DEVICE=cuda timeout 200 "$NCU" --clock-control none --csv \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
        --log-file "$OUT/ncu_$s.csv" $C/bin/ollmlx bench -m /tmp/$shape $args > "$OUT/ncu_$s.out" 2>&1
      echo "rc=$?" >> "$S"
      python3 tools/ncu_summary.py "$OUT/ncu_$s.csv" 2>&1 | head -30 | tee -a "$S" > /dev/null ;;
    diag)
      # Why the decode GEMV runs where it does: Nsight Compute sections of two 7B launches
      # (issue utilisation, stall reasons, memory throughput) and the kernel's SASS.
      NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
      [ -e /tmp/qwen-2.5-7b/config.json ] || timeout 200 python3 tools/make_random_mlx_model.py --shape qwen-2.5-7b --out /tmp/qwen-2.5-7b >> "$S" 2>&1
      step "ncu diag"
      run env OLLMLX_DEVICE=cuda timeout 200 "$NCU" --clock-control none -k regex:qgemv_word --launch-skip 300 --launch-count 2 \
        --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
        --section MemoryWorkloadAnalysis --section LaunchStats \
        $C/bin/ollmlx bench -m /tmp/qwen-2.5-7b -p 0 -n 2 -r 1 > "$OUT/ncu_diag.txt" 2>&1
      echo "rc=$?" >> "$S"
      CUOBJ=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
      "$CUOBJ" -sass -arch sm_90a $C/bin/ollmlx 2>/dev/null | awk '/Function : .*qgemv_word_kernelILi4ELi1ELi4ELNS0_2DtE2E/{p=1} p{print} p&&/\.\.\.\.\.\.\.\.\.\./{exit}' > "$OUT/sass_qgemv4.txt"
      wc -l "$OUT/sass_qgemv4.txt" >> "$S" ;;
    model)
      step "model parity"
      run env OLLMLX_FIXTURES=$C/fixtures timeout 200 $C/bin/test_cuda_model > "$OUT/test_cuda_model.log" 2>&1
      echo "rc=$?" >> "$S"
      grep -E "cuda parity|cuda batched|cuda graphs|FAILED|tests ran|PASSED" "$OUT/test_cuda_model.log" | tail -40 >> "$S" ;;
  esac
done
step "done"
cat "$S"
