#!/usr/bin/env python3
"""Write tests/data/fp_quant_mlx.json: how MLX's own mx.dequantize decodes every code and scale
byte of the floating-point quantization modes (mxfp4, mxfp8, nvfp4), as float32 bit patterns.

    .venv/bin/python tools/make_fp_quant_table.py [--out tests/data/fp_quant_mlx.json]

The C++ op tests (tests/ops/test_fp_quant.cpp) use these tables as the reference for the CPU
backend's decoding, the linear op and the embedding lookup in these modes. The file is small and
committed; rerun this script when the pinned mlx version changes.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import mlx.core as mx


def bits(a) -> list[str]:
    return [f"{int(u):08x}" for u in np.array(a, dtype=np.float32).view(np.uint32).ravel()]


def dequant(codes_u32, scales_u8, group, nbits, mode, global_scale=None):
    kw = {} if global_scale is None else {"global_scale": mx.array(global_scale, mx.float32)}
    return np.array(mx.dequantize(mx.array(codes_u32), mx.array(scales_u8), None, group, nbits,
                                  mode=mode, dtype=mx.float32, **kw))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/data/fp_quant_mlx.json")
    args = ap.parse_args()
    mx.set_default_device(mx.cpu)

    # FP4 (E2M1): codes 0..15 in one row of 32 (nibble k at bits 4*(k%8)), scale 2^0 (E8M0 127).
    nib = np.array(list(range(16)) * 2, dtype=np.uint8)
    words = (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).view(np.uint32)[None]
    fp4 = dequant(words, np.array([[127]], np.uint8), 32, 4, "mxfp4")[0, :16]

    # FP8 (E4M3) element: every byte, 8 rows of 32, scale 2^0.
    codes = np.arange(256, dtype=np.uint8).reshape(8, 32).view(np.uint32)
    e4m3 = dequant(codes, np.full((8, 1), 127, np.uint8), 32, 8, "mxfp8").ravel()

    # E8M0 scales: every byte, each scaling the FP4 value 1.0 (nibble 2).
    ones = np.full((256, 4), 0x22222222, np.uint32)
    e8m0 = dequant(ones, np.arange(256, dtype=np.uint8)[:, None], 32, 4, "mxfp4")[:, 0]

    # nvfp4 scales (E4M3, group 16): every byte, scaling 1.0; and with a global scale.
    ones16 = np.full((256, 2), 0x22222222, np.uint32)
    nv = dequant(ones16, np.arange(256, dtype=np.uint8)[:, None], 16, 4, "nvfp4")[:, 0]
    g = 3.0
    nv_g = dequant(ones16, np.arange(256, dtype=np.uint8)[:, None], 16, 4, "nvfp4", g)[:, 0]

    out = {
        "generator": "tools/make_fp_quant_table.py",
        "mlx_version": mx.__version__,
        "note": "float32 bit patterns (hex) of mx.dequantize(..., dtype=float32) on the CPU",
        "fp4_e2m1": bits(fp4),
        "fp8_e4m3": bits(e4m3),
        "scale_e8m0": bits(e8m0),
        "scale_nvfp4_e4m3": bits(nv),
        "nvfp4_global_scale": g,
        "scale_nvfp4_e4m3_with_global_scale": bits(nv_g),
    }
    args.out.write_text(json.dumps(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
