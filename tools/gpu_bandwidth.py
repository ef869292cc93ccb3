#!/usr/bin/env python3
"""Measures the GPU's device-to-device copy bandwidth (bytes read + bytes written per second),
the practical 100% for batch-1 decode (/work/.library/device/METHOD.md: measure the ceiling, do
not take the datasheet's). Needs PyTorch with CUDA. Prints JSON."""
import json

import torch


def main():
    n = 1 << 30  # 1 GiB per buffer: far above the L2
    bufs = [torch.empty(n, dtype=torch.uint8, device="cuda") for _ in range(4)]
    for b in bufs:
        b.random_(0, 255)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for i in range(23):
        src, dst = bufs[i % 2], bufs[2 + i % 2]
        start.record()
        dst.copy_(src)
        stop.record()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(start.elapsed_time(stop) / 1e3)
    times.sort()
    t = times[len(times) // 2]
    print(json.dumps({"device": torch.cuda.get_device_name(0), "copy_bytes": n,
                      "median_s": t, "bandwidth_bytes_per_s": 2 * n / t}))


if __name__ == "__main__":
    main()
