#!/usr/bin/env python3
"""Reference outputs of `mlx_lm.convert --quantize` for ollmlx's quantization on import.

    python tools/make_quantize_fixtures.py --out DIR

For each case a tiny float model is built with mlx-lm's own classes and saved as mlx-lm saves
models (DIR/<case>/src: config.json, model.safetensors, a small tokenizer), then converted by
the real `mlx_lm.convert(src, dst, quantize=True, q_bits=B, q_group_size=64)` into
DIR/<case>/q<B>. tests/unit/import/test_quantize.cpp quantizes each src with ollmlx and
requires every tensor (packed words, scales, biases, kept floats) to be byte-identical to the
q<B> directory, and the same quantization block in config.json.

The weights are random with hand-made groups in the first rows of every matrix: a constant
group (max == min), an all-zero group, an all-negative group, a group with one large outlier
and values on exact rounding ties, so the edge cases of MLX's algorithm are covered.
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
from pathlib import Path

import numpy as np

import mlx.core as mx
from mlx.utils import tree_flatten, tree_map_with_path, tree_unflatten
import mlx_lm
import mlx_lm.utils as mlu
from mlx_lm.convert import convert

BASE = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128,
    "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 32, "rms_norm_eps": 1e-5, "vocab_size": 320,
    "max_position_embeddings": 2048, "rope_theta": 10000.0, "tie_word_embeddings": True,
    "attention_bias": False, "mlp_bias": False, "hidden_act": "silu", "bos_token_id": 1,
    "eos_token_id": 2,
}

CASES = [
    # name, config overrides, dtype the weights are saved in, bits to convert to
    ("llama_bf16", {"torch_dtype": "bfloat16"}, "bfloat16", [4, 8]),
    # saved in float32, config says bfloat16: convert casts before quantizing
    ("qwen3_f32_as_bf16", {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
                           "head_dim": 48, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
                           "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
     "float32", [4]),
    # float16, untied, an MLP width (96) that is not a multiple of 64: down_proj stays float
    ("llama_f16_narrow", {"intermediate_size": 96, "tie_word_embeddings": False,
                          "torch_dtype": "float16"}, "float16", [4]),
]

DTYPES = {"bfloat16": mx.bfloat16, "float16": mx.float16, "float32": mx.float32}


def special_rows(w: np.ndarray, rng: np.random.Generator) -> None:
    """Edge-case groups (64 wide) in the first rows of a [out, in] matrix, in place."""
    out, inp = w.shape
    if inp < 64 or out < 6:
        return
    w[0, :64] = 0.5                                      # max == min
    w[1, :64] = 0.0                                      # all zero
    w[2, :64] = -np.abs(rng.normal(0.0, 0.1, 64)) - 0.01  # all negative (edge = min)
    w[3, :64] = rng.normal(0.0, 0.02, 64)
    w[3, 7] = 3.0                                        # one large outlier
    # values on a 4-bit grid of [-0.75, 0.75] plus half steps: exact rounding ties
    grid = np.linspace(-0.75, 0.75, 16)
    w[4, :64] = np.concatenate([grid, grid + 0.05, grid, grid + 0.025])[:64]
    w[5, :64] = rng.normal(0.0, 1e-6, 64)                 # tiny values (scale near eps)


def build(name: str, overrides: dict, save_dtype: str, out: Path, seed: int) -> None:
    cfg = copy.deepcopy(BASE)
    cfg.update(overrides)
    model_class, args_class = mlu._get_classes(cfg)
    model = model_class(args_class.from_dict(cfg))
    rng = np.random.default_rng(seed)
    params = []
    for k, v in tree_flatten(model.parameters()):
        a = rng.normal(0.0, 0.05, size=v.shape).astype(np.float32)
        if k.endswith("norm.weight"):
            a = 1.0 + 0.1 * a
        if a.ndim == 2:
            special_rows(a, rng)
        params.append((k, mx.array(a).astype(DTYPES[save_dtype])))
    model.update(tree_unflatten(params))
    src = out / "src"
    src.mkdir(parents=True)
    mlu.save_model(src, model)
    mlu.save_config(cfg, config_path=src / "config.json")
    write_tokenizer(src)


def write_tokenizer(d: Path) -> None:
    """A small word-level tokenizer: mlx_lm.convert loads (and re-saves) one with the model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for i, w in enumerate("the quick brown fox jumps over a lazy dog".split()):
        vocab[w] = 3 + i
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "model_max_length": 2048}, indent=2))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    root = Path(args.out)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    mx.set_default_device(mx.cpu)
    manifest = {"mlx_version": mx.__version__, "mlx_lm_version": mlx_lm.__version__,
                "group_size": 64, "cases": []}
    for i, (name, overrides, save_dtype, bits_list) in enumerate(CASES):
        d = root / name
        build(name, overrides, save_dtype, d, seed=100 + i)
        for bits in bits_list:
            convert(str(d / "src"), str(d / f"q{bits}"), quantize=True, q_bits=bits, q_group_size=64)
        manifest["cases"].append({"name": name, "bits": bits_list, "saved_dtype": save_dtype})
        print(f"[quantize fixtures] {name}: q{bits_list}", file=sys.stderr)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
