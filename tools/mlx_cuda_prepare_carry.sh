#!/usr/bin/env bash
# Packs an ollmlx build with both GPU backends (OLLMLX_CUDA=ON, OLLMLX_MLX=ON against MLX's CUDA
# wheel) and MLX itself for the device machine (/work/.library/device), for the MLX-vs-CUDA
# comparison of issue 8 (tools/cuda_device_run.sh step benchmlx). Output: .mlxcudacarry/ (ignored
# by git; name it in the run's `carry`), one mlxcuda.tar.xz plus MODIFIED.txt.
#
# MLX's CUDA wheel does not fit the 64 MiB carry as it is (libmlx.so is 145 MB, xz 70 MB), so
# what travels is modified, and only in ways that leave the code an H200 runs untouched:
#   * libmlx.so's CUDA fatbins: the payloads of the entries for other GPUs (sm_75, sm_80,
#     sm_100, sm_120, sm_121 SASS and compute_120 PTX, which an sm_90 GPU cannot load) are
#     overwritten with zeros, headers kept (tools/fatbin_keep_arch.py --keep 90; it checks that
#     the sm_90 entries are byte-identical and prints their SHA-256);
#   * `strip --strip-all` (drops .symtab/.strtab, 26 MB; the dynamic symbols stay);
#   * everything xz-compressed (zeros compress to nothing).
# The other files of the wheel travel unchanged: mlx/include (cccl, cute, cutlass and MLX's
# headers: the CCCL ones are what MLX's NVRTC kernels include at run time) and
# mlx_cuda_13.libs (its BLAS/LAPACK). The CUDA libraries libmlx.so needs (cuBLAS, cuDNN, NCCL,
# cuFFT, cuSOLVER, NVRTC) are not carried: the device's torch venv has CUDA 13 wheels of them,
# and the tree is laid out as a site-packages folder (site/mlx, site/mlx_cuda_13.libs, and there
# a link site/nvidia to the venv's nvidia/) so that libmlx.so's own RPATH finds them. The Python
# part of MLX (the `mlx` cp312 wheel) and mlx-lm (pure Python, from the test venv) go along so
# that mlx-lm can be timed on the same MLX.
#
#   tools/mlx_cuda_prepare_carry.sh [build-dir] [wheel-dir]
#     build-dir: default build-mlxcuda, configured with
#       cmake -S . -B build-mlxcuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DOLLMLX_CUDA=ON \
#         -DCMAKE_CUDA_ARCHITECTURES=90a -DOLLMLX_MLX=ON -DMLX_DIR=<unpacked wheel>/mlx/share/cmake/MLX \
#         -DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,<dir>   # <dir>/libcuda.so.1 -> CUDA's stubs/libcuda.so
#       ninja -C build-mlxcuda ollmlx
#     (libmlx.so needs libcuda.so.1, which a machine without the NVIDIA driver lacks at link time;
#     the 2026-11-28 measurement built from a `git archive` of the commit, so that other work in
#     progress in the checkout did not enter the binary)
#     wheel-dir: default /tmp/mlxcuda, holding mlx_cuda_13-*.whl and mlx-*-cp312-*.whl
#       (pip download --no-deps mlx-cuda-13==0.32.4 mlx==0.32.4 for python 3.12)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-mlxcuda}
W=${2:-/tmp/mlxcuda}
C=.mlxcudacarry
T=$(mktemp -d /tmp/mlxcudacarry.XXXXXX)
trap 'rm -rf "$T"' EXIT
grep -qx '/.mlxcudacarry/' .git/info/exclude 2>/dev/null || echo '/.mlxcudacarry/' >> .git/info/exclude
rm -rf "$C"
mkdir -p "$C" "$T/bin" "$T/lib" "$T/site"

# MLX: the CUDA wheel's files, then the Python wheel's (core.cpython-312-*.so, *.py) into the
# same mlx/ folder, as pip would install the two.
unzip -q "$(ls "$W"/mlx_cuda_13-*.whl | head -1)" -d "$T/site" -x '*.dist-info/*'
unzip -q -o "$(ls "$W"/mlx-*-cp312-*.whl | head -1)" -d "$T/site" -x '*.dist-info/*'
orig="$T/site/mlx/lib/libmlx.so"
{
  echo "libmlx.so from $(basename "$(ls "$W"/mlx_cuda_13-*.whl | head -1)"): $(stat -c %s "$orig") bytes, sha256 $(sha256sum "$orig" | cut -d' ' -f1)"
  python3 tools/fatbin_keep_arch.py "$orig" "$T/libmlx.so" --keep 90
  strip --strip-all "$T/libmlx.so"
  echo "after strip --strip-all: $(stat -c %s "$T/libmlx.so") bytes; sm_90 entries after strip:"
  python3 tools/fatbin_keep_arch.py "$T/libmlx.so" /dev/null --keep 90 | tail -1
} | tee "$C/MODIFIED.txt"
mv "$T/libmlx.so" "$orig"
rm -rf "$T/site/mlx/share"
# mlx-lm (pure Python) from the test venv, if there.
lm=$(ls -d .venv/lib/python3*/site-packages/mlx_lm 2>/dev/null | head -1 || true)
[ -n "$lm" ] && cp -r "$lm" "$T/site/" && find "$T/site/mlx_lm" -name __pycache__ -prune -exec rm -rf {} +

# ollmlx and the non-system libraries it links (as tools/cuda_prepare_carry.sh), but not MLX, the
# wheel's mlx_cuda_13.libs (already in site/) or CUDA's.
cp "$B/ollmlx" "$T/bin/"
strip "$T/bin/ollmlx"
ldd "$T/bin/ollmlx" | awk '/=> \// {print $3}' | grep -v '/mlx_cuda_13\.libs/' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
    libcuda.so*|libcublas*|libcudart*|libmlx.so|libcudnn*|libnccl*|libcufft*|libcusolver*|libnvrtc*|libnvJitLink*|libcusparse*) ;;
    *) cp -L "$lib" "$T/lib/" ;;
  esac
done
tar cf - -C "$T" bin lib site | xz -6 -T2 > "$C/mlxcuda.tar.xz"
ls -l "$C"
du -sh "$C"
