#!/usr/bin/env python3
"""Compare a GGUF run by llama.cpp with its MLX conversion run by mlx-lm (tokens and logits).

    .venv/bin/python tools/compare_with_llamacpp.py --gguf PATH.gguf --mlx-dir DIR [--threads N]

Needs the llama-cpp-python build in .venv-bench (made by tools/bench_vs_llamacpp.py
--setup-only). The llama.cpp half runs in that venv (this script re-executes itself there);
the mlx-lm half runs in the main .venv.

Checks, for a few texts (plain, digits, whitespace runs, unicode, chat-templated):
  * token ids: llama.cpp's tokenizer (llama_tokenize, special tokens parsed) vs the converted
    tokenizer.json (transformers, add_special_tokens=False) - must be identical;
  * logits at every position of the chat-templated prompt: max |diff|, relative to the largest
    |logit|, and top-1 agreement. llama.cpp quantizes activations to 8 bits inside its
    quantized dot products, so small differences are expected; a broken Q/K un-permutation or
    nibble order would show up as large differences / disagreeing argmaxes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "Hello world! The year 2024 had 366 days.",
    "  leading spaces,\ttabs\nand\n\nnew lines   ",
    "Ünïcödé — ça va? 日本語のテキスト 🙂",
    "def f(x):\n    return x**2 + 31337",
]


def worker(gguf: str, threads: int, spec_path: str, out_path: str) -> None:
    import llama_cpp as L
    import numpy as np

    spec = json.loads(Path(spec_path).read_text())
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = L.llama_model_load_from_file(gguf.encode(), mp)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)

    def tokenize(text: str):
        b = text.encode("utf-8")
        buf = (L.llama_token * (len(b) + 16))()
        n = L.llama_tokenize(vocab, b, len(b), buf, len(buf), False, True)
        if n < 0:
            raise SystemExit("tokenize buffer too small")
        return [int(buf[i]) for i in range(n)]

    result = {"tokens": [tokenize(t) for t in spec["texts"]]}
    ids = spec["logit_ids"]
    cp = L.llama_context_default_params()
    cp.n_ctx = max(64, len(ids) + 8)
    cp.n_batch = cp.n_ubatch = max(64, len(ids))
    cp.n_threads = cp.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, cp)
    batch = L.llama_batch_init(len(ids), 0, 1)
    batch.n_tokens = len(ids)
    for i, t in enumerate(ids):
        batch.token[i] = t
        batch.pos[i] = i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = 1
    if L.llama_decode(ctx, batch) != 0:
        raise SystemExit("llama_decode failed")
    logits = np.stack([np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).copy()
                       for i in range(len(ids))])
    np.save(out_path + ".npy", logits)
    Path(out_path + ".json").write_text(json.dumps(result))
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--mlx-dir", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--_worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        worker(args.gguf, args.threads, *args._worker)
        return 0

    import mlx.core as mx
    import numpy as np
    from mlx_lm import load

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_vs_llamacpp import BENCH_VENV

    mx.set_default_device(mx.cpu)
    model, tok = load(args.mlx_dir)
    chat = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                   add_generation_prompt=True, tokenize=False)
    texts = TEXTS + [chat]
    ids = tok.encode(chat, add_special_tokens=False)
    py = BENCH_VENV / "bin" / "python"
    if not py.exists():
        raise SystemExit(f"error: {py} missing; run tools/bench_vs_llamacpp.py --setup-only first")
    with tempfile.TemporaryDirectory() as td:
        spec = Path(td) / "spec.json"
        spec.write_text(json.dumps({"texts": texts, "logit_ids": ids}))
        out = str(Path(td) / "out")
        subprocess.run([str(py), __file__, "--gguf", args.gguf, "--mlx-dir", args.mlx_dir,
                        "--threads", str(args.threads), "--_worker", str(spec), out], check=True,
                       stderr=subprocess.DEVNULL)
        lc = json.loads(Path(out + ".json").read_text())
        lc_logits = np.load(out + ".npy")

    ok = True
    for text, lc_ids in zip(texts, lc["tokens"]):
        ours = tok.encode(text, add_special_tokens=False)
        same = ours == lc_ids
        ok &= same
        print(f"tokens {'same' if same else 'DIFFER'} ({len(ours)} vs {len(lc_ids)}): {text[:40]!r}")
        if not same:
            print("   ours     :", ours)
            print("   llama.cpp:", lc_ids)
    ml = np.array(model(mx.array(ids)[None])[0].astype(mx.float32))
    diff = np.abs(ml - lc_logits)
    rel = diff.max() / np.abs(lc_logits).max()
    agree = float(np.mean(ml.argmax(-1) == lc_logits.argmax(-1)))
    top5 = float(np.mean([len(set(np.argsort(-a)[:5]) & set(np.argsort(-b)[:5])) / 5
                          for a, b in zip(ml, lc_logits)]))
    for p in np.nonzero(ml.argmax(-1) != lc_logits.argmax(-1))[0]:
        s_ml, s_lc = np.sort(ml[p])[::-1], np.sort(lc_logits[p])[::-1]
        print(f"   position {p}: argmax mlx {ml[p].argmax()} vs llama.cpp {lc_logits[p].argmax()}; "
              f"top-2 margins mlx {s_ml[0] - s_ml[1]:.3f}, llama.cpp {s_lc[0] - s_lc[1]:.3f}")
    print(f"logits over {len(ids)} positions: max|diff| {diff.max():.4f} (rel {rel:.4f} of max|logit| "
          f"{np.abs(lc_logits).max():.2f}), mean|diff| {diff.mean():.4f}, top-1 agreement {agree:.3f}, "
          f"top-5 overlap {top5:.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
