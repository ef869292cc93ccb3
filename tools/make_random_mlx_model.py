#!/usr/bin/env python3
"""Write a random-weight model directory in MLX affine-quantized format with the exact tensor
shapes of a real model, for GPU benchmarks that need no download (issue 7).

Quantized matrices are what MLX's affine quantization (`mlx_affine_quantize` below, a numpy
port checked byte for byte against `mx.quantize` by tools/check_random_model_quantizer.py, which
tools/prepare_test_data.sh runs) makes of bf16 weights drawn from N(0, 0.02): to keep the
7B shape fast, a pool of 64 random rows per matrix width is quantized once and its rows are
tiled down every matrix of that width. Norms are 1, attention biases N(0, 0.02). Only numpy is
needed; the safetensors file is written by hand (8-byte header length, JSON header, raw data),
streaming one tensor at a time. Also prints the bytes a decoded token reads (every weight once;
an untied embedding table only one row), for bandwidth-limit arithmetic.

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
    # Qwen-2.5-7B (q/k/v biases, no o_proj bias, untied head): model_type qwen2, as the real
    # model, so mlx-lm loads it too (its llama with attention_bias would want an o_proj bias).
    "qwen-2.5-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                        num_attention_heads=28, num_key_value_heads=4, head_dim=128,
                        vocab_size=152064, rms_norm_eps=1e-6, rope_theta=1000000.0,
                        max_position_embeddings=32768, tie_word_embeddings=False,
                        rope_scaling=None, attention_bias=True, model_type="qwen2"),
}


def bf16_round(a):
    """float32 array -> the nearest bf16 values (round to nearest even), as float32."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def mlx_affine_quantize(w, bits, gs):
    """MLX's affine quantization (mlx/ops.cpp, its CPU arithmetic, all float32) of w [rows, cols]:
    per group of gs, scale = max((max - min) / (2^bits - 1), 1e-7) signed so that the edge of
    larger magnitude maps to an integer q0; if q0 != 0 the scale becomes edge / q0 and the bias
    the edge, else the bias is 0; q = clip(rint((w - bias) / scale), 0, 2^bits - 1), packed
    little-endian into uint32 words. Returns (words [rows, cols*bits/32], scales, biases) with
    scales and biases as float32 (MLX then stores them in the weights' dtype)."""
    w = np.asarray(w, dtype=np.float32)
    rows, cols = w.shape
    g = w.reshape(rows, cols // gs, gs)
    n_bins = np.float32(2 ** bits - 1)
    w_max, w_min = g.max(axis=-1), g.min(axis=-1)
    scale = np.maximum((w_max - w_min) / n_bins, np.float32(1e-7))
    neg = np.abs(w_min) > np.abs(w_max)
    edge = np.where(neg, w_min, w_max)
    scale = np.where(neg, scale, -scale).astype(np.float32)
    q0 = np.rint(edge / scale)
    nz = q0 != 0
    scale = np.where(nz, edge / np.where(nz, q0, np.float32(1)), scale).astype(np.float32)
    bias = np.where(nz, edge, np.float32(0)).astype(np.float32)
    q = np.rint((g - bias[..., None]) / scale[..., None])
    q = np.clip(np.nan_to_num(q, nan=0.0), 0, n_bins).astype(np.uint32).reshape(rows, cols)
    per = 32 // bits
    if 32 % bits:
        raise ValueError("only bit widths that divide 32 are packed here")
    q = q.reshape(rows, cols // per, per)
    words = np.zeros((rows, cols // per), dtype=np.uint32)
    for j in range(per):
        words |= q[:, :, j] << np.uint32(bits * j)
    return words, scale, bias


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
    pools = {}  # matrix width -> (words, scales, biases) of 64 quantized random rows

    def pool(width):
        if width not in pools:
            w = bf16_round(rng.normal(0, 0.02, size=(64, width)).astype(np.float32))
            pools[width] = mlx_affine_quantize(w, bits, gs)
        return pools[width]

    def tiled(part, rows):
        reps = -(-rows // part.shape[0])
        return np.tile(part, (reps, 1))[:rows]

    path = os.path.join(a.out, "model.safetensors")
    with open(path, "wb") as f:
        f.write(len(hbytes).to_bytes(8, "little"))
        f.write(hbytes)
        for name, dt, shape, kind in tensors:
            if kind in ("packed", "scales", "biases"):
                width = shape[1] * (32 // bits) if kind == "packed" else shape[1] * gs
                words, sc, bi = pool(width)
                part = {"packed": words, "scales": sc, "biases": bi}[kind]
                rows_per = max(64, ((64 << 20) // (part.shape[1] * 4)) // 64 * 64)
                for r0 in range(0, shape[0], rows_per):
                    chunk = tiled(part, min(shape[0], r0 + rows_per) - r0)
                    f.write(chunk.tobytes() if kind == "packed" else bf16_bytes(chunk))
            elif kind == "ones":
                f.write(bf16_bytes(np.ones(shape, np.float32)))
            else:
                f.write(bf16_bytes(rng.normal(0, 0.02, size=shape).astype(np.float32)))

    model_type = cfg.get("model_type", "llama")
    arch = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[model_type]
    conf = {"architectures": [arch], "model_type": model_type, "torch_dtype": "bfloat16",
            "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
            "quantization": {"group_size": gs, "bits": bits, "mode": "affine"},
            "quantization_config": {"group_size": gs, "bits": bits, "mode": "affine"}}
    conf.update({k: v for k, v in cfg.items() if v is not None})
    if model_type == "qwen2":
        conf.pop("attention_bias")  # qwen2 always has q/k/v biases
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
