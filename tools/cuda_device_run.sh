#!/usr/bin/env bash
# Runs on the GPU machine (through the device tool), from the repository root, with .cudacarry
# (tools/cuda_prepare_carry.sh) carried along: measures the copy bandwidth, runs the GPU op tests,
# benchmarks random-weight Llama-3.2-1B and Qwen-2.5-7B shaped MLX 4-bit models (pp512, tg128)
# against the bandwidth limit, then the whole-model parity tests. Results go to $OUT.
#   tools/cuda_device_run.sh [steps...]   (default: bw ops bench1b bench7b model; also
#   prof1b, prof1bpp, prof7b: Nsight Compute per-kernel times of one decode / prefill pass;
#   benchsample: bench_sampling, host vs device token sampling;
#   GTEST_FILTER narrows the test steps; mlxgpu, benchmlx1b, benchmlx7b: MLX's CUDA build
#   against ollmlx's CUDA backend, with .mlxcudacarry from tools/mlx_cuda_prepare_carry.sh)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/cuda_out}
# Unpack the carried binaries and libraries (tools/cuda_prepare_carry.sh) to local disk.
C=/tmp/cudacarry
if [ ! -x $C/bin/ollmlx ] && [ -e .cudacarry/binlib.tar.xz ]; then
  mkdir -p $C
  python3 -c "import tarfile; tarfile.open('.cudacarry/binlib.tar.xz').extractall('$C')"
  ln -sfn "$PWD/.cudacarry/fixtures" $C/fixtures
fi
# The MLX-vs-CUDA comparison (steps mlxgpu, benchmlx1b, benchmlx7b) runs one ollmlx with both
# backends and MLX's CUDA wheel from .mlxcudacarry (tools/mlx_cuda_prepare_carry.sh), laid out
# as a site-packages folder whose nvidia/ is the device venv's (cuBLAS, cuDNN, NCCL... for
# libmlx.so's RPATH).
M=/tmp/mlxcudacarry
if [ ! -x $M/bin/ollmlx ] && [ -e .mlxcudacarry/mlxcuda.tar.xz ]; then
  mkdir -p $M
  python3 -c "import tarfile; tarfile.open('.mlxcudacarry/mlxcuda.tar.xz').extractall('$M')"
  ln -sfn "$(python3 -c 'import site; print(site.getsitepackages()[0])')/nvidia" $M/site/nvidia
fi
mkdir -p "$OUT"
S="$OUT/summary.txt"
# cuBLAS comes from the device's CUDA 13 (usually /usr/local/cuda/lib64; else wherever it is).
CUBLAS_DIR=/usr/local/cuda/lib64
[ -e $CUBLAS_DIR/libcublas.so.13 ] || CUBLAS_DIR=$(dirname "$(find / -name 'libcublas.so.13' -not -path '*/proc/*' 2>/dev/null | head -1)")
run() { LD_LIBRARY_PATH="$C/lib:$CUBLAS_DIR:${LD_LIBRARY_PATH:-}" "$@"; }
# Both backends of that binary then use the venv's cuBLAS (libmlx.so loads its cuBLASLt).
runm() { LD_LIBRARY_PATH="$M/lib:$M/site/mlx/lib:$M/site/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}" PYTHONPATH="$M/site" "$@"; }
step() { echo "== $(date +%T) $*" | tee -a "$S"; }
steps=${*:-bw ops bench1b bench7b model}

step "start; steps: $steps"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv >> "$S" 2>&1
[ -x $C/bin/ollmlx ] && run ldd $C/bin/ollmlx | grep -E "not found|cublas" >> "$S" 2>&1

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
    mlxgpu)
      # MLX's CUDA build really computes on the GPU: device, a float32 matmul and a 4-bit
      # quantized matmul against MLX's CPU stream, a timed bf16 product; ollmlx sees it.
      step "mlx on the gpu"
      runm ldd $M/site/mlx/lib/libmlx.so | grep -E "not found|cublas|cudnn|nccl|nvrtc" >> "$S" 2>&1
      runm ldd $M/bin/ollmlx | grep -E "not found|mlx" >> "$S" 2>&1
      python3 -m pip list 2>/dev/null | grep -E "^nvidia-(cublas|cudnn-cu13|nccl-cu13|cuda-nvrtc|cufft|cusolver) " >> "$S"
      runm env PYTHONUNBUFFERED=1 timeout 240 python3 - >> "$S" 2>&1 <<'PY'
import time
import numpy as np
import mlx.core as mx
print("mlx", mx.__version__, "default device", mx.default_device(), "cuda available", mx.cuda.is_available())
rng = np.random.default_rng(0)
a = rng.standard_normal((512, 1024), dtype=np.float32); b = rng.standard_normal((1024, 768), dtype=np.float32)
c = np.array(mx.matmul(mx.array(a), mx.array(b)))
print("f32 matmul vs numpy: max rel err %.2e (TF32 tensor cores give ~1e-3)" % (np.abs(c - a @ b).max() / np.abs(a @ b).max()))
# 4-bit quantized_matmul (MLX's kernels for the models benchmarked) against numpy on the
# dequantized weights, and MLX's CPU stream likewise (its bf16 path is the less exact one: 2026-11-28,
# bf16 rows 1/8: GPU 6e-3, CPU 0.11 of the largest output; float32 both ~2e-6).
w = mx.array(rng.standard_normal((4096, 4096), dtype=np.float32) * 0.02)
for dt in (mx.float32, mx.bfloat16):
    wq, s, z = mx.quantize(w.astype(dt), group_size=64, bits=4)
    wd = np.array(mx.dequantize(wq, s, z, group_size=64, bits=4, stream=mx.cpu).astype(mx.float32))
    for rows in (1, 8):
        x = mx.array(rng.standard_normal((rows, 4096), dtype=np.float32)).astype(dt)
        ref = np.array(x.astype(mx.float32)) @ wd.T
        q = lambda st: np.array(mx.quantized_matmul(x, wq, s, z, transpose=True, group_size=64, bits=4, stream=st).astype(mx.float32))
        g, c = q(mx.gpu), q(mx.cpu)
        print("q4 matmul %s rows %d, max err / max |ref|: gpu %.1e, cpu stream %.1e" % (dt, rows, np.abs(g - ref).max() / np.abs(ref).max(), np.abs(c - ref).max() / np.abs(ref).max()))
m = mx.random.normal((8192, 8192)).astype(mx.bfloat16); mx.eval(m)
for i in range(4):
    t = time.perf_counter(); mx.eval(m @ m); dt = time.perf_counter() - t
print("bf16 8192^3 product: %.2f ms, %.0f TFLOP/s" % (1e3 * dt, 2 * 8192**3 / dt / 1e12))
PY
      echo "rc=$?" >> "$S"
      runm timeout 60 $M/bin/ollmlx --version >> "$S" 2>&1 ;;
    benchmlx1b|benchmlx7b)
      # The same ollmlx binary, OLLMLX_DEVICE=cuda and =mlx, on the same model in the same call;
      # then mlx-lm's own loop on the same MLX (tools/mlx_lm_bench.py). pp512 (the prefill time
      # is the time to first token: bench times prefill() up to the last row's logits), tg128
      # after a 512-token prompt; then 32 sequences decoded together, a separate run so that a
      # slow one cannot cost the batch-1 figures. MLX compiles kernels on first use (the first
      # sample of a test, and the first with a new row count, include it): "steady" is the mean
      # of the samples after the first, for both backends.
      shape=llama-3.2-1b; [ $s = benchmlx7b ] && shape=qwen-2.5-7b
      [ -e /tmp/$shape/config.json ] || { step "make $shape"; timeout 200 python3 tools/make_random_mlx_model.py --shape $shape --out /tmp/$shape >> "$S" 2>&1; }
      for dev in cuda mlx; do
        step "bench $shape $dev"
        runm env OLLMLX_DEVICE=$dev timeout 150 $M/bin/ollmlx bench -m /tmp/$shape -p 512 -n 128 -d 512 -r 3 \
          --json > "$OUT/benchmlx_${shape}_$dev.json" 2>> "$S"
        echo "rc=$?" >> "$S"
        runm env OLLMLX_DEVICE=$dev timeout 150 $M/bin/ollmlx bench -m /tmp/$shape -p 0 -n 128 --parallel 32 -r 3 \
          --json > "$OUT/benchmlx_${shape}_${dev}_par.json" 2>> "$S"
        echo "rc=$?" >> "$S"
      done
      # The same 12 tokens through the cpu, cuda and mlx backends in float32: top-3 ids and logits
      # (2026-11-28, 1B: same ids everywhere, mlx within 1e-5 and cuda 6e-3 of cpu).
      step "eval $shape cpu/cuda/mlx"
      toks=$(python3 -c "import random; random.seed(1); print(','.join(str(random.randrange(128256)) for _ in range(12)))")
      for dev in cpu cuda mlx; do
        runm timeout 90 $M/bin/ollmlx eval --model /tmp/$shape --tokens $toks --top-k 3 --device $dev \
          --activation-dtype f32 > /tmp/eval_${shape}_$dev.json 2>> "$S"
      done
      python3 - /tmp/eval_${shape} >> "$S" 2>&1 <<'PY'
import json, sys
r = {d: [p["top"] for p in json.load(open(f"{sys.argv[1]}_{d}.json"))["positions"]] for d in ("cpu", "cuda", "mlx")}
for d in ("cuda", "mlx"):
    same = sum([t["id"] for t in a] == [t["id"] for t in b] for a, b in zip(r[d], r["cpu"]))
    diff = max(abs(x["logit"] - y["logit"]) for a, b in zip(r[d], r["cpu"]) for x, y in zip(a, b))
    print(f"  {d} vs cpu: top-3 ids equal at {same}/{len(r[d])} positions, max logit diff {diff:.2e}")
PY
      step "mlx-lm $shape"
      runm env PYTHONUNBUFFERED=1 timeout 150 python3 tools/mlx_lm_bench.py /tmp/$shape -p 512 -n 128 -r 3 \
        --json "$OUT/benchmlx_${shape}_mlxlm.json" >> "$S" 2>&1
      echo "rc=$?" >> "$S"
      python3 - "$OUT" $shape /tmp/$shape/bench_info.json >> "$S" 2>&1 <<'PY'
import json, os, sys
out, shape, info = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
def load(n):
    try:
        return json.load(open(os.path.join(out, f"benchmlx_{shape}_{n}.json")))
    except Exception as e:
        return None
try:
    bw = json.load(open(os.path.join(out, "bandwidth.json")))["bandwidth_bytes_per_s"]
except Exception:
    bw = 3.35e12
limit = bw / info["weight_bytes_per_token"]
print(f"{shape}: weights/token {info['weight_bytes_per_token']/1e9:.3f} GB, bandwidth limit {limit:.0f} tok/s at {bw/1e12:.2f} TB/s")
r = {}
for dev in ("cuda", "mlx"):
    b, p = load(dev), load(dev + "_par")
    if not b:
        print(f"  {dev}: no result"); continue
    steady = lambda t: sum(t["samples"][1:]) / max(1, len(t["samples"]) - 1)
    pp, tg = steady(b["pp"]), steady(b["tg"])
    par = steady(p["tg_parallel"]) if p and "tg_parallel" in p else float("nan")
    r[dev] = (pp, tg, par)
    print(f"  ollmlx {dev:4} (steady): pp512 {pp:7.0f} tok/s (TTFT {1e3*512/pp:6.2f} ms), tg128@d512 {tg:6.1f} tok/s "
          f"({100*tg/limit:4.1f}% of limit), 32 seqs {par:6.0f} tok/s; pipelined={b.get('pipelined')}, peak RSS "
          f"{b.get('peak_rss_bytes', 0)/2**30:.2f} GiB")
    print(f"    samples: pp {[round(x) for x in b['pp']['samples']]}, tg {[round(x, 1) for x in b['tg']['samples']]}, "
          f"32 seqs {[round(x) for x in p['tg_parallel']['samples']] if p and 'tg_parallel' in p else None}")
lm = load("mlxlm")
if lm:
    m = lm["mean"]
    r["mlx-lm"] = (m["pp_tokens_per_s"], m["tg_tokens_per_s"], float("nan"))
    print(f"  mlx-lm     : pp512 {m['pp_tokens_per_s']:7.0f} tok/s (TTFT {m['ttft_ms']:6.2f} ms), tg128@d512 {m['tg_tokens_per_s']:6.1f} tok/s ({100*m['tg_tokens_per_s']/limit:4.1f}% of limit)")
if "cuda" in r:
    for k in ("mlx", "mlx-lm"):
        if k in r:
            c, o = r["cuda"], r[k]
            print(f"  cuda / {k}: pp {c[0]/o[0]:.2f}x, tg {c[1]/o[1]:.2f}x, 32 seqs {c[2]/o[2]:.2f}x")
PY
      ;;
    benchsample)
      # Token sampling from [rows, 128256] device logits: host (copy + sample/sampler.cpp) vs
      # Backend::sample_rows (k_sample.cu, ids only). bench/bench_sampling.cpp.
      step "bench sampling"
      run env OLLMLX_DEVICE=cuda timeout 120 $C/bin/bench_sampling --benchmark_min_time=0.3 \
        > "$OUT/bench_sampling.txt" 2>&1
      echo "rc=$?" >> "$S"
      grep -E "^BM_" "$OUT/bench_sampling.txt" >> "$S" ;;
    model)
      step "model parity"
      run env OLLMLX_FIXTURES=$C/fixtures timeout 200 $C/bin/test_cuda_model > "$OUT/test_cuda_model.log" 2>&1
      echo "rc=$?" >> "$S"
      grep -E "cuda parity|cuda batched|cuda graphs|FAILED|tests ran|PASSED" "$OUT/test_cuda_model.log" | tail -40 >> "$S" ;;
  esac
done
step "done"
cat "$S"
