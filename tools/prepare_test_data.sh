#!/usr/bin/env bash
# Generate all Python-made test data (idempotent, skips what is up to date).
#
#   tools/prepare_test_data.sh [OUTDIR]      # default OUTDIR = tests/fixtures/generated
#
#   OUTDIR/parity/   tiny random mlx-lm models + reference.safetensors + manifest.json
#   OUTDIR/smollm2/  SmolLM2-135M-Instruct Q4_1 GGUF converted to MLX + reference.safetensors
#   OUTDIR/gemma3_270m/  Gemma-3-270M Q4_K_M GGUF converted to MLX + reference/long.safetensors
#   OUTDIR/tokenizers/  reference encodings/decodings by the Python `tokenizers` library
#   OUTDIR/templates/   reference chat-template renderings by jinja2 (as transformers sets it up)
#   OUTDIR/gguf_import/ small GGUFs of every supported type + tools/gguf_to_mlx.py's conversions
#   OUTDIR/quantize/    tiny float models + mlx_lm.convert --quantize's outputs
#
# Each part is regenerated only when its stamp (sha256 of the generating scripts, the pinned
# requirements and, for smollm2, the GGUF size) changed or its output is missing.
# Set OLLMLX_FORCE_TESTDATA=1 to regenerate everything.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$REPO/tests/fixtures/generated}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="$REPO/.venv/bin/python"
T="$REPO/tools"

bash "$T/setup_python.sh"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# run_part NAME STAMP_VALUE CHECK_FILE CMD...   (CMD gets the temp output dir appended)
run_part() {
    local name="$1" want="$2" check="$3"; shift 3
    local dest="$OUT/$name" stamp="$OUT/$name/.stamp"
    if [[ -z "${OLLMLX_FORCE_TESTDATA:-}" && -f "$stamp" && -f "$dest/$check" \
          && "$(cat "$stamp")" == "$want" ]]; then
        echo "[prepare_test_data] $name up to date ($dest)"
        return 0
    fi
    local tmp="$OUT/.$name.tmp.$$"
    rm -rf "$tmp"
    local t0=$SECONDS
    echo "[prepare_test_data] generating $name ..."
    "$@" "$tmp"
    echo "$want" > "$tmp/.stamp"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    echo "[prepare_test_data] $name done in $((SECONDS - t0)) s -> $dest"
}

REQ_HASH="$(hash_of "$T/requirements.txt")"

parity_stamp="$(hash_of "$T/make_parity_fixtures.py"; echo "$REQ_HASH")"
GGUF="$("$PY" "$T/find_smollm2_gguf.py")"
smol_stamp="$(hash_of "$T/make_smollm2_golden.py" "$T/gguf_to_mlx.py" "$T/make_parity_fixtures.py" \
    "$T/find_smollm2_gguf.py"; echo "$REQ_HASH"; stat -c %s "$GGUF")"

gemma3_stamp="$(hash_of "$T/make_gemma3_golden.py" "$T/gguf_to_mlx.py" "$T/make_parity_fixtures.py"; echo "$REQ_HASH")"

# MLX's CPU kernels are mostly single-threaded: run the parts side by side.
t0=$SECONDS
run_part parity "$parity_stamp" manifest.json \
    "$PY" "$T/make_parity_fixtures.py" --out &
p1=$!
run_part smollm2 "$smol_stamp" reference.safetensors \
    "$PY" "$T/make_smollm2_golden.py" --gguf "$GGUF" --out &
p2=$!
run_part gemma3_270m "$gemma3_stamp" long.safetensors \
    "$PY" "$T/make_gemma3_golden.py" --out &
p3=$!
rc=0
wait $p1 || rc=1
wait $p2 || rc=1
wait $p3 || rc=1
if [[ $rc != 0 ]]; then
    echo "[prepare_test_data] FAILED" >&2
    exit 1
fi

# Tokenizer references (Python `tokenizers`) for the shared tokenizers and SmolLM2's.
tok_stamp="$(hash_of "$T/make_tokenizer_refs.py" "$REPO/tests/data/tokenizer_corpus/corpus.json"; echo "$REQ_HASH")"
run_part tokenizers "$tok_stamp" manifest.json "$PY" "$T/make_tokenizer_refs.py" --smollm2 "$OUT/smollm2" --out
# GGUF files of every type the importer handles, each converted by tools/gguf_to_mlx.py: the
# reference for the C++ importer (tests/unit/import/test_import_parity.cpp).
gguf_stamp="$(hash_of "$T/make_gguf_import_fixtures.py" "$T/gguf_to_mlx.py" "$T/find_smollm2_gguf.py"; echo "$REQ_HASH")"
run_part gguf_import "$gguf_stamp" manifest.json "$PY" "$T/make_gguf_import_fixtures.py" --out
# Float models and what `mlx_lm.convert --quantize` makes of them: the reference for ollmlx's
# quantization on import (tests/unit/import/test_quantize.cpp).
quant_stamp="$(hash_of "$T/make_quantize_fixtures.py"; echo "$REQ_HASH")"
run_part quantize "$quant_stamp" manifest.json "$PY" "$T/make_quantize_fixtures.py" --out
# Chat-template references (jinja2 as transformers configures it).
if [[ -f "$T/make_template_refs.py" ]]; then
    tmpl_stamp="$(hash_of "$T/make_template_refs.py" "$REPO/tests/data/chat_conversations.json"; echo "$REQ_HASH")"
    # make_template_refs.py writes <root>/templates/refs.json; run_part wants the folder itself.
    gen_templates() { "$PY" "$T/make_template_refs.py" --out "$1.root" && mv "$1.root/templates" "$1" && rm -rf "$1.root"; }
    run_part templates "$tmpl_stamp" refs.json gen_templates
fi
# The GPU benchmarks' random-weight models (tools/make_random_mlx_model.py) are quantized with a
# numpy port of MLX's affine quantization: check it against the real mx.quantize (1 s, every run).
"$PY" "$T/check_random_model_quantizer.py"
echo "[prepare_test_data] all test data in $OUT ($((SECONDS - t0)) s)"
