#!/usr/bin/env bash
# macOS smoke test of the MLX backend on Metal (docs/MLX.md). Never run by CI and never run by the
# authors so far (no Mac was available): it builds the `macos-mlx` preset against Homebrew's MLX
# (`brew install mlx`) or pip's (`python3 -m pip install mlx`), runs the MLX op tests against the
# CPU backend, `ollmlx --version`, a tiny generation and a short benchmark on the GPU.
#
#   scripts/macos_smoke.sh [MODEL_DIR]     # default: the parity fixture q4_g64_bf16_tied if present
#
# Dependencies (Homebrew): cmake ninja highway nlohmann-json fmt spdlog cli11 googletest
# google-benchmark pcre2 utf8proc cpp-httplib curl openssl@3 mlx.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != "Darwin" ]; then
  echo "macos_smoke: this script is for macOS (Apple Silicon, Metal)" >&2
  exit 1
fi

# Where MLX's CMake package is: MLX_DIR if set, else Homebrew's mlx, else pip's.
args=()
if [ -n "${MLX_DIR:-}" ]; then
  args+=("-DMLX_DIR=$MLX_DIR")
elif command -v brew >/dev/null && brew --prefix mlx >/dev/null 2>&1 && [ -d "$(brew --prefix mlx)" ]; then
  args+=("-DCMAKE_PREFIX_PATH=$(brew --prefix mlx);$(brew --prefix)")
elif python3 -c 'import mlx.core' 2>/dev/null; then
  args+=("-DMLX_DIR=$(python3 -m mlx --cmake-dir)/share/cmake/MLX")
else
  echo "macos_smoke: no MLX found: brew install mlx, or python3 -m pip install mlx, or set MLX_DIR" >&2
  exit 1
fi
if command -v brew >/dev/null; then
  args+=("-DCMAKE_PREFIX_PATH=$(brew --prefix)")
fi

cmake --preset macos-mlx "${args[@]}"
cmake --build --preset macos-mlx --target ollmlx test_mlx_ops

./build-macos/ollmlx --version || true   # no server running: only the client and backend lines
./build-macos/tests/mlx/test_mlx_ops

MODEL="${1:-tests/fixtures/generated/parity/q4_g64_bf16_tied}"
if [ ! -f "$MODEL/config.json" ]; then
  echo "macos_smoke: no model at $MODEL (pass an MLX model directory)" >&2
  exit 1
fi
if [ -f "$MODEL/tokenizer.json" ]; then
  ./build-macos/ollmlx generate --model "$MODEL" --device mlx --prompt "Hello" --raw --max-tokens 16
else  # the parity fixtures have no tokenizer
  ./build-macos/ollmlx generate --model "$MODEL" --device mlx --tokens 1,2,3,4 --max-tokens 16
fi
./build-macos/ollmlx bench --model "$MODEL" --device mlx -p 64 -n 32 -r 2
./build-macos/ollmlx bench --model "$MODEL" --device cpu -p 64 -n 32 -r 2
echo "macos_smoke: ok"
