#!/usr/bin/env python3
"""Write a random-weight model directory in MLX affine-quantized format with the exact tensor
shapes of a real model, for GPU benchmarks that need no download (issue 7).

The packed weights are uniformly random uint32 words (every field of every bit width is a valid
quantized value), scales and biases are random bf16 around a realistic magnitude
(w = s * (q - 2^(bits-1)) with s ~ 0.02 / 2^(bits-1)), norms are 1. Only numpy is needed; the
safetensors file is written by hand (8-byte header length, JSON header, raw data), streaming one
tensor at a time. Also prints the bytes a decoded token reads (every weight once; an untied
embedding table only one row), for bandwidth-limit arithmetic.

Note: this is not the quantizer-tested writer issue 7 item 4 asks for (it does not quantize real
float weights); it produces correctly shaped, correctly packed MLX files for timing.

    tools/make_random_mlx_model.py --shape llama-3.2-1b --out /tmp/llama1b [--bits 4 --group-size 64]
"""
import argparse
import json
import os
import sys

import numpy as np

SHAPES = {
    # Llama-3.2-1B: tied embeddings, llama3 RoPE scaling.
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                         vocab_size=128256, rms_norm_eps=1e-5, rope_theta=500000.0,
                         max_position_embeddings=131072, tie_word_embeddings=True,
                         rope_scaling={"factor": 32.0, "high_freq_factor": 4.0,
                                       "low_freq_factor": 1.0,
                                       "original_max_position_embeddings": 8192,
                                       "rope_type": "llama3"},
                         attention_bias=False),
    # Qwen-2.5-7B shapes (q/k/v biases, untied head), run through the llama architecture.
    "qwen-2.5-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                        num_attention_heads=28, num_key_value_heads=4, head_dim=128,
                        vocab_size=152064, rms_norm_eps=1e-6, rope_theta=1000000.0,
                        max_position_embeddings=32768, tie_word_embeddings=False,
                        rope_scaling=None, attention_bias=True),
}


def bf16_bytes(a):
    """float32 array -> bf16 raw bytes (round to nearest even)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16).tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = dict(SHAPES[a.shape])
    bits, gs = a.bits, a.group_size
    D, F, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    H, KV, hd, V = (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"],
                    cfg["vocab_size"])
    rng = np.random.default_rng(a.seed)

    tensors = []  # (name, dtype, shape, generator)

    def quantized(name, out, inp):
        tensors.append((name + ".weight", "U32", [out, inp * bits // 32], "packed"))
        tensors.append((name + ".scales", "BF16", [out, inp // gs], "scales"))
        tensors.append((name + ".biases", "BF16", [out, inp // gs], "biases"))

    quantized("model.embed_tokens", V, D)
    for i in range(L):
        p = f"model.layers.{i}."
        tensors.append((p + "input_layernorm.weight", "BF16", [D], "ones"))
        tensors.append((p + "post_attention_layernorm.weight", "BF16", [D], "ones"))
        quantized(p + "self_attn.q_proj", H * hd, D)
        quantized(p + "self_attn.k_proj", KV * hd, D)
        quantized(p + "self_attn.v_proj", KV * hd, D)
        quantized(p + "self_attn.o_proj", D, H * hd)
        if cfg["attention_bias"]:
            tensors.append((p + "self_attn.q_proj.bias", "BF16", [H * hd], "small"))
            tensors.append((p + "self_attn.k_proj.bias", "BF16", [KV * hd], "small"))
            tensors.append((p + "self_attn.v_proj.bias", "BF16", [KV * hd], "small"))
        quantized(p + "mlp.gate_proj", F, D)
        quantized(p + "mlp.up_proj", F, D)
        quantized(p + "mlp.down_proj", D, F)
    tensors.append(("model.norm.weight", "BF16", [D], "ones"))
    if not cfg["tie_word_embeddings"]:
        quantized("lm_head", V, D)

    size = {"U32": 4, "BF16": 2}
    header, off = {}, 0
    for name, dt, shape, _ in tensors:
        n = int(np.prod(shape)) * size[dt]
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "mlx"}
    hbytes = json.dumps(header, separators=(",", ":")).encode()
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)

    os.makedirs(a.out, exist_ok=True)
    half = 2 ** (bits - 1)
    path = os.path.join(a.out, "model.safetensors")
    with open(path, "wb") as f:
        f.write(len(hbytes).to_bytes(8, "little"))
        f.write(hbytes)
        for name, dt, shape, kind in tensors:
            if kind == "packed":
                rows_per = max(1, (64 << 20) // (shape[1] * 4))
                for r0 in range(0, shape[0], rows_per):
                    r1 = min(shape[0], r0 + rows_per)
                    f.write(rng.integers(0, 2**32, size=(r1 - r0, shape[1]), dtype=np.uint32).tobytes())
            elif kind == "scales":
                s = rng.uniform(0.5, 1.5, size=shape).astype(np.float32) * (0.02 / half)
                f.write(bf16_bytes(s))
                scales_last = s
            elif kind == "biases":
                f.write(bf16_bytes(-half * scales_last))
            elif kind == "ones":
                f.write(bf16_bytes(np.ones(shape, np.float32)))
            else:
                f.write(bf16_bytes(rng.normal(0, 0.02, size=shape).astype(np.float32)))

    conf = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16",
            "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
            "quantization": {"group_size": gs, "bits": bits, "mode": "affine"},
            "quantization_config": {"group_size": gs, "bits": bits, "mode": "affine"}}
    conf.update({k: v for k, v in cfg.items() if v is not None})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
    total = off
    embed = sum(header[n]["data_offsets"][1] - header[n]["data_offsets"][0]
                for n in header if n.startswith("model.embed_tokens."))
    per_token = total if cfg["tie_word_embeddings"] else total - embed
    info = {"shape": a.shape, "bits": bits, "group_size": gs, "file_bytes": total,
            "weight_bytes_per_token": per_token}
    with open(os.path.join(a.out, "bench_info.json"), "w") as f:
        json.dump(info, f, indent=2)
    print(json.dumps(info))


if __name__ == "__main__":
    sys.exit(main())
