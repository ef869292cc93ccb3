#!/usr/bin/env python3
"""Checks tools/make_random_mlx_model.py's numpy port of MLX's affine quantization against the
real `mx.quantize` (the test venv's MLX) on small bf16 matrices: packed words, scales and biases
must be identical, bit for bit. Run by tools/prepare_test_data.sh; exits non-zero on a mismatch.
Groups include the edge cases of the algorithm: constant, all zero, all negative, all positive,
one outlier, a minimum of larger magnitude than the maximum and the reverse, tiny values."""
import importlib.util
import os
import sys

import mlx.core as mx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("make_random_mlx_model", os.path.join(HERE, "make_random_mlx_model.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def matrix(rng, rows, cols, gs):
    w = rng.normal(0, 0.02, size=(rows, cols)).astype(np.float32)
    g = w.reshape(rows, cols // gs, gs)
    g[0, 0] = 0.013                      # constant
    g[1 % rows, 0] = 0.0                 # all zero
    g[2 % rows, 0] = -np.abs(g[2 % rows, 0])  # all negative
    g[3 % rows, 0] = np.abs(g[3 % rows, 0])   # all positive
    g[4 % rows, 0, 3] = 0.9              # one outlier
    g[5 % rows, 0] *= 1e-6               # tiny values
    return gen.bf16_round(w)


def main():
    rng = np.random.default_rng(7)
    cases = 0
    for bits in (2, 4, 8):
        for gs in (32, 64, 128):
            for rows, cols in ((8, gs * 3), (33, gs * 2)):
                w = matrix(rng, rows, cols, gs)
                words, scales, biases = gen.mlx_affine_quantize(w, bits, gs)
                mq, ms, mb = mx.quantize(mx.array(w).astype(mx.bfloat16), group_size=gs, bits=bits)
                mx.eval(mq, ms, mb)
                want_w = np.array(mq)
                want_s = np.array(ms.astype(mx.float32))
                want_b = np.array(mb.astype(mx.float32))
                what = f"bits {bits} group {gs} {rows}x{cols}"
                if not np.array_equal(words, want_w):
                    bad = np.argwhere(words != want_w)[0]
                    sys.exit(f"{what}: packed words differ from mx.quantize first at {bad.tolist()}")
                for name, ours, ref in (("scales", scales, want_s), ("biases", biases, want_b)):
                    ours16 = gen.bf16_round(ours)
                    if not np.array_equal(ours16.view(np.uint32), ref.view(np.uint32)):
                        bad = np.argwhere(ours16.view(np.uint32) != ref.view(np.uint32))[0]
                        sys.exit(f"{what}: {name} differ from mx.quantize first at {bad.tolist()}: "
                                 f"{ours16[tuple(bad)]!r} vs {ref[tuple(bad)]!r}")
                cases += 1
    print(f"make_random_mlx_model quantizer: identical to mx.quantize {mx.__version__} in {cases} cases")


if __name__ == "__main__":
    main()
