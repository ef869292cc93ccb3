#!/usr/bin/env python3
"""Write reference encodings/decodings from Hugging Face `tokenizers` for the tokenizer parity test.

    .venv/bin/python tools/make_tokenizer_refs.py --out tests/fixtures/generated/tokenizers

For every tokenizer (the families in /work/shared/data/tokenizers or --data, plus SmolLM2's
converted tokenizer when tests/fixtures/generated/smollm2/tokenizer.json exists) this writes
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
"""
from __future__ import annotations

import argparse
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
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "entries": entries,
        "random": randoms,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder of <family>/tokenizer.json.xz (+ tokenizer_config.json)")
    args = ap.parse_args()
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)

    sources: list[tuple[str, Path, Path | None]] = []
    for fam in sorted(p for p in args.data.iterdir() if p.is_dir()):
        xz = fam / "tokenizer.json.xz"
        if xz.exists():
            cfg = fam / "tokenizer_config.json"
            sources.append((fam.name, xz, cfg if cfg.exists() else None))
    if (SMOLLM2 / "tokenizer.json").exists():
        cfg = SMOLLM2 / "tokenizer_config.json"
        sources.append(("smollm2", SMOLLM2 / "tokenizer.json", cfg if cfg.exists() else None))
    else:
        print(f"note: {SMOLLM2}/tokenizer.json absent; skipping SmolLM2", file=sys.stderr)

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
    (args.out / "manifest.json").write_text(
        json.dumps({"tokenizers": names, "tokenizers_version": tokenizers.__version__}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
