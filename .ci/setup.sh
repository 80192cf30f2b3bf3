#!/usr/bin/env bash
# Installs every Debian package that building, testing and the demo need. Idempotent; needs root.
set -euo pipefail

BUILD_PKGS=(
  cmake g++ make pkg-config clang llvm
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libpcap-dev prometheus-cpp-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libnghttp2-dev
  libssl-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libclang-rt-14-dev
)
TEST_PKGS=(
  iproute2 procps nginx curl wrk tshark python3 nghttp2-client openssl
  python3-grpcio python3-websockets python3-h2 prometheus-alertmanager rsyslog
  xdp-tools ethtool prometheus python3-yaml dpkg-dev passwd util-linux
)

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: run as root (it installs Debian packages): sudo $0" >&2
  exit 1
fi

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi
echo "setup: all packages present"
