#!/usr/bin/env python3
"""Write a random-weight MLX model directory with the shapes of a real model, for `ollmlx bench`
(no download; the numbers only depend on shapes and formats, not on weight values).

    .venv/bin/python tools/make_bench_model.py --shape qwen2.5-0.5b --out /tmp/qwen05 [--bits 4]
    .venv/bin/python tools/make_bench_model.py --shape gemma3-270m --as-llama --out /tmp/g270_llama

Every linear layer and the embedding are MLX affine-quantized (random packed codes, bf16 scales
around 0.02/2^bits and biases), norm weights bf16. `--as-llama` writes the same linear shapes as
a `llama` model (the llama block: two norms, no q/k norms; qwen2's q/k/v biases kept), so the
per-weight-byte speed of an architecture can be compared with the llama path on equal bytes.
Needs only numpy (the safetensors file is written by hand), so it also runs where MLX is not
installed (the GPU machine, whose idle CPU gives quieter CPU benchmarks).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SHAPES = {
    "qwen2.5-0.5b": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
                     "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                     "vocab_size": 151936, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
                     "max_position_embeddings": 32768, "tie_word_embeddings": True},
    "gemma3-270m": {"model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048,
                    "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1,
                    "head_dim": 256, "vocab_size": 262144, "rms_norm_eps": 1e-6,
                    "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
                    "query_pre_attn_scalar": 256, "sliding_window": 512,
                    "sliding_window_pattern": 6, "max_position_embeddings": 32768},
}


def bf16(a) -> tuple:
    """float32 values -> ("BF16", uint16 array), rounded to nearest even (as MLX's astype)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    return ("BF16", ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16))


def quantized(rng, out_f: int, in_f: int, bits: int, gs: int) -> dict:
    words = rng.integers(0, 2**32, size=(out_f, in_f * bits // 32), dtype=np.uint64).astype(np.uint32)
    s = (rng.uniform(0.5, 1.5, size=(out_f, in_f // gs)) * 0.02 / 2**bits).astype(np.float32)
    b = (-s * 2 ** (bits - 1)).astype(np.float32)
    return {"weight": ("U32", words), "scales": bf16(s), "biases": bf16(b)}


def save_safetensors(path: Path, tensors: dict) -> None:
    header, offset = {"__metadata__": {"format": "mlx"}}, 0
    for name, (dt, a) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for _, a in tensors.values():
            f.write(np.ascontiguousarray(a).tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=64)
    ap.add_argument("--as-llama", action="store_true")
    args = ap.parse_args()
    cfg = dict(SHAPES[args.shape])
    rng = np.random.default_rng(0)
    D, F, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    H, KV, V = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["vocab_size"]
    hd = cfg.get("head_dim", D // H)
    gemma = cfg["model_type"].startswith("gemma")
    qwen2 = cfg["model_type"] == "qwen2"
    bits, gs = args.bits, args.group_size
    w = {}

    def lin(name, o, i, bias=False):
        for k, v in quantized(rng, o, i, bits, gs).items():
            w[f"{name}.{k}"] = v
        if bias:
            w[f"{name}.bias"] = bf16(np.zeros((o,), np.float32))

    def norm(name, n):
        w[name] = bf16(np.full((n,), 0.0 if gemma and not args.as_llama else 1.0, np.float32))

    lin("model.embed_tokens", V, D)
    for l in range(L):
        p = f"model.layers.{l}."
        lin(p + "self_attn.q_proj", H * hd, D, bias=qwen2)
        lin(p + "self_attn.k_proj", KV * hd, D, bias=qwen2)
        lin(p + "self_attn.v_proj", KV * hd, D, bias=qwen2)
        lin(p + "self_attn.o_proj", D, H * hd)
        lin(p + "mlp.gate_proj", F, D)
        lin(p + "mlp.up_proj", F, D)
        lin(p + "mlp.down_proj", D, F)
        norm(p + "input_layernorm.weight", D)
        norm(p + "post_attention_layernorm.weight", D)
        if gemma and not args.as_llama:
            norm(p + "pre_feedforward_layernorm.weight", D)
            norm(p + "post_feedforward_layernorm.weight", D)
            norm(p + "self_attn.q_norm.weight", hd)
            norm(p + "self_attn.k_norm.weight", hd)
    norm("model.norm.weight", D)
    if args.as_llama:
        cfg = {k: cfg[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                   "num_attention_heads", "num_key_value_heads", "vocab_size",
                                   "rms_norm_eps", "rope_theta", "max_position_embeddings")}
        cfg.update(model_type="llama", head_dim=hd, tie_word_embeddings=True, attention_bias=qwen2)
    cfg["torch_dtype"] = "bfloat16"
    cfg["quantization"] = {"group_size": gs, "bits": bits, "mode": "affine"}
    args.out.mkdir(parents=True, exist_ok=True)
    save_safetensors(args.out / "model.safetensors", w)
    (args.out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    total = sum(a.nbytes for _, a in w.values())
    print(f"wrote {args.out}: {cfg['model_type']} {args.shape}, {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
