#!/usr/bin/env bash
# Installs the Debian packages ollmlx builds against (run as root on a fresh Debian 12 machine).
# Every C++ dependency comes from here; nothing is downloaded at build time.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config git xz-utils
  libhwy-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev libpcre2-dev libutf8proc-dev libcurl4-openssl-dev libssl-dev
  python3 python3-venv python3-pip
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
