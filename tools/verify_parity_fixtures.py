#!/usr/bin/env python3
"""Re-check generated parity fixtures against mlx-lm (determinism + internal consistency).

    .venv/bin/python tools/verify_parity_fixtures.py DIR        # DIR = .../generated/parity

For every case in DIR/manifest.json:
  * reloads the model with mlx_lm.utils.load_model and recomputes logits.<i> and
    logits_f32.<i>: they must be bit-identical to reference.safetensors;
  * greedy.<i> must be the argmax of greedy_logits.<i>;
  * teacher-forced consistency: a full forward pass (no cache) over tokens.<i> + greedy.<i>
    reproduces greedy_logits.<i> up to dtype rounding noise. Reported as max |diff| / max|logit|
    ("tf_rel"). It is NOT small for rope_dynamic_bf16: mlx-lm's DynamicNTKScalingRoPE picks
    its base from (L + offset) of each call, so cached keys keep the base of the call that
    produced them (see tools/README.md, quirks).
Exit status 1 if a bit-exactness or argmax check fails.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import mlx.core as mx
import mlx_lm.utils as mlu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_parity_fixtures import full_logits, to_f32  # noqa: E402


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__)
        return 2
    root = Path(argv[0])
    mx.set_default_device(mx.cpu)
    manifest = json.loads((root / "manifest.json").read_text())
    bad = 0
    for c in manifest["cases"]:
        d = root / c["name"]
        ref = {k: np.array(v) for k, v in mx.load(str(d / "reference.safetensors")).items()}
        model, _ = mlu.load_model(d)
        exact, tf = True, 0.0
        for i in range(c["sequences"]):
            t = ref[f"tokens.{i}"]
            exact &= np.array_equal(full_logits(model, t), ref[f"logits.{i}"])
            g, gl = ref[f"greedy.{i}"], ref[f"greedy_logits.{i}"]
            if not np.array_equal(np.argmax(gl, axis=-1), g):
                print(f"  {c['name']}: greedy.{i} is not argmax(greedy_logits.{i})")
                bad += 1
            full = full_logits(model, np.concatenate([t, g[:-1]]))[len(t) - 1:]
            tf = max(tf, float(np.abs(full - gl).max() / np.abs(gl).max()))
        model = to_f32(model)
        for i in range(c["sequences"]):
            exact &= np.array_equal(full_logits(model, ref[f"tokens.{i}"]), ref[f"logits_f32.{i}"])
        bad += not exact
        print(f"{c['name']:<24} recompute_exact={exact} tf_rel={tf:.4f}")
    print("OK" if not bad else f"{bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
