#!/usr/bin/env python3
"""Round-trip self-check for tools/gguf_to_mlx.py on a synthetic llama GGUF (seconds, no download).

    .venv/bin/python tools/check_gguf_to_mlx.py [--keep DIR]

1. Makes a tiny random llama model in HF layout (float32, numpy, seeded).
2. Writes it as a GGUF the way llama.cpp's converter does: GGUF names, llama.cpp's Q/K row
   permutation (written here independently of the converter, from the reference formula),
   and a mix of tensor types: Q4_0, Q4_1, Q8_0 (direct MLX affine), F16, BF16, F32 (copied),
   Q5_0 / Q5_1 (dequantized by the converter). Byte-level BPE tokenizer metadata, untied
   output.weight.
3. Converts with gguf_to_mlx.convert and checks:
   a. packing: mx.dequantize(converted) equals the gguf dequantization of the raw GGUF tensor
      (un-permuted) exactly, for every quantized module;
   b. permutation/names: the converted weights are close to the ORIGINAL HF-layout weights
      (a wrong Q/K un-permutation gives relative errors ~1.4, quantization ~0.1);
   c. mlx-lm logits of the converted dir vs an mlx-lm float32 model holding the exact
      dequantized values (relative max error small);
   d. tokenizer: special tokens map to their ids, text round-trips.
4. Also checks that a big-endian file and an unsupported architecture are rejected cleanly.
Exit status 0 when all checks pass.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gguf_to_mlx as G  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as QT  # noqa: E402

H, FF, NH, NKV, HD, NL = 128, 256, 4, 2, 32, 2

# tensor type per (layer, GGUF tensor) - covers every conversion path
LAYER_TYPES = [
    {"attn_q": QT.Q4_1, "attn_k": QT.Q4_0, "attn_v": QT.Q8_0, "attn_output": QT.F16,
     "ffn_gate": QT.Q5_0, "ffn_up": QT.BF16, "ffn_down": QT.Q4_1},
    {"attn_q": QT.Q8_0, "attn_k": QT.F16, "attn_v": QT.Q4_0, "attn_output": QT.Q4_1,
     "ffn_gate": QT.Q4_1, "ffn_up": QT.Q5_1, "ffn_down": QT.F32},
]
HF_NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj"}


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


def make_vocab():
    b2u = bytes_to_unicode()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + [b2u[b] for b in range(256)]
    merges = []
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r")]:
        merges.append(f"{a} {b}")
        tokens.append(a + b)
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    return tokens, types, merges


def llamacpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert: HF row h*hd + a*hd/2 + b  ->  GGUF row h*hd + 2b + a (explicit loop)."""
    rows = w.shape[0]
    hd = rows // n_head
    out = np.empty_like(w)
    for h in range(n_head):
        for a in range(2):
            for b in range(hd // 2):
                out[h * hd + 2 * b + a] = w[h * hd + a * (hd // 2) + b]
    return out


def write_gguf(path: Path, hf: dict, tokens, types, merges, arch="llama"):
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(NL)
    w.add_context_length(256)
    w.add_embedding_length(H)
    w.add_feed_forward_length(FF)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_rope_dimension_count(HD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
                        "{% endif %}")

    raw = {}

    def put(name, arr, qt):
        arr = np.ascontiguousarray(arr.astype(np.float32))
        if qt == QT.F32:
            data = arr
            w.add_tensor(name, data)
        elif qt == QT.F16:
            data = arr.astype(np.float16)
            w.add_tensor(name, data)
        else:
            data = gguf.quants.quantize(arr, qt)
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qt)
        raw[name] = (data, qt)

    put("token_embd.weight", hf["model.embed_tokens.weight"], QT.Q8_0)
    put("output_norm.weight", hf["model.norm.weight"], QT.F32)
    put("output.weight", hf["lm_head.weight"], QT.Q4_0)
    for i in range(NL):
        put(f"blk.{i}.attn_norm.weight", hf[f"model.layers.{i}.input_layernorm.weight"], QT.F32)
        put(f"blk.{i}.ffn_norm.weight", hf[f"model.layers.{i}.post_attention_layernorm.weight"], QT.F32)
        for g, qt in LAYER_TYPES[i].items():
            wt = hf[f"model.layers.{i}.{HF_NAMES[g]}.weight"]
            if g == "attn_q":
                wt = llamacpp_permute(wt, NH)
            elif g == "attn_k":
                wt = llamacpp_permute(wt, NKV)
            put(f"blk.{i}.{g}.weight", wt, qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return raw


def dequant_raw(data, qt, shape):
    if qt == QT.F32:
        return data.astype(np.float32)
    if qt == QT.F16:
        return data.astype(np.float32)
    return gguf.quants.dequantize(data, qt).reshape(shape).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, help="keep the GGUF and the converted dir here")
    args = ap.parse_args(argv)

    import mlx.core as mx
    import mlx_lm.utils as mlu
    from mlx.utils import tree_unflatten
    from mlx_lm import load

    mx.set_default_device(mx.cpu)
    work = Path(tempfile.mkdtemp(prefix="gguf_check_")) if not args.keep else args.keep
    work.mkdir(parents=True, exist_ok=True)
    failures = []

    def check(ok, msg):
        print(("  ok   " if ok else "  FAIL ") + msg)
        if not ok:
            failures.append(msg)

    tokens, types, merges = make_vocab()
    V = len(tokens)
    rng = np.random.default_rng(0)
    hf = {"model.embed_tokens.weight": rng.normal(0, 0.6, (V, H)),
          "model.norm.weight": rng.uniform(0.5, 1.5, H),
          "lm_head.weight": rng.normal(0, 0.1, (V, H))}
    for i in range(NL):
        hf[f"model.layers.{i}.input_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
        hf[f"model.layers.{i}.post_attention_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
        for g, shape in (("attn_q", (NH * HD, H)), ("attn_k", (NKV * HD, H)), ("attn_v", (NKV * HD, H)),
                         ("attn_output", (H, NH * HD)), ("ffn_gate", (FF, H)), ("ffn_up", (FF, H)),
                         ("ffn_down", (H, FF))):
            scale = 4.0 if g in ("attn_q", "attn_k") else 1.0
            hf[f"model.layers.{i}.{HF_NAMES[g]}.weight"] = rng.uniform(-1, 1, shape) * scale / np.sqrt(shape[1])
    hf = {k: v.astype(np.float32) for k, v in hf.items()}

    gpath = work / "synthetic.gguf"
    raw = write_gguf(gpath, hf, tokens, types, merges)
    out = work / "mlx"
    print(f"[check] converting {gpath}")
    G.convert(gpath, out, force=True)

    conv = {}
    for f in out.glob("model*.safetensors"):
        conv.update(mx.load(str(f)))
    cfg = json.loads((out / "config.json").read_text())
    q = cfg.get("quantization", {})

    # a + b: per tensor
    exact_ref = {}
    gname_of = {"model.embed_tokens": "token_embd", "lm_head": "output", "model.norm": "output_norm"}
    for i in range(NL):
        gname_of[f"model.layers.{i}.input_layernorm"] = f"blk.{i}.attn_norm"
        gname_of[f"model.layers.{i}.post_attention_layernorm"] = f"blk.{i}.ffn_norm"
        for g in LAYER_TYPES[i]:
            gname_of[f"model.layers.{i}.{HF_NAMES[g]}"] = f"blk.{i}.{g}"
    for module, gn in gname_of.items():
        data, qt = raw[gn + ".weight"]
        orig = hf[module + ".weight"]
        ref = dequant_raw(data, qt, orig.shape)
        if gn.endswith("attn_q"):
            ref = G.unpermute_rows(ref, NH)
        elif gn.endswith("attn_k"):
            ref = G.unpermute_rows(ref, NKV)
        if module + ".scales" in conv:
            params = q.get(module, q)
            # scale*q + bias evaluated in f32 (mx.dequantize would round the result to f16)
            got = mx.dequantize(conv[module + ".weight"], conv[module + ".scales"].astype(mx.float32),
                                conv[module + ".biases"].astype(mx.float32),
                                group_size=params["group_size"], bits=params["bits"]).astype(mx.float32)
            got = np.array(got)
            check(np.array_equal(got, ref), f"{module} ({qt.name} -> {params['bits']}-bit g{params['group_size']},"
                  f" {conv[module + '.scales'].dtype}) dequantizes exactly to the GGUF values")
        else:
            got = np.array(conv[module + ".weight"].astype(mx.float32))
            exp_dtype = {QT.F32: mx.float32, QT.F16: mx.float16, QT.BF16: mx.bfloat16}.get(qt, mx.float16)
            tol = 0 if qt in (QT.F32, QT.F16, QT.BF16) else 2.0 ** -11 * np.abs(ref).max()
            check(conv[module + ".weight"].dtype == exp_dtype and np.abs(got - ref).max() <= tol,
                  f"{module} ({qt.name}) stored as {conv[module + '.weight'].dtype} with the GGUF values")
        rel = np.linalg.norm(got - orig) / np.linalg.norm(orig)
        check(rel < 0.2, f"{module}: relative error vs original HF weights {rel:.4f} < 0.2")
        exact_ref[module + ".weight"] = ref

    # c: logits through mlx-lm
    model, tok = load(str(out))
    args_ = mlu._get_classes(cfg)
    fmodel = args_[0](args_[1].from_dict({k: v for k, v in cfg.items() if not k.startswith("quantization")}))
    fmodel.update(tree_unflatten([(k, mx.array(v)) for k, v in exact_ref.items()]))
    ids = mx.array(rng.integers(0, V, 40).astype(np.int32))[None]
    lq = np.array(model(ids).astype(mx.float32))
    lf = np.array(fmodel(ids).astype(mx.float32))
    err = np.abs(lq - lf).max() / np.abs(lf).max()
    check(err < 2e-2, f"mlx-lm logits converted vs float reference: rel max err {err:.2e} < 2e-2 "
          f"(converted model computes in {model(ids).dtype})")

    # d: tokenizer
    text = "<|im_start|>user\nthe theater in 2024<|im_end|>"
    enc = tok.encode(text, add_special_tokens=False)
    check(enc[0] == 1 and enc[-1] == 2, f"special tokens encode to their ids: {enc[:3]}...{enc[-2:]}")
    check(tok.decode(enc) == text, "decode(encode(text)) == text")
    check(tok.encode(" the", add_special_tokens=False) == [tokens.index("Ġthe")], "merges applied (' the' is one token)")
    check(len(tok.encode("2024", add_special_tokens=False)) == 4, "digits split individually (smollm pre)")
    check(tok.eos_token_ids == {2}, f"eos ids {tok.eos_token_ids}")

    # 4: rejections
    be = work / "bigendian.gguf"
    b = bytearray(gpath.read_bytes()[:4096])
    b[4:8] = (3).to_bytes(4, "big")
    be.write_bytes(bytes(b))
    try:
        G.convert(be, work / "be_out", force=True)
        check(False, "big-endian file rejected")
    except G.ConversionError as e:
        check("big-endian" in str(e), f"big-endian file rejected: {e}")
    ap2 = work / "other_arch.gguf"
    write_gguf(ap2, hf, tokens, types, merges, arch="mamba")
    try:
        G.convert(ap2, work / "arch_out", force=True)
        check(False, "unsupported architecture rejected")
    except G.ConversionError as e:
        check("architecture" in str(e), f"unsupported architecture rejected: {e}")

    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"[check] {'all checks passed' if not failures else f'{len(failures)} check(s) FAILED'}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
