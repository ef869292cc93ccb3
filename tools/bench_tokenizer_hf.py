#!/usr/bin/env python3
"""Time Hugging Face `tokenizers` on the text bench/bench_tokenizer.cpp uses (the baseline).

    .venv/bin/python tools/bench_tokenizer_hf.py [--text FILE] [--repeat N] [--write-text FILE]
                                                 [DIR...]

The default text is the parity corpus (tests/data/tokenizer_corpus/corpus.json) joined with
newlines, repeated and cut to 1,000,000 bytes, exactly as the C++ tool builds it. Each timing is
the best of N single `Tokenizer.encode(text)` calls (one thread, like the C++ side); decode is
`Tokenizer.decode(ids)`. DIRs default to the real (non syn_*) tokenizers in
tests/fixtures/generated/tokenizers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent


def corpus_text(limit: int = 1_000_000) -> str:
    corpus = json.loads((ROOT / "tests/data/tokenizer_corpus/corpus.json").read_text("utf-8"))
    one = "".join(e["text"] + "\n" for e in corpus).encode("utf-8")
    data = b""
    while len(data) < limit:
        data += one
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return data[:cut].decode("utf-8")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write-text", type=Path)
    ap.add_argument("dirs", nargs="*", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    text = args.text.read_text("utf-8") if args.text else corpus_text()
    if args.write_text:
        args.write_text.write_text(text, "utf-8")
    dirs = args.dirs
    if not dirs:
        fx = Path(os.environ.get("OLLMLX_FIXTURES", ROOT / "tests/fixtures/generated"))
        dirs = sorted(p for p in (fx / "tokenizers").iterdir()
                      if (p / "tokenizer.json").exists() and not p.name.startswith("syn_"))
    size = len(text.encode("utf-8"))
    print(f"text: {size} bytes, best of {args.repeat} (tokenizers HF)")
    print(f"{'tokenizer':10} {'load s':>9} {'tokens':>9} {'encode ms':>10} {'MB/s':>10} "
          f"{'decode MB/s':>10}")
    for d in dirs:
        t0 = time.perf_counter()
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        load = time.perf_counter() - t0
        tok.no_truncation()
        tok.no_padding()
        best = best_dec = 1e30
        ids = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ids = tok.encode(text).ids
            best = min(best, time.perf_counter() - t0)
            t0 = time.perf_counter()
            tok.decode(ids)
            best_dec = min(best_dec, time.perf_counter() - t0)
        mb = size / 1e6
        print(f"{d.name:10} {load:9.2f} {len(ids):9d} {best * 1e3:10.1f} {mb / best:10.2f} "
              f"{mb / best_dec:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
