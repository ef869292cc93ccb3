#!/usr/bin/env bash
# Packs a CUDA build made on this machine for the device machine (/work/.library/device): the
# device has CUDA 13 but none of the Debian packages ollmlx links (Highway, fmt, spdlog, PCRE2,
# utf8proc, curl, OpenSSL...), so the binaries travel with those shared libraries (not glibc or
# libstdc++, which the device has in newer versions) and the parity fixtures, in .cudacarry/
# (ignored by git; name it in the run's `carry`). Then tools/cuda_device_run.sh runs there.
#   tools/cuda_prepare_carry.sh [build-dir]      (default build-cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-cuda}
C=.cudacarry
grep -qx '/.cudacarry/' .git/info/exclude 2>/dev/null || echo '/.cudacarry/' >> .git/info/exclude
rm -rf "$C"
mkdir -p "$C/bin" "$C/lib" "$C/fixtures"
for f in "$B/ollmlx" "$B/tests/gpu/test_cuda_ops" "$B/tests/gpu/test_cuda_model" \
         $(ls "$B/bench/bench_sampling" 2>/dev/null); do
  cp "$f" "$C/bin/"
  strip "$C/bin/$(basename "$f")"
done
for f in "$C"/bin/*; do
  ldd "$f" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
    libcuda.so*|libcublas*|libcudart*) ;;  # the device's CUDA 13 provides these
    *) cp -L "$lib" "$C/lib/" ;;
  esac
done
cp -r tests/fixtures/generated/parity "$C/fixtures/"
# Cases in formats the CUDA backend does not implement (mxfp4/mxfp8/nvfp4) would only be skipped
# there: leave them out to stay under the carry limit.
python3 - "$C/fixtures/parity" <<'PY'
import json, os, shutil, sys
root = sys.argv[1]
m = json.load(open(os.path.join(root, "manifest.json")))
def affine(q):
    if not isinstance(q, dict):
        return True
    return all(v.get("mode", "affine") == "affine" for v in [q] + [x for x in q.values() if isinstance(x, dict)])
keep = [c for c in m["cases"] if affine(c.get("quantization"))]
for c in m["cases"]:
    if c not in keep:
        shutil.rmtree(os.path.join(root, c["name"]), ignore_errors=True)
m["cases"] = keep
json.dump(m, open(os.path.join(root, "manifest.json"), "w"), indent=1)
PY
# The carry limit is 64 MiB: binaries and libraries travel xz-compressed (fatbins compress 5x);
# cuda_device_run.sh unpacks them with Python's tarfile (no xz binary needed there).
tar cf - -C "$C" bin lib | xz -6 -T2 > "$C/binlib.tar.xz"
rm -rf "$C/bin" "$C/lib"
du -sh "$C" "$C"/*
