#!/usr/bin/env python3
"""Write reference encodings/decodings from Hugging Face `tokenizers` for the tokenizer parity test.

    .venv/bin/python tools/make_tokenizer_refs.py --out tests/fixtures/generated/tokenizers

For every tokenizer (the families in /work/shared/data/tokenizers or --data, plus SmolLM2's
converted tokenizer when tests/fixtures/generated/smollm2/tokenizer.json or --smollm2 DIR
exists) this writes
OUT/<name>/:
  tokenizer.json          decompressed copy (the C++ test loads it)
  tokenizer_config.json   copied when the family has one
  refs.json               {"tokenizer", "tokenizers_version", "entries": [...], "random": [...]}
Each entry of tests/data/tokenizer_corpus/corpus.json gets
  ids            encode(text, add_special_tokens=True)
  ids_plain      encode(text, add_special_tokens=False)
  ids_split      encode(text, add_special_tokens=True) with encode_special_tokens=True
                 (transformers' split_special_tokens=True: special-token text is plain text)
  decode         decode(ids, skip_special_tokens=False)
  decode_skip    decode(ids, skip_special_tokens=True)
and "random" holds seeded random id sequences (byte tokens, special tokens, arbitrary pieces)
with their decodes, to exercise the decoders on sequences no encoder would produce.
Truncation and padding are disabled (the C++ tokenizer does neither).

Besides the real tokenizers, "syn_*" tokenizers cover every supported component that the real
ones do not use: variants of the real files with other normalizers / pre-tokenizers /
post-processors / decoders / added-token flags, and small models trained here with the
`tokenizers` trainers (continuing_subword_prefix, end_of_word_suffix, unk, WordLevel).
"""
from __future__ import annotations

import argparse
import copy
import json
import lzma
import random
import shutil
import sys
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path("/work/shared/data/tokenizers")
CORPUS = ROOT / "tests" / "data" / "tokenizer_corpus" / "corpus.json"
SMOLLM2 = ROOT / "tests" / "fixtures" / "generated" / "smollm2"


def random_sequences(tok: Tokenizer, seed: int, count: int = 60) -> list[list[int]]:
    rng = random.Random(seed)
    size = tok.get_vocab_size(with_added_tokens=True)
    vocab = tok.get_vocab(with_added_tokens=True)
    byte_ids = [i for t, i in vocab.items() if len(t) == 6 and t.startswith("<0x")]
    special = [int(i) for i, t in tok.get_added_tokens_decoder().items() if t.special]
    seqs = []
    for n in range(count):
        length = rng.randint(1, 24)
        seq = []
        for _ in range(length):
            r = rng.random()
            if byte_ids and r < 0.3:
                seq.append(rng.choice(byte_ids))
            elif special and r < 0.4:
                seq.append(rng.choice(special))
            else:
                seq.append(rng.randrange(size))
        seqs.append(seq)
    return seqs


def _variant(base: dict, **changes) -> dict:
    j = copy.deepcopy(base)
    for key, value in changes.items():
        if key == "model_changes":
            j["model"].update(value)
        else:
            j[key] = value
    return j


def _bytelevel(add_prefix_space=False, use_regex=False) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True,
            "use_regex": use_regex}


def _split(pattern: dict, behavior: str, invert: bool = False) -> dict:
    return {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert}


def _seq_pre(*steps) -> dict:
    return {"type": "Sequence", "pretokenizers": list(steps)}


def _added(id_, content, special=True, normalized=False, lstrip=False, rstrip=False,
           single_word=False) -> dict:
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


def _trained(corpus: list[dict], kind: str) -> str:
    from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers
    texts = [e["text"] for e in corpus] * 3
    if kind == "bpe_prefix_suffix":
        tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##",
                                   end_of_word_suffix="</w>", fuse_unk=True))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.decoder = decoders.BPEDecoder(suffix="</w>")
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                      continuing_subword_prefix="##", end_of_word_suffix="</w>",
                                      limit_alphabet=120)
        tok.train_from_iterator(texts, trainer)
        tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                       ("[CLS]", tok.token_to_id("[CLS]")))
    elif kind == "bpe_wordpiece_decoder":
        tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
        trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=["[UNK]", "<s>", "</s>"],
                                      continuing_subword_prefix="##", limit_alphabet=200)
        tok.train_from_iterator(texts, trainer)
        tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                          ("<s>", tok.token_to_id("<s>")))
    elif kind == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                               normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                     pre_tokenizers.Punctuation()])
        trainer = trainers.WordLevelTrainer(vocab_size=400, special_tokens=["[UNK]"])
        tok.train_from_iterator(texts, trainer)
    elif kind == "bytelevel_base":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=3000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        tok.train_from_iterator(texts, trainer)
        tok.add_tokens(["<think>", "</think>"])
    else:
        raise ValueError(kind)
    return tok.to_str()


def synthetic(data: Path, corpus: list[dict]) -> list[tuple[str, str]]:
    """(name, tokenizer.json text) of the synthetic variants."""
    def load(fam: str) -> dict:
        src = data / fam / "tokenizer.json.xz"
        return json.loads(lzma.decompress(src.read_bytes()))
    out: list[tuple[str, dict | str]] = []
    spm = load("llama2")          # SentencePiece-style BPE with byte_fallback
    bl = json.loads(_trained(corpus, "bytelevel_base"))  # small byte-level BPE
    ids = {a["content"]: a["id"] for a in bl["added_tokens"]}
    ms = lambda scheme, split: {"type": "Metaspace", "replacement": "\u2581",
                                "prepend_scheme": scheme, "split": split}
    spm_dec = lambda scheme: {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": True},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    out.append(("syn_metaspace_first", _variant(
        spm, normalizer=None, pre_tokenizer=ms("first", True), decoder=spm_dec("first"))))
    out.append(("syn_metaspace_always_nosplit", _variant(
        spm, normalizer=None, pre_tokenizer=ms("always", False), decoder=spm_dec("always"))))
    out.append(("syn_metaspace_never", _variant(
        spm, normalizer=None, pre_tokenizer=_seq_pre(
            _split({"Regex": "\\d+"}, "Isolated"), ms("never", True)),
        decoder=spm_dec("never"))))
    fewer_bytes = copy.deepcopy(spm)
    for b in ("<0xE4>", "<0xE5>", "<0xF0>", "<0x0A>"):
        del fewer_bytes["model"]["vocab"][b]
    out.append(("syn_byte_fallback_unk", _variant(
        fewer_bytes, model_changes={"fuse_unk": False},
        decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"Regex": "\u2581+"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 2, "stop": 0}]})))
    out.append(("syn_bytelevel_base", bl))
    out.append(("syn_split_removed", _variant(
        bl, pre_tokenizer=_seq_pre(_split({"String": " "}, "Removed"),
                                   _bytelevel(add_prefix_space=True)))))
    out.append(("syn_split_merged_prev", _variant(
        bl, pre_tokenizer=_seq_pre(_split({"Regex": "\\p{P}+"}, "MergedWithPrevious"),
                                   _bytelevel(use_regex=True)))))
    out.append(("syn_split_merged_next_invert", _variant(
        bl, pre_tokenizer=_seq_pre(_split({"Regex": "\\w+"}, "MergedWithNext", invert=True),
                                   _bytelevel()))))
    out.append(("syn_split_contiguous_digits", _variant(
        bl, pre_tokenizer=_seq_pre(_split({"Regex": "[aeiou]|\\s"}, "Contiguous"),
                                   {"type": "Digits", "individual_digits": False},
                                   _bytelevel()))))
    out.append(("syn_whitespace", _variant(
        bl, pre_tokenizer=_seq_pre({"type": "Whitespace"}, _bytelevel()))))
    out.append(("syn_whitespace_split_punct", _variant(
        bl, pre_tokenizer=_seq_pre({"type": "WhitespaceSplit"},
                                   {"type": "Punctuation", "behavior": "MergedWithNext"},
                                   _bytelevel()))))
    out.append(("syn_bert_pre", _variant(
        bl, pre_tokenizer=_seq_pre({"type": "BertPreTokenizer"},
                                   {"type": "Digits", "individual_digits": True},
                                   _bytelevel()))))
    out.append(("syn_normalizers", _variant(
        bl, normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Lowercase"},
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Replace", "pattern": {"String": "x"}, "content": "yy"}]})))
    out.append(("syn_nfd_accents_prepend", _variant(
        bl, normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFD"}, {"type": "StripAccents"}, {"type": "Prepend", "prepend": " "},
            {"type": "NFKD"}, {"type": "NFC"}]},
        pre_tokenizer=_bytelevel(add_prefix_space=True, use_regex=True))))
    out.append(("syn_misc_normalizers", _variant(
        bl, normalizer={"type": "Sequence", "normalizers": [
            {"type": "Nmt"}, {"type": "ByteLevel"}]},
        pre_tokenizer=_split({"Regex": " ?\\p{L}+| ?[^\\p{L}]+"}, "Isolated"))))
    added = copy.deepcopy(bl["added_tokens"])
    for a in added:
        if a["content"] == "<|im_start|>":
            a["lstrip"] = True
        if a["content"] == "<|im_end|>":
            a["rstrip"] = True
        if a["content"] == "<think>":
            a["single_word"] = True
        if a["content"] == "</think>":
            a["normalized"] = True
    nxt = max(a["id"] for a in added) + 1
    added += [_added(nxt, "hello world", special=False, normalized=True),
              _added(nxt + 1, "Data", special=False, normalized=True),
              _added(nxt + 2, "<mask>", special=True, lstrip=True, rstrip=True),
              _added(nxt + 3, "ing", special=False, single_word=True),
              _added(nxt + 4, "  ", special=False),
              _added(nxt + 5, "ß", special=True, normalized=True)]
    out.append(("syn_added_flags", _variant(
        bl, added_tokens=added,
        normalizer={"type": "Sequence", "normalizers": [{"type": "Lowercase"},
                                                        {"type": "NFKC"}]})))
    tpl = {"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "end", "type_id": 0}}],
           "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                    {"Sequence": {"id": "B", "type_id": 1}}],
           "special_tokens": {
               "<|im_start|>": {"id": "<|im_start|>", "ids": [ids["<|im_start|>"]],
                                "tokens": ["<|im_start|>"]},
               "end": {"id": "end", "ids": [ids["<|im_end|>"], bl["model"]["vocab"]["Ċ"]],
                       "tokens": ["<|im_end|>", "Ċ"]}}}
    out.append(("syn_template", _variant(
        bl, post_processor={"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False}, tpl,
            {"type": "RobertaProcessing", "sep": ["<|endoftext|>", ids["<|endoftext|>"]],
             "cls": ["<|im_start|>", ids["<|im_start|>"]], "trim_offsets": True,
             "add_prefix_space": False}]},
        decoder={"type": "Sequence", "decoders": [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False},
            {"type": "Replace", "pattern": {"String": "<|im_end|>"}, "content": "[END]"}]})))
    l3 = load("llama3")
    out.append(("syn_llama3_merges", _variant(l3, model_changes={"ignore_merges": False})))
    for kind in ("bpe_prefix_suffix", "bpe_wordpiece_decoder", "wordlevel"):
        out.append((f"syn_{kind}", _trained(corpus, kind)))
    return [(n, j if isinstance(j, str) else json.dumps(j, ensure_ascii=False)) for n, j in out]


def make_refs(name: str, tok: Tokenizer, corpus: list[dict]) -> dict:
    tok.no_truncation()
    tok.no_padding()
    entries = []
    for e in corpus:
        text = e["text"]
        tok.encode_special_tokens = False
        ids = tok.encode(text, add_special_tokens=True).ids
        ids_plain = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        ids_split = tok.encode(text, add_special_tokens=True).ids
        tok.encode_special_tokens = False
        entries.append({
            "name": e["name"],
            "text": text,
            "ids": ids,
            "ids_plain": ids_plain,
            "ids_split": ids_split,
            "decode": tok.decode(ids, skip_special_tokens=False),
            "decode_skip": tok.decode(ids, skip_special_tokens=True),
        })
    randoms = []
    for seq in random_sequences(tok, seed=sum(map(ord, name))):
        randoms.append({
            "ids": seq,
            "decode": tok.decode(seq, skip_special_tokens=False),
            "decode_skip": tok.decode(seq, skip_special_tokens=True),
        })
    return {
        "tokenizer": name,
        "tokenizers_version": tokenizers.__version__,
        "vocab_size": max(tok.get_vocab(with_added_tokens=True).values()) + 1,
        "entries": entries,
        "random": randoms,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder of <family>/tokenizer.json.xz (+ tokenizer_config.json)")
    ap.add_argument("--smollm2", type=Path, default=SMOLLM2,
                    help="folder with SmolLM2's converted tokenizer.json (skipped if absent)")
    args = ap.parse_args()
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)

    sources: list[tuple[str, Path, Path | None]] = []
    for fam in sorted(p for p in args.data.iterdir() if p.is_dir()):
        xz = fam / "tokenizer.json.xz"
        if xz.exists():
            cfg = fam / "tokenizer_config.json"
            sources.append((fam.name, xz, cfg if cfg.exists() else None))
    if (args.smollm2 / "tokenizer.json").exists():
        cfg = args.smollm2 / "tokenizer_config.json"
        sources.append(("smollm2", args.smollm2 / "tokenizer.json", cfg if cfg.exists() else None))
    else:
        print(f"note: {args.smollm2}/tokenizer.json absent; skipping SmolLM2", file=sys.stderr)

    names = []
    for name, src, cfg in sources:
        dest = args.out / name
        dest.mkdir(parents=True, exist_ok=True)
        data = lzma.decompress(src.read_bytes()) if src.suffix == ".xz" else src.read_bytes()
        (dest / "tokenizer.json").write_bytes(data)
        if cfg is not None:
            shutil.copyfile(cfg, dest / "tokenizer_config.json")
        tok = Tokenizer.from_str(data.decode("utf-8"))
        refs = make_refs(name, tok, corpus)
        (dest / "refs.json").write_text(json.dumps(refs, ensure_ascii=False), encoding="utf-8")
        names.append(name)
        print(f"{name}: {len(refs['entries'])} entries, {len(refs['random'])} random decodes")
    for name, text in synthetic(args.data, corpus):
        dest = args.out / name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "tokenizer.json").write_text(text, encoding="utf-8")
        tok = Tokenizer.from_str(text)
        refs = make_refs(name, tok, corpus)
        (dest / "refs.json").write_text(json.dumps(refs, ensure_ascii=False), encoding="utf-8")
        names.append(name)
        print(f"{name}: {len(refs['entries'])} entries, {len(refs['random'])} random decodes")
    (args.out / "manifest.json").write_text(
        json.dumps({"tokenizers": names, "tokenizers_version": tokenizers.__version__}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
