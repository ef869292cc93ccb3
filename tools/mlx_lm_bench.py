#!/usr/bin/env python3
"""Times mlx-lm's own generation loop on a model directory without a tokenizer (the random-weight
models of tools/make_random_mlx_model.py), for comparison with `ollmlx bench --device mlx`.

Per repetition: a prompt of -p random tokens goes through mlx_lm.generate.generate_step (which
prefills in one chunk and then decodes greedily with its async_eval pipelining); time to first
token = until the first token comes out, prefill tok/s = p / that; decode tok/s = the next -n
tokens over the time they took. The first repetition is a warm-up (MLX compiles its CUDA kernels
on first use) and is reported but not averaged.

    tools/mlx_lm_bench.py MODEL_DIR [-p 512] [-n 128] [-r 3] [--json OUT]
"""
import argparse
import json
import time
from pathlib import Path

import mlx.core as mx
from mlx_lm.generate import generate_step
from mlx_lm.utils import load_model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    model, config = load_model(Path(a.model))
    mx.eval(model.parameters())
    vocab = config["vocab_size"]
    print(f"device {mx.default_device()}, model {a.model}")
    rows = []
    for r in range(a.r + 1):
        prompt = mx.random.randint(0, vocab, (a.p,), key=mx.random.key(r))
        mx.eval(prompt)
        t0 = time.perf_counter()
        t1 = None
        n = 0
        for _tok, _ in generate_step(prompt, model, max_tokens=a.n + 1, sampler=lambda x: mx.argmax(x, axis=-1)):
            if n == 0:
                t1 = time.perf_counter()
            n += 1
        t2 = time.perf_counter()
        row = {"ttft_ms": 1e3 * (t1 - t0), "pp_tokens_per_s": a.p / (t1 - t0),
               "tg_tokens_per_s": (n - 1) / (t2 - t1), "warmup": r == 0}
        rows.append(row)
        print(("warm-up " if r == 0 else f"rep {r}   ") +
              f"ttft {row['ttft_ms']:.2f} ms (pp{a.p} {row['pp_tokens_per_s']:.0f} tok/s), "
              f"tg{a.n}@d{a.p} {row['tg_tokens_per_s']:.1f} tok/s")
    timed = rows[1:]
    mean = {k: sum(x[k] for x in timed) / len(timed) for k in ("ttft_ms", "pp_tokens_per_s", "tg_tokens_per_s")}
    print(f"mean of {len(timed)}: ttft {mean['ttft_ms']:.2f} ms, pp {mean['pp_tokens_per_s']:.0f} tok/s, "
          f"tg {mean['tg_tokens_per_s']:.1f} tok/s; peak memory {mx.get_peak_memory() / 2**30:.2f} GiB")
    if a.json:
        json.dump({"device": str(mx.default_device()), "mlx": mx.__version__, "reps": rows, "mean": mean},
                  open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
