#!/usr/bin/env python3
"""Benchmark ollmlx against llama.cpp (through llama-cpp-python) on the same model.

    python3 tools/bench_vs_llamacpp.py --ollmlx build/ollmlx --gguf PATH.gguf \
        --mlx-dir DIR --threads N [--json] [--rounds 5] [--repeats 1]

* llama.cpp side: llama-cpp-python is built from the PyPI sdist with
  CMAKE_ARGS="-DGGML_NATIVE=ON" into a separate venv (.venv-bench at the repo root,
  cached: rebuilt only when the pinned version or the CMake flags change). The
  measurement itself runs inside that venv (this script re-executes itself there with
  --_llamacpp-worker) and uses llama.cpp's low-level C API:
    - pp512: one llama_decode() call on a batch of 512 prompt tokens (n_batch=n_ubatch=512),
    - tg128: 128 single-token llama_decode() calls, each sampling greedily from the logits,
  timed with llama.cpp's own perf counters (llama_perf_context: t_p_eval_ms / t_eval_ms)
  and, as a cross-check, the wall clock around the calls. Each is repeated --repeats
  times per round (fresh KV cache each time).
* ollmlx side: `OLLMLX bench --model DIR --threads N --json -p 512 -n 128 -d 512 -r R`: pp512,
  then tg128 decoded after a 512-token prompt, as on the llama.cpp side.
* The sides alternate for --rounds rounds (order swapped every round), so that a change in the
  machine's load hits both alike; the table gives the median and the best of all runs per side
  and their ratios.

Only the standard library is used in the driver so it runs with any python3.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
CMAKE_ARGS = "-DGGML_NATIVE=ON"
BENCH_VENV = REPO / ".venv-bench"
PP_TOKENS = 512
TG_TOKENS = 128


# --------------------------------------------------------------------------------------
# building / caching llama-cpp-python
# --------------------------------------------------------------------------------------

def _stamp_value() -> str:
    return hashlib.sha256(
        f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}|{CMAKE_ARGS}|{sys.version_info[:2]}".encode()
    ).hexdigest()


def ensure_bench_venv(venv: Path = BENCH_VENV, quiet: bool = False) -> Path:
    """Create venv and build llama-cpp-python into it unless the stamp says it is there."""
    py = venv / "bin" / "python"
    stamp = venv / ".ollmlx-bench-stamp"
    if py.exists() and stamp.exists() and stamp.read_text().strip() == _stamp_value():
        probe = subprocess.run([str(py), "-c", "import llama_cpp"], capture_output=True)
        if probe.returncode == 0:
            return py
    t0 = time.time()
    log = sys.stderr
    print(f"[bench] building llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} from source "
          f"(CMAKE_ARGS={CMAKE_ARGS}) into {venv}; this takes several minutes on 2 cores",
          file=log, flush=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = dict(os.environ)
    env["CMAKE_ARGS"] = CMAKE_ARGS
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("-q")
    subprocess.run(pip + ["--no-binary", "llama-cpp-python",
                          f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"],
                   check=True, env=env)
    stamp.write_text(_stamp_value() + "\n")
    print(f"[bench] llama-cpp-python built in {time.time() - t0:.0f} s", file=log, flush=True)
    return py


# --------------------------------------------------------------------------------------
# llama.cpp measurement (runs inside .venv-bench)
# --------------------------------------------------------------------------------------

def llamacpp_worker(gguf: str, threads: int, repeats: int, seed: int) -> dict:
    import llama_cpp as L
    import numpy as np

    L.llama_backend_init()
    mparams = L.llama_model_default_params()
    mparams.n_gpu_layers = 0
    mparams.use_mmap = True
    model = L.llama_model_load_from_file(gguf.encode(), mparams)
    if not model:
        raise SystemExit(f"llama.cpp could not load {gguf}")
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)

    cparams = L.llama_context_default_params()
    cparams.n_ctx = PP_TOKENS + TG_TOKENS + 16
    cparams.n_batch = PP_TOKENS
    cparams.n_ubatch = PP_TOKENS
    cparams.n_seq_max = 1
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    cparams.no_perf = False
    ctx = L.llama_init_from_model(model, cparams)
    if not ctx:
        raise SystemExit("llama.cpp could not create a context")

    # Deterministic prompt: pseudo-random ids avoiding the first 16 (usually specials).
    state = seed
    prompt = []
    for _ in range(PP_TOKENS):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        prompt.append(16 + (state >> 33) % (n_vocab - 16))

    def clear_kv():
        mem = L.llama_get_memory(ctx)
        L.llama_memory_clear(mem, True)

    def perf():
        d = L.llama_perf_context(ctx)
        return {"t_p_eval_ms": d.t_p_eval_ms, "n_p_eval": d.n_p_eval,
                "t_eval_ms": d.t_eval_ms, "n_eval": d.n_eval}

    batch = L.llama_batch_init(PP_TOKENS, 0, 1)

    def last_argmax():
        ptr = L.llama_get_logits_ith(ctx, -1)
        return int(np.ctypeslib.as_array(ptr, shape=(n_vocab,)).argmax())

    def fill(tokens, pos0, want_last_logits=True):
        batch.n_tokens = len(tokens)
        for i, t in enumerate(tokens):
            batch.token[i] = t
            batch.pos[i] = pos0 + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1 if (want_last_logits and i == len(tokens) - 1) else 0

    # warm-up (page in weights, build graphs)
    clear_kv()
    fill(prompt[:32], 0)
    if L.llama_decode(ctx, batch) != 0:
        raise SystemExit("llama_decode failed in warm-up")

    pp_runs, tg_runs = [], []
    for _ in range(repeats):
        # ---- pp512: one decode call for the whole prompt
        clear_kv()
        L.llama_perf_context_reset(ctx)
        fill(prompt, 0)
        t0 = time.perf_counter()
        rc = L.llama_decode(ctx, batch)
        L.llama_synchronize(ctx)
        wall = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(f"llama_decode(pp) failed rc={rc}")
        p = perf()
        pp_s = p["t_p_eval_ms"] / 1000.0 if p["n_p_eval"] == PP_TOKENS and p["t_p_eval_ms"] > 0 else wall
        pp_runs.append({"seconds": pp_s, "wall_seconds": wall, "perf": p,
                        "tokens_per_s": PP_TOKENS / pp_s})

        # ---- tg128: 128 one-token decode calls after the 512-token prompt (greedy)
        L.llama_perf_context_reset(ctx)
        nxt = last_argmax()
        t0 = time.perf_counter()
        for i in range(TG_TOKENS):
            fill([nxt], PP_TOKENS + i)
            rc = L.llama_decode(ctx, batch)
            if rc != 0:
                raise SystemExit(f"llama_decode(tg) failed rc={rc}")
            nxt = last_argmax()
        wall = time.perf_counter() - t0
        p = perf()
        tg_s = p["t_eval_ms"] / 1000.0 if p["n_eval"] == TG_TOKENS and p["t_eval_ms"] > 0 else wall
        tg_runs.append({"seconds": tg_s, "wall_seconds": wall, "perf": p,
                        "tokens_per_s": TG_TOKENS / tg_s})

    L.llama_batch_free(batch)
    info = {
        "llama_cpp_python": L.__version__,
        "system_info": L.llama_print_system_info().decode(errors="replace").strip(),
        "model_size_bytes": L.llama_model_size(model),
        "n_params": L.llama_model_n_params(model),
    }
    L.llama_free(ctx)
    L.llama_model_free(model)

    def summarize(runs, n):
        tps = [r["tokens_per_s"] for r in runs]
        return {"tokens": n, "tokens_per_s": max(tps), "tokens_per_s_median": statistics.median(tps),
                "runs": runs}

    return {"pp": summarize(pp_runs, PP_TOKENS), "tg": summarize(tg_runs, TG_TOKENS),
            "threads": threads, **info}


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------

def run_ollmlx(binary: str, model_dir: str, threads: int, repeats: int, depth: int) -> dict:
    """One `ollmlx bench` run: pp512, then tg128 decoded after `depth` prompt tokens."""
    b = Path(binary)
    if not b.exists() or not os.access(b, os.X_OK):
        raise SystemExit(f"error: ollmlx binary not found or not executable: {binary} "
                         "(build it first, e.g. cmake --build build)")
    cmd = [str(b), "bench", "--model", model_dir, "--threads", str(threads), "--json",
           "-p", str(PP_TOKENS), "-n", str(TG_TOKENS), "-r", str(repeats), "-d", str(depth)]
    print("[bench] running:", " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: ollmlx bench failed (rc={r.returncode}):\n{r.stderr[-4000:]}")
    # take the last line that parses as a JSON object (tolerate log lines before it)
    for line in reversed(r.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                pass
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"error: could not parse ollmlx bench JSON output:\n{r.stdout[-4000:]}")


def run_llamacpp(py: Path, gguf: str, threads: int, repeats: int, seed: int) -> dict:
    cmd = [str(py), str(Path(__file__).resolve()), "--_llamacpp-worker", "--gguf", gguf,
           "--threads", str(threads), "--repeats", str(repeats), "--seed", str(seed)]
    print("[bench] llama.cpp: pp512 + tg128 x", repeats, file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: llama.cpp worker failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ollmlx", default=str(REPO / "build" / "ollmlx"))
    ap.add_argument("--gguf", required=False)
    ap.add_argument("--mlx-dir", required=False)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=1, help="runs per side per round")
    ap.add_argument("--rounds", type=int, default=5, help="alternations of the two sides")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", action="store_true", help="print the combined result as JSON")
    ap.add_argument("--setup-only", action="store_true", help="only build/check .venv-bench")
    ap.add_argument("--skip-llamacpp", action="store_true")
    ap.add_argument("--skip-ollmlx", action="store_true")
    ap.add_argument("--_llamacpp-worker", dest="worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        res = llamacpp_worker(args.gguf, args.threads, args.repeats, args.seed)
        print(json.dumps(res))
        return 0

    if args.setup_only:
        py = ensure_bench_venv()
        print(f"[bench] ready: {py}", file=sys.stderr)
        return 0

    if not args.gguf and not args.skip_llamacpp:
        ap.error("--gguf is required (or --skip-llamacpp)")
    if not args.mlx_dir and not args.skip_ollmlx:
        ap.error("--mlx-dir is required (or --skip-ollmlx)")

    # Fail early (before the long build) when the ollmlx binary is missing.
    if not args.skip_ollmlx:
        b = Path(args.ollmlx)
        if not b.exists():
            raise SystemExit(f"error: ollmlx binary not found: {args.ollmlx} (build it first)")

    # The two sides alternate (llama.cpp, ollmlx, then ollmlx, llama.cpp, ...) for --rounds
    # rounds of --repeats runs each, so that a change in the machine's load (a shared VM) hits
    # both alike. Both decode tg128 after the same 512-token prompt (ollmlx: --depth 512).
    result = {"threads": args.threads, "repeats": args.repeats, "rounds": args.rounds}
    samples = {"llama_cpp": {"pp": [], "tg": []}, "ollmlx": {"pp": [], "tg": []}}
    py = None if args.skip_llamacpp else ensure_bench_venv()
    for rnd in range(args.rounds):
        order = ["llama_cpp", "ollmlx"] if rnd % 2 == 0 else ["ollmlx", "llama_cpp"]
        for side in order:
            if side == "llama_cpp" and py is not None:
                lc_run = run_llamacpp(py, args.gguf, args.threads, args.repeats, args.seed)
                result["llama_cpp"] = lc_run
                for k in ("pp", "tg"):
                    samples[side][k] += [r["tokens_per_s"] for r in lc_run[k]["runs"]]
            elif side == "ollmlx" and not args.skip_ollmlx:
                ol_run = run_ollmlx(args.ollmlx, args.mlx_dir, args.threads, args.repeats,
                                    PP_TOKENS)
                result["ollmlx"] = ol_run
                for k in ("pp", "tg"):
                    samples[side][k] += ol_run[k]["samples"]
    result["samples"] = samples

    def stats(v):
        return {"best": max(v), "median": statistics.median(v), "n": len(v)} if v else None

    summary = {side: {k: stats(v) for k, v in d.items()} for side, d in samples.items()}
    result["summary"] = summary
    ratios = {}
    for k in ("pp", "tg"):
        a, b = summary["ollmlx"][k], summary["llama_cpp"][k]
        ratios[k] = ({"median": a["median"] / b["median"], "best": a["best"] / b["best"]}
                     if a and b else None)
    result["ratio_ollmlx_over_llamacpp"] = ratios

    rows = [("test", "llama.cpp tok/s (median / best)", "ollmlx tok/s (median / best)",
             "ollmlx/llama.cpp (median / best)")]
    for k, n in (("pp", PP_TOKENS), ("tg", TG_TOKENS)):
        lck, olk = summary["llama_cpp"][k], summary["ollmlx"][k]
        rows.append((f"{k}{n}" + (f" @ d{PP_TOKENS}" if k == "tg" else ""),
                     f"{fmt(lck['median'])} / {fmt(lck['best'])}" if lck else "-",
                     f"{fmt(olk['median'])} / {fmt(olk['best'])}" if olk else "-",
                     f"{fmt(ratios[k]['median'], 3)} / {fmt(ratios[k]['best'], 3)}"
                     if ratios[k] else "-"))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    out = sys.stderr if args.json else sys.stdout
    n_each = args.rounds * args.repeats
    print(f"threads={args.threads} rounds={args.rounds} repeats={args.repeats} "
          f"({n_each} runs per side, alternated)", file=out)
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)), file=out)
    ol, lc = result.get("ollmlx"), result.get("llama_cpp")
    if ol:
        for key in ("peak_rss_bytes", "weights_bytes", "kv_cache_bytes"):
            if key in ol:
                print(f"ollmlx {key}: {ol[key]} ({ol[key] / 2**20:.1f} MiB)", file=out)
    if lc:
        print(f"llama.cpp model size: {lc['model_size_bytes'] / 2**20:.1f} MiB, "
              f"llama-cpp-python {lc['llama_cpp_python']}", file=out)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
