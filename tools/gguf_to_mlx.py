#!/usr/bin/env python3
"""Convert a GGUF file (llama architecture) into an MLX model directory usable by mlx-lm.

    .venv/bin/python tools/gguf_to_mlx.py MODEL.gguf OUTDIR [--force] [--verify]

Reference: /work/shared/reference/gguf-and-ollama-import.md (GGUF layouts, names, Q/K
permutation, tokenizer) and mlx-format.md (MLX packing, quantization block).

Tensor conversion (per tensor, dispatching on the tensor's own ggml type):
  Q4_1 -> MLX affine 4-bit g32: scales = d, biases = m (f16, exact)
  Q4_0 -> MLX affine 4-bit g32: scales = d, biases = -8 d (f16 exact; f32 if it overflows)
  Q8_0 -> MLX affine 8-bit g32: q = byte ^ 0x80, scales = d, biases = -128 d (f16; f32
          scales/biases for the tensor if -128 d overflows f16)
  F32 / F16 / BF16 -> copied, dtype kept
  anything else -> dequantized with gguf.quants.dequantize to f16 (f32 if out of f16 range or
          with --dequant-dtype float32);
          the script prints which tensors were dequantized.
  4-bit re-packing: GGUF keeps element j in the low nibble and j+16 in the high nibble of
  qs[j]; MLX wants element k at bits 4k.. of the little-endian row bit stream.
  llama Q/K rows are un-permuted (HF row h*hd + a*hd/2 + b <- GGUF row h*hd + 2b + a),
  on the raw quantized rows, i.e. identically for weight/scales/biases.

Writes config.json (with the MLX "quantization" block + "quantization_config" copy),
model.safetensors (+ model.safetensors.index.json), tokenizer.json, tokenizer_config.json,
generation_config.json.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader
from gguf.quants import dequantize as gguf_dequantize

F16_MAX = 65504.0

# --------------------------------------------------------------------------------------
# Errors and GGUF metadata helpers
# --------------------------------------------------------------------------------------


class ConversionError(Exception):
    pass


def open_gguf(path: Path) -> GGUFReader:
    if not Path(path).is_file():
        raise ConversionError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[:4] != b"GGUF":
        raise ConversionError(f"{path}: not a GGUF file (bad magic {head[:4]!r})")
    version = int.from_bytes(head[4:8], "little")
    if version != 0 and (version & 0xFFFF) == 0:
        raise ConversionError(f"{path}: big-endian (byte-swapped) GGUF files are not supported")
    if version not in (2, 3):
        raise ConversionError(f"{path}: unsupported GGUF version {version} (need 2 or 3)")
    try:
        reader = GGUFReader(path)
    except Exception as e:  # gguf raises ValueError/KeyError for malformed files
        raise ConversionError(f"{path}: cannot parse GGUF: {e}") from e
    if reader.byte_order != "I":
        raise ConversionError(f"{path}: big-endian (byte-swapped) GGUF files are not supported")
    return reader


class Meta:
    def __init__(self, reader: GGUFReader):
        self.fields = reader.fields

    def get(self, key, default=None):
        f = self.fields.get(key)
        if f is None:
            return default
        return f.contents()

    def req(self, key):
        v = self.get(key)
        if v is None:
            raise ConversionError(f"missing required GGUF key {key!r}")
        return v


# --------------------------------------------------------------------------------------
# Tensor conversion
# --------------------------------------------------------------------------------------

def _blocks(data: np.ndarray, block_bytes: int) -> np.ndarray:
    """uint8 [rows, row_bytes] -> [rows, nblocks, block_bytes]"""
    rows = data.shape[0]
    if data.shape[-1] % block_bytes:
        raise ConversionError("row size is not a multiple of the block size")
    return data.reshape(rows, data.shape[-1] // block_bytes, block_bytes)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """q uint8 [rows, nblocks, 32] with values 0..15 in element order -> uint32 [rows, nblocks*4]:
    element k at bits 4k.. of the little-endian row bit stream (even k = low nibble of byte k/2)."""
    packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)  # [rows, nb, 16]
    rows = q.shape[0]
    return np.ascontiguousarray(packed.reshape(rows, -1)).view("<u4")


def _legacy_nibbles(qs: np.ndarray) -> np.ndarray:
    """qs [.., 16] -> element order [.., 32]: e_j = qs[j] & 15, e_{j+16} = qs[j] >> 4."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.uint8)


def _f16_or_f32(*arrs: np.ndarray):
    """Return the arrays as f16 if every value is exactly representable (finite) in f16, else f32."""
    ok = all(np.all(np.isfinite(a.astype(np.float16))) and
             np.array_equal(a.astype(np.float16).astype(np.float32), a.astype(np.float32)) for a in arrs)
    dt = np.float16 if ok else np.float32
    return [a.astype(dt) for a in arrs], dt


def convert_q4_0(data):
    b = _blocks(data, 18)
    d = np.ascontiguousarray(b[..., 0:2]).view("<f2")[..., 0].astype(np.float32)
    q = _legacy_nibbles(b[..., 2:18])
    (scales, biases), _ = _f16_or_f32(d, -8.0 * d)
    return _pack_nibbles(q), scales, biases, 4


def convert_q4_1(data):
    b = _blocks(data, 20)
    d = np.ascontiguousarray(b[..., 0:2]).view("<f2")[..., 0]
    m = np.ascontiguousarray(b[..., 2:4]).view("<f2")[..., 0]
    q = _legacy_nibbles(b[..., 4:20])
    return _pack_nibbles(q), d.astype(np.float16), m.astype(np.float16), 4


def convert_q8_0(data):
    b = _blocks(data, 34)
    d = np.ascontiguousarray(b[..., 0:2]).view("<f2")[..., 0].astype(np.float32)
    q = (b[..., 2:34] ^ 0x80).astype(np.uint8)  # int8 + 128
    rows = q.shape[0]
    w = np.ascontiguousarray(q.reshape(rows, -1)).view("<u4")
    (scales, biases), _ = _f16_or_f32(d, -128.0 * d)
    return w, scales, biases, 8


DIRECT_QUANT = {QT.Q4_0: convert_q4_0, QT.Q4_1: convert_q4_1, QT.Q8_0: convert_q8_0}


def float_tensor(t) -> np.ndarray:
    """F32/F16/BF16 tensor -> numpy array in HF shape (reversed ne); BF16 as uint16 bits."""
    shape = tuple(int(x) for x in reversed(t.shape))
    if t.tensor_type == QT.F32:
        return np.asarray(t.data, dtype=np.float32).reshape(shape)
    if t.tensor_type == QT.F16:
        return np.asarray(t.data, dtype=np.float16).reshape(shape)
    if t.tensor_type == QT.BF16:
        return np.ascontiguousarray(t.data).view(np.uint16).reshape(shape)
    raise AssertionError


def unpermute_rows(a: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp Q/K row order -> HF order: HF row h*hd + a*hd/2 + b <- GGUF row h*hd + 2b + a."""
    rows = a.shape[0]
    if rows % n_heads or (rows // n_heads) % 2:
        raise ConversionError(f"cannot un-permute {rows} rows into {n_heads} heads")
    hd = rows // n_heads
    rest = a.shape[1:]
    return np.ascontiguousarray(a.reshape(n_heads, hd // 2, 2, *rest).swapaxes(1, 2).reshape(a.shape))


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------

LLAMA_LAYER_MAP = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
LLAMA_TOP_MAP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def hf_module_name(gguf_name: str) -> tuple[str, str]:
    """'blk.3.attn_q.weight' -> ('model.layers.3.self_attn.q_proj', 'weight')."""
    base, _, suffix = gguf_name.rpartition(".")
    if suffix not in ("weight", "bias"):
        raise ConversionError(f"unexpected tensor {gguf_name!r}")
    parts = base.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[1].isdigit() and parts[2] in LLAMA_LAYER_MAP:
        return f"model.layers.{int(parts[1])}.{LLAMA_LAYER_MAP[parts[2]]}", suffix
    if len(parts) == 1 and parts[0] in LLAMA_TOP_MAP:
        return LLAMA_TOP_MAP[parts[0]], suffix
    raise ConversionError(f"unsupported tensor {gguf_name!r} for the llama architecture")


# --------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------

# llama.cpp pre-tokenizer names -> HF pre-tokenizer construction (see reference §6.3)
R_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")
R_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")
R_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
PRE_LLAMA3 = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"}
PRE_QWEN2 = {"qwen2", "deepseek-r1-qwen", "kormo", "megrez"}
PRE_SMOLLM = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"}
PRE_GPT2 = {"gpt-2", "phi-2", "jina-es", "jina-de", "mpt", "olmo", "jais"}
ADD_BOS_DEFAULT_PRE = PRE_LLAMA3 | {"tekken", "chameleon"}


def build_pre_tokenizer(pre: str):
    from tokenizers import Regex, pre_tokenizers as P

    def split(rx):
        return P.Split(Regex(rx), behavior="isolated", invert=False)

    if pre in PRE_SMOLLM:
        return P.Sequence([P.Digits(individual_digits=True),
                           P.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    if pre in PRE_GPT2:
        return P.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre in PRE_LLAMA3:
        return P.Sequence([split(R_LLAMA3), P.ByteLevel(add_prefix_space=False, trim_offsets=True,
                                                        use_regex=False)])
    if pre in PRE_QWEN2:
        return P.Sequence([split(R_QWEN2), P.ByteLevel(add_prefix_space=False, trim_offsets=False,
                                                       use_regex=False)])
    if pre == "default":
        return P.Sequence([split(r"[\p{P}\$\+<=>\^~\|]+"), split(R_GPT2), split(r"\p{N}+"),
                           split(r"[0-9][0-9][0-9]"),
                           P.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    raise ConversionError(f"unsupported tokenizer.ggml.pre {pre!r} (llama.cpp would refuse it too)")


def build_tokenizer(meta: Meta, out: Path, context_length: int | None) -> dict:
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    tok_model = meta.req("tokenizer.ggml.model")
    tokens = list(meta.req("tokenizer.ggml.tokens"))
    types = list(meta.get("tokenizer.ggml.token_type", [1] * len(tokens)))
    if tok_model != "gpt2":
        raise ConversionError(f"tokenizer.ggml.model {tok_model!r} is not supported yet "
                              "(only byte-level BPE 'gpt2' tokenizers)")
    pre = meta.get("tokenizer.ggml.pre", "default")
    merges_raw = meta.get("tokenizer.ggml.merges")
    if merges_raw is None:
        raise ConversionError("gpt2 tokenizer without tokenizer.ggml.merges")
    merges = []
    for m in merges_raw:
        a, sep, b = m.partition(" ")
        if not sep:
            raise ConversionError(f"malformed merge {m!r}")
        merges.append((a, b))
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)  # duplicates keep the first id
    ignore_merges = pre in PRE_LLAMA3
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None, fuse_unk=False,
                              byte_fallback=False, ignore_merges=ignore_merges))
    tk.pre_tokenizer = build_pre_tokenizer(pre)
    tk.decoder = decoders.ByteLevel()

    def tid(key):
        v = meta.get(key)
        return None if v is None or int(v) < 0 or int(v) >= len(tokens) else int(v)

    bos_id, eos_id = tid("tokenizer.ggml.bos_token_id"), tid("tokenizer.ggml.eos_token_id")
    unk_id, pad_id = tid("tokenizer.ggml.unknown_token_id"), tid("tokenizer.ggml.padding_token_id")
    eot_id, eom_id = tid("tokenizer.ggml.eot_token_id"), tid("tokenizer.ggml.eom_token_id")
    add_bos = meta.get("tokenizer.ggml.add_bos_token")
    if add_bos is None:
        add_bos = pre in ADD_BOS_DEFAULT_PRE
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
    add_bos = bool(add_bos)

    added = []
    for i, (t, ty) in enumerate(zip(tokens, types)):
        if ty == 3:  # CONTROL
            added.append((i, AddedToken(t, special=True, normalized=False)))
        elif ty == 4:  # USER_DEFINED
            added.append((i, AddedToken(t, special=False, normalized=False)))
    tk.add_tokens([a for _, a in added if not a.special])
    tk.add_special_tokens([a for _, a in added if a.special])
    for i, a in added:
        if tk.token_to_id(a.content) != i:
            raise ConversionError(f"added token {a.content!r} got id {tk.token_to_id(a.content)} != {i}")

    single, special = "$A", []
    if add_bos and bos_id is not None:
        single = f"{tokens[bos_id]} {single}"
        special.append((tokens[bos_id], bos_id))
    if add_eos and eos_id is not None:
        single = f"{single} {tokens[eos_id]}"
        special.append((tokens[eos_id], eos_id))
    if special:
        pair = single.replace("$A", "$A:0") + " " + single.replace("$A", "$B:1")
        tk.post_processor = processors.TemplateProcessing(single=single, pair=pair,
                                                          special_tokens=list(dict.fromkeys(special)))
    else:
        tk.post_processor = processors.ByteLevel(trim_offsets=False)
    tk.save(str(out / "tokenizer.json"))

    def name(i):
        return None if i is None else tokens[i]

    tcfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": add_bos,
        "add_eos_token": add_eos,
        "bos_token": name(bos_id),
        "eos_token": name(eos_id),
        "unk_token": name(unk_id),
        "pad_token": name(pad_id),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(context_length) if context_length else 1000000000000000019884624838656,
        "added_tokens_decoder": {
            str(i): {"content": a.content, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": a.special}
            for i, a in added
        },
    }
    tcfg = {k: v for k, v in tcfg.items() if v is not None}
    chat_template = meta.get("tokenizer.chat_template")
    if chat_template:
        tcfg["chat_template"] = chat_template
    (out / "tokenizer_config.json").write_text(json.dumps(tcfg, indent=2, ensure_ascii=False) + "\n")
    eos_ids = [i for i in (eos_id, eot_id, eom_id) if i is not None]
    return {"bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": pad_id,
            "eos_ids": list(dict.fromkeys(eos_ids))}


# --------------------------------------------------------------------------------------
# RoPE scaling
# --------------------------------------------------------------------------------------

def llama3_rope_scaling(freqs: np.ndarray, base: float, head_dim: int, meta_orig: int | None):
    """Reconstruct HF rope_scaling {"rope_type": "llama3", ...} from llama.cpp's rope_freqs."""
    factor = float(freqs.max())
    candidates = []
    for orig in dict.fromkeys([meta_orig, 8192, 4096, 2048, 16384, 32768]):
        if orig:
            for low, high in ((1.0, 4.0), (1.0, 2.0), (2.0, 4.0)):
                candidates.append((orig, low, high))
    i = np.arange(0, head_dim, 2, dtype=np.float64)
    wavelen = 2 * math.pi * base ** (i / head_dim)
    for orig, low, high in candidates:
        low_wl, high_wl = orig / low, orig / high
        expect = np.ones_like(wavelen)
        expect[wavelen > low_wl] = factor
        mid = (wavelen >= high_wl) & (wavelen <= low_wl)
        s = (orig / wavelen[mid] - low) / (high - low)
        expect[mid] = 1.0 / ((1 - s) / factor + s)
        if np.allclose(expect, freqs, rtol=1e-3, atol=1e-4):
            return {"rope_type": "llama3", "factor": factor, "low_freq_factor": low,
                    "high_freq_factor": high, "original_max_position_embeddings": int(orig)}
    raise ConversionError("rope_freqs.weight does not match any llama3 rope scaling that "
                          "mlx-lm can express")


# --------------------------------------------------------------------------------------
# Main conversion
# --------------------------------------------------------------------------------------

def convert(gguf_path: Path, out: Path, force: bool = False, log=print,
            dequant_dtype: str = "float16") -> dict:
    import mlx.core as mx  # only for writing safetensors with bf16/uint32 and mlx metadata

    reader = open_gguf(gguf_path)
    meta = Meta(reader)
    arch = meta.req("general.architecture")
    if arch != "llama":
        raise ConversionError(f"unsupported architecture {arch!r} (supported: llama)")
    if meta.get("split.count", 1) not in (0, 1):
        raise ConversionError("split GGUF files are not supported")

    A = f"{arch}."
    hidden = int(meta.req(A + "embedding_length"))
    n_layers = int(meta.req(A + "block_count"))
    if not 0 < n_layers <= 4096:
        raise ConversionError(f"implausible block_count {n_layers}")
    n_head = meta.req(A + "attention.head_count")
    n_kv = meta.get(A + "attention.head_count_kv", n_head)
    if isinstance(n_head, list) or isinstance(n_kv, list):
        raise ConversionError("per-layer head counts are not supported")
    n_head, n_kv = int(n_head), int(n_kv)
    if n_head <= 0 or n_kv <= 0 or n_head % n_kv:
        raise ConversionError(f"bad head counts {n_head}/{n_kv}")
    head_dim = meta.get(A + "attention.key_length") or meta.get(A + "rope.dimension_count") \
        or hidden // n_head
    head_dim = int(head_dim)
    vkey = meta.get(A + "attention.value_length")
    if vkey is not None and int(vkey) != head_dim:
        raise ConversionError("key_length != value_length is not supported for llama")
    rope_dims = meta.get(A + "rope.dimension_count")
    if rope_dims is not None and int(rope_dims) != head_dim:
        raise ConversionError(f"partial rotary (rope.dimension_count {rope_dims} != head_dim "
                              f"{head_dim}) is not supported by mlx-lm llama")
    ffn = int(meta.req(A + "feed_forward_length"))
    eps = float(meta.get(A + "attention.layer_norm_rms_epsilon", 1e-5))
    rope_theta = float(meta.get(A + "rope.freq_base", 10000.0))
    ctx_len = meta.get(A + "context_length")

    tensors = {t.name: t for t in reader.tensors}
    if "token_embd.weight" not in tensors:
        raise ConversionError("missing token_embd.weight")
    vocab = int(meta.get(A + "vocab_size") or tensors["token_embd.weight"].shape[1])
    if int(tensors["token_embd.weight"].shape[1]) != vocab:
        raise ConversionError("token_embd rows != vocab_size")
    tied = "output.weight" not in tensors

    if out.exists():
        if not force and any(out.iterdir()):
            raise ConversionError(f"{out} exists and is not empty (use --force)")
        if force:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    weights: dict[str, mx.array] = {}
    qparams: dict[str, tuple] = {}  # module path -> (bits, group_size, scale dtype name)
    dequantized, copied = [], []
    rope_scaling = None
    float_dtypes = Counter()

    for name, t in tensors.items():
        if name == "rope_freqs.weight":
            freqs = np.asarray(t.data, dtype=np.float32).reshape(-1)
            rope_scaling = llama3_rope_scaling(freqs, rope_theta, head_dim,
                                               meta.get(A + "rope.scaling.original_context_length"))
            continue
        module, suffix = hf_module_name(name)
        perm_heads = None
        if module.endswith("self_attn.q_proj"):
            perm_heads = n_head
        elif module.endswith("self_attn.k_proj"):
            perm_heads = n_kv
        qt = t.tensor_type
        if qt in DIRECT_QUANT and suffix == "weight" and len(t.shape) == 2:
            data = np.asarray(t.data)
            if perm_heads:
                data = unpermute_rows(data, perm_heads)
            w, scales, biases, bits = DIRECT_QUANT[qt](data)
            weights[f"{module}.weight"] = mx.array(w)
            weights[f"{module}.scales"] = mx.array(scales)
            weights[f"{module}.biases"] = mx.array(biases)
            qparams[module] = (bits, 32, np.dtype(scales.dtype).name)
            continue
        if qt in (QT.F32, QT.F16, QT.BF16):
            arr = float_tensor(t)
            copied.append(name)
        else:
            try:
                arr = gguf_dequantize(np.asarray(t.data), qt)
            except NotImplementedError as e:
                raise ConversionError(f"cannot dequantize {name} of type {qt.name}: {e}") from e
            arr = arr.reshape(tuple(int(x) for x in reversed(t.shape)))
            if dequant_dtype == "float16" and np.all(np.abs(arr) <= F16_MAX):
                arr = arr.astype(np.float16)  # rounds to f16 (<= 2^-11 relative), far below quant error
            else:
                arr = arr.astype(np.float32)
            dequantized.append(f"{name} ({qt.name} -> {np.dtype(arr.dtype).name})")
        if perm_heads:
            arr = unpermute_rows(arr, perm_heads)
        if arr.dtype == np.uint16:  # bf16 bits
            a = mx.array(arr).view(mx.bfloat16)
            float_dtypes["bfloat16"] += arr.size
        else:
            a = mx.array(arr)
            float_dtypes[np.dtype(arr.dtype).name] += arr.size
        weights[f"{module}.{suffix}"] = a

    # ---- quantization block
    quantization = None
    if qparams:
        default = Counter(v[:2] for v in qparams.values()).most_common(1)[0][0]
        quantization = {"group_size": default[1], "bits": default[0], "mode": "affine"}
        for module, (bits, gs, _) in sorted(qparams.items()):
            if (bits, gs) != default:
                quantization[module] = {"group_size": gs, "bits": bits, "mode": "affine"}
    scale_dtypes = Counter(v[2] for v in qparams.values())
    if scale_dtypes:
        torch_dtype = scale_dtypes.most_common(1)[0][0]
    else:
        big = [d for d, _ in float_dtypes.most_common() if d in ("float16", "bfloat16", "float32")]
        torch_dtype = big[0] if big else "float16"

    # ---- sanity: expected tensors present
    expected = ["model.embed_tokens", "model.norm"] + ([] if tied else ["lm_head"])
    for i in range(n_layers):
        expected += [f"model.layers.{i}.{v}" for v in LLAMA_LAYER_MAP.values()]
    missing = [m for m in expected if f"{m}.weight" not in weights]
    if missing:
        raise ConversionError(f"missing tensors: {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    attention_bias = f"model.layers.0.self_attn.q_proj.bias" in weights

    # ---- weights (mlx-lm layout: model.safetensors or shards + index)
    import mlx_lm.utils as mlu
    ordered = {k: weights[k] for k in sorted(weights)}
    shards = mlu.make_shards(ordered)
    fmt = "model-{:05d}-of-{:05d}.safetensors" if len(shards) > 1 else "model.safetensors"
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = fmt.format(i + 1, len(shards))
        mx.save_safetensors(str(out / fname), shard, metadata={"format": "mlx"})
        weight_map.update({k: fname for k in shard})
    total_size = sum(v.nbytes for v in weights.values())
    n_params = 0
    for k, v in weights.items():
        if k.endswith((".scales", ".biases")):
            continue
        if v.dtype == mx.uint32:
            module = k.rsplit(".", 1)[0]
            n_params += v.size * 32 // qparams[module][0]
        else:
            n_params += v.size
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total_size, "total_parameters": n_params},
         "weight_map": dict(sorted(weight_map.items()))}, indent=4) + "\n")

    # ---- tokenizer + generation config
    tok = build_tokenizer(meta, out, ctx_len)

    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": n_layers,
        "intermediate_size": ffn,
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv,
        "head_dim": head_dim,
        "rms_norm_eps": eps,
        "rope_theta": rope_theta,
        "rope_scaling": rope_scaling,
        "max_position_embeddings": int(ctx_len) if ctx_len else 4096,
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
        "attention_bias": attention_bias,
        "mlp_bias": False,
        "hidden_act": "silu",
        "torch_dtype": torch_dtype,
        "bos_token_id": tok["bos_token_id"],
        "eos_token_id": tok["eos_ids"][0] if len(tok["eos_ids"]) == 1 else tok["eos_ids"],
        "pad_token_id": tok["pad_token_id"],
    }
    stype = meta.get(A + "rope.scaling.type")
    if rope_scaling is None and stype and stype != "none":
        factor = float(meta.req(A + "rope.scaling.factor"))
        if stype == "linear":
            rope_scaling = {"type": "linear", "factor": factor}
        elif stype == "yarn":
            rope_scaling = {"rope_type": "yarn", "factor": factor}
            orig = meta.get(A + "rope.scaling.original_context_length")
            if orig:
                rope_scaling["original_max_position_embeddings"] = int(orig)
            for gk, hk in (("yarn_beta_fast", "beta_fast"), ("yarn_beta_slow", "beta_slow")):
                v = meta.get(A + "rope.scaling." + gk)
                if v is not None:
                    rope_scaling[hk] = float(v)
        else:
            raise ConversionError(f"unsupported rope scaling type {stype!r}")
        config["rope_scaling"] = rope_scaling
    if config["rope_scaling"] is None:
        del config["rope_scaling"]
    config = {k: v for k, v in config.items() if v is not None}
    if quantization is not None:
        config["quantization"] = quantization
        config["quantization_config"] = quantization
    (out / "config.json").write_text(json.dumps(dict(sorted(config.items())), indent=4) + "\n")

    gen = {"bos_token_id": tok["bos_token_id"],
           "eos_token_id": tok["eos_ids"][0] if len(tok["eos_ids"]) == 1 else tok["eos_ids"]}
    if tok["pad_token_id"] is not None:
        gen["pad_token_id"] = tok["pad_token_id"]
    gen = {k: v for k, v in gen.items() if v is not None}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")

    counts = Counter(t.tensor_type.name for t in tensors.values())
    log(f"[gguf_to_mlx] {gguf_path.name}: arch={arch} layers={n_layers} hidden={hidden} "
        f"heads={n_head}/{n_kv} head_dim={head_dim} vocab={vocab} tied={tied}")
    log(f"[gguf_to_mlx] tensor types: {dict(counts)}; quantization: {quantization}")
    if dequantized:
        log(f"[gguf_to_mlx] dequantized {len(dequantized)} tensor(s):")
        for d in dequantized:
            log(f"    {d}")
    else:
        log("[gguf_to_mlx] no tensor needed dequantization")
    log(f"[gguf_to_mlx] wrote {out} ({len(shards)} weight file(s), {total_size / 2**20:.1f} MiB)")
    return config


def verify(out: Path, prompt: str = "What is the capital of France?", max_tokens: int = 40) -> str:
    """Load the converted directory with mlx-lm and greedily answer a chat-templated prompt."""
    import mlx.core as mx
    from mlx_lm import generate, load

    mx.set_default_device(mx.cpu)
    model, tokenizer = load(str(out))
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                         add_generation_prompt=True, tokenize=False)
    return generate(model, tokenizer, prompt=text, max_tokens=max_tokens, verbose=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", type=Path)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--force", action="store_true", help="replace OUTDIR if it exists")
    ap.add_argument("--dequant-dtype", choices=["float16", "float32"], default="float16",
                    help="dtype for tensors whose GGUF type has no exact MLX form (default float16; "
                         "float32 keeps the dequantized values exactly)")
    ap.add_argument("--verify", action="store_true",
                    help="load the result with mlx-lm and generate an answer to a chat prompt")
    args = ap.parse_args(argv)
    try:
        convert(args.gguf, args.outdir, force=args.force, dequant_dtype=args.dequant_dtype)
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.verify:
        print("[gguf_to_mlx] mlx-lm says:", repr(verify(args.outdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
