#!/usr/bin/env python3
"""Zero the device code of a shared library's CUDA fatbins except for the named architectures.

    tools/fatbin_keep_arch.py IN.so OUT.so --keep 90 [--keep 80 ...]

A library built for many GPUs (MLX's CUDA wheel: sm_75, 80, 90, 100, 120, 121 SASS and
compute_120 PTX) carries each kernel once per architecture in its `.nv_fatbin` section. This
walks that section's fatbin containers (header: magic 0xBA55ED50, u16 version, u16 header size,
u64 size of the entries that follow; each entry: u16 kind (1 PTX, 2 ELF), u16 version, u32
header size, u64 payload size, ..., u32 architecture at offset 28) and overwrites with zeros the
payload of every entry whose architecture is not kept, leaving every header, size and offset as
it was. The container stays well formed and the kept entries are byte for byte the original;
the driver picks an entry by its header (for an sm_90 GPU only sm_90 SASS, or PTX of compute
capability <= 9.0, can load), so the zeroed entries are never read there, and zeros compress to
nothing. Prints the sizes per kind and architecture and a SHA-256 of the kept entries (input and
output must agree: checked here) so that what was kept can be stated.
"""
import argparse
import collections
import hashlib
import struct
import sys

MAGIC = 0xBA55ED50


def find_section(data, name):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def sh(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    stroff = sh(shstrndx)[4]
    for i in range(shnum):
        h = sh(i)
        end = data.index(b"\0", stroff + h[0])
        if data[stroff + h[0]:end].decode() == name:
            return h[4], h[5]  # file offset, size
    sys.exit(f"no section {name}")


def entries(data, off, size):
    """Yields (entry offset, header size, payload size, kind, arch) over every container."""
    p, end = off, off + size
    while p + 16 <= end:
        magic, _ver, hsz, fsz = struct.unpack_from("<IHHQ", data, p)
        if magic != MAGIC:
            p += 8  # containers are 8-byte aligned; skip padding
            continue
        q, cend = p + hsz, p + hsz + fsz
        while q < cend:
            kind, _v, ehs, psz = struct.unpack_from("<HHIQ", data, q)
            arch, = struct.unpack_from("<I", data, q + 28)
            yield q, ehs, psz, kind, arch
            q += ehs + psz
        if q != cend:
            sys.exit(f"container at {p:#x}: entries overrun it")
        p = cend


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--keep", type=int, action="append", required=True,
                    help="architecture to keep (e.g. 90 for sm_90/sm_90a SASS and compute_90 PTX)")
    a = ap.parse_args()
    data = bytearray(open(a.inp, "rb").read())
    off, size = find_section(data, ".nv_fatbin")
    sizes, counts = collections.Counter(), collections.Counter()
    h_in, n_kept, zeroed = hashlib.sha256(), 0, 0
    spans = []
    for q, ehs, psz, kind, arch in entries(data, off, size):
        key = ("PTX" if kind == 1 else "ELF" if kind == 2 else f"kind{kind}", arch)
        sizes[key] += psz
        counts[key] += 1
        if arch in a.keep:
            h_in.update(data[q:q + ehs + psz])
            n_kept += 1
            spans.append((q, ehs + psz))
        else:
            data[q + ehs:q + ehs + psz] = bytes(psz)
            zeroed += psz
    h_out = hashlib.sha256()
    for q, n in spans:
        h_out.update(data[q:q + n])
    if h_in.digest() != h_out.digest():
        sys.exit("kept entries changed")
    open(a.out, "wb").write(data)
    print(f".nv_fatbin at {off:#x}, {size} bytes")
    for k in sorted(sizes):
        print(f"  {k[0]} {k[1]}: {counts[k]} entries, {sizes[k]} bytes" +
              ("  (kept)" if k[1] in a.keep else "  (zeroed)"))
    print(f"kept {n_kept} entries, sha256 {h_in.hexdigest()}; zeroed {zeroed} bytes")


if __name__ == "__main__":
    main()
