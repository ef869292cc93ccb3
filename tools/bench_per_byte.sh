#!/usr/bin/env bash
# Issue 6's per-weight-byte check: each architecture against the llama path on the same linear
# layers (tools/make_bench_model.py --as-llama), CPU backend, 2 and 8 threads, runs alternated.
# Written for the GPU machine's idle CPU (through the device tool, with .cudacarry from
# tools/cuda_prepare_carry.sh: `bash tools/bench_per_byte.sh`); elsewhere set C to a directory
# holding bin/ollmlx (and lib/ when its libraries are not installed).
set -u
C=${C:-/tmp/cudacarry}
[ -x $C/bin/ollmlx ] || { mkdir -p $C; python3 -c "import tarfile; tarfile.open('.cudacarry/binlib.tar.xz').extractall('$C')"; }
export LD_LIBRARY_PATH=$C/lib:/usr/local/cuda/lib64
lscpu | grep -E "Model name|^CPU\(s\)"
for s in qwen2.5-0.5b gemma3-270m; do
  python3 tools/make_bench_model.py --shape $s --out /tmp/pb/$s > /dev/null
  python3 tools/make_bench_model.py --shape $s --as-llama --out /tmp/pb/$s-llama > /dev/null
done
for t in 2 8; do
for rep in 1 2 3; do
  for m in qwen2.5-0.5b qwen2.5-0.5b-llama gemma3-270m gemma3-270m-llama; do
    OLLMLX_DEVICE=cpu $C/bin/ollmlx bench -m /tmp/pb/$m -p 128 -n 32 -r 3 -t $t --json 2>/dev/null | \
      python3 -c "import json,sys; j=json.load(sys.stdin); print('t=$t rep $rep $m', round(j['pp']['tokens_per_s'],1), round(j['tg']['tokens_per_s'],1))"
  done
done
done
