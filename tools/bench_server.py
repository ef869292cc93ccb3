#!/usr/bin/env python3
"""Server throughput benchmark (issue 4): does the HTTP server add per-token cost, and how much
does continuous batching gain with concurrent streams?

    .venv/bin/python tools/bench_server.py --ollmlx build/ollmlx --model-dir DIR [--streams 8]
        [--tokens 128] [--threads N] [--json]

Starts `ollmlx serve` on a free port with a temporary store (OLLAMA_NUM_PARALLEL = streams),
registers DIR, then measures, in one run:
  1. `ollmlx bench --model DIR -p 16 -n TOKENS` tg tokens/s (the engine alone),
  2. one stream through /api/generate: eval_count / eval_duration (server-reported) and the
     client-side rate (tokens / wall time from first to last chunk),
  3. S concurrent streams (same prompt length, num_predict TOKENS, ignore_eos-like: a raw prompt
     that does not end quickly is used and num_predict bounds it): total generated tokens / wall
     time from the first to the last token over all streams.
Reports ratios: server single stream / bench tg, and S streams total / single stream.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PROMPT = "The history of the city begins in the early"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body, stream=False):
    req = urllib.request.Request(url, json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=3600)


def one_stream(url, tokens):
    t_first = t_last = None
    n = 0
    final = None
    with post(url + "/api/generate", {"model": "bench", "prompt": PROMPT, "raw": True,
                                      "options": {"temperature": 0, "num_predict": tokens}}) as r:
        for line in r:
            obj = json.loads(line)
            now = time.perf_counter()
            if obj.get("response"):
                n += 1
                t_first = t_first or now
                t_last = now
            if obj.get("done"):
                final = obj
    return {"eval_count": final["eval_count"], "eval_duration_ns": final["eval_duration"],
            "t_first": t_first, "t_last": t_last, "chunks": n}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ollmlx", default="build/ollmlx")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model_dir = os.path.abspath(args.model_dir)

    bench_cmd = [args.ollmlx, "bench", "--model", model_dir, "-p", "16", "-n", str(args.tokens), "--json"]
    if args.threads:
        bench_cmd += ["--threads", str(args.threads)]
    bench = json.loads(subprocess.run(bench_cmd, check=True, capture_output=True, text=True).stdout)
    bench_tg = bench["tg"]["tokens_per_s"]

    with tempfile.TemporaryDirectory(prefix="ollmlx-bench-") as tmp:
        port = free_port()
        env = dict(os.environ, OLLAMA_HOST=f"127.0.0.1:{port}", OLLMLX_MODELS=f"{tmp}/m", HF_HUB_CACHE=f"{tmp}/h",
                   HF_HUB_OFFLINE="1", OLLAMA_NUM_PARALLEL=str(max(args.streams, 1)))
        if args.threads:
            env["OLLMLX_NUM_THREADS"] = str(args.threads)
        log = open(f"{tmp}/serve.log", "wb")
        proc = subprocess.Popen([args.ollmlx, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(url + "/", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.05)
            post(url + "/api/create", {"model": "bench", "from": model_dir, "stream": False}).read()
            post(url + "/api/generate", {"model": "bench", "prompt": "", "keep_alive": -1, "stream": False}).read()
            one_stream(url, 8)  # warm-up

            single = one_stream(url, args.tokens)
            server_tg = single["eval_count"] / (single["eval_duration_ns"] / 1e9)
            client_tg = (single["chunks"] - 1) / (single["t_last"] - single["t_first"])

            with concurrent.futures.ThreadPoolExecutor(args.streams) as pool:
                results = list(pool.map(lambda _: one_stream(url, args.tokens), range(args.streams)))
            total = sum(r["eval_count"] for r in results)
            wall = max(r["t_last"] for r in results) - min(r["t_first"] for r in results)
            multi_tg = total / wall
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    out = {"bench_tg": bench_tg, "server_single_tg": server_tg, "client_single_tg": client_tg,
           "server_vs_bench": server_tg / bench_tg, "client_vs_bench": client_tg / bench_tg,
           "streams": args.streams, "multi_total_tg": multi_tg, "multi_vs_single": multi_tg / client_tg,
           "tokens": args.tokens}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"ollmlx bench tg{args.tokens}:                 {bench_tg:8.1f} tok/s")
        print(f"one stream via /api/generate (server):  {server_tg:8.1f} tok/s  ({server_tg / bench_tg:.2f}x bench)")
        print(f"one stream via /api/generate (client):  {client_tg:8.1f} tok/s  ({client_tg / bench_tg:.2f}x bench)")
        print(f"{args.streams} concurrent streams, total:         {multi_tg:8.1f} tok/s  "
              f"({multi_tg / client_tg:.2f}x one stream)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
