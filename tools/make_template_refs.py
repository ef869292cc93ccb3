#!/usr/bin/env python3
"""Write the chat-template parity references: every real template rendered by transformers.

    .venv/bin/python tools/make_template_refs.py --out tests/fixtures/generated

Reads the 97 templates of /work/shared/data/chat_templates/templates.json (or --templates) and
the conversations of tests/data/chat_conversations.json, renders each template x conversation x
flags with transformers' own `render_jinja_template` (its sandboxed jinja2 environment with
trim_blocks, lstrip_blocks, loopcontrols and its tojson/raise_exception/strftime_now), the way
`apply_chat_template` calls it (messages normalized with `_normalize_chat_messages`), and writes
DIR/templates/refs.json:

  {"now": "2024-07-26T10:30:00",            fixed clock seen by strftime_now()
   "templates": [{"model": ..., "source": ...}],
   "conversations": [{"name", "messages", "tools"?}],
   "cases": [{"template": i, "conversation": j, "add_generation_prompt": bool,
              "kwargs": {"bos_token": ..., "eos_token": ..., "enable_thinking"?: bool},
              "output": str}                         or, where jinja2 raised,
             {..., "error": "ExceptionType: message"}]}

tests/unit/template (test_template) replays every case through ollmlx's engine.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATES = Path("/work/shared/data/chat_templates/templates.json")
if not DEFAULT_TEMPLATES.exists():
    DEFAULT_TEMPLATES = ROOT / "shared/data/chat_templates/templates.json"

# The clock strftime_now() sees in the references (the C++ test injects the same one).
FIXED_NOW = _dt.datetime(2024, 7, 26, 10, 30, 0)

# Special tokens passed as template kwargs, rotated over the templates.
SPECIAL_TOKENS = [
    {"bos_token": "<s>", "eos_token": "</s>"},
    {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    {"bos_token": "<bos>", "eos_token": "<eos>"},
]
# enable_thinking: absent, true, false.
THINKING = [None, True, False]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True,
                    help="fixtures directory (refs go to OUT/templates/refs.json)")
    ap.add_argument("--templates", default=str(DEFAULT_TEMPLATES))
    ap.add_argument("--conversations", default=str(ROOT / "tests/data/chat_conversations.json"))
    args = ap.parse_args()

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import jinja2
    import transformers
    import transformers.utils.chat_template_utils as ctu

    class FixedDateTime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ARG003 - same signature as datetime.now
            return FIXED_NOW

    # strftime_now() reads the module's `datetime` global when called.
    ctu.datetime = FixedDateTime
    ctu._compile_jinja_template.cache_clear()

    templates = json.loads(Path(args.templates).read_text(encoding="utf-8"))
    conversations = json.loads(
        Path(args.conversations).read_text(encoding="utf-8"))["conversations"]

    cases = []
    counts = {"ok": 0, "error": 0}
    for ti, tmpl in enumerate(templates):
        source = tmpl["jinja"]
        special = SPECIAL_TOKENS[ti % len(SPECIAL_TOKENS)]
        for ci, conv in enumerate(conversations):
            for agp in (False, True):
                for thinking in THINKING:
                    kwargs = dict(special)
                    if thinking is not None:
                        kwargs["enable_thinking"] = thinking
                    case = {"template": ti, "conversation": ci, "add_generation_prompt": agp,
                            "kwargs": kwargs}
                    messages = ctu._normalize_chat_messages(
                        json.loads(json.dumps(conv["messages"])))
                    try:
                        rendered, _ = ctu.render_jinja_template(
                            conversations=[messages], tools=conv.get("tools"), chat_template=source,
                            add_generation_prompt=agp, **kwargs)
                        case["output"] = rendered[0]
                        counts["ok"] += 1
                    except Exception as e:  # noqa: BLE001 - any failure is a reference outcome
                        case["error"] = f"{type(e).__name__}: {e}"
                        counts["error"] += 1
                    cases.append(case)

    out_dir = Path(args.out) / "templates"
    out_dir.mkdir(parents=True, exist_ok=True)
    refs = {
        "generator": f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}",
        "now": FIXED_NOW.isoformat(),
        "templates": [{"model": t["model"], "source": t["jinja"]} for t in templates],
        "conversations": conversations,
        "cases": cases,
    }
    (out_dir / "refs.json").write_text(json.dumps(refs, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out_dir / 'refs.json'}: {len(templates)} templates, "
          f"{len(conversations)} conversations, {len(cases)} cases "
          f"({counts['ok']} rendered, {counts['error']} raised)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
