#!/usr/bin/env bash
# Configures and builds into ./build (or $BUILD_DIR), then the clang libFuzzer build into
# ./build-fuzz (or $FUZZ_BUILD_DIR): only the analyzer and the fuzz targets (tests/fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j"$(nproc)"
cmake -S . -B "$FUZZ_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTA_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
cmake --build "$FUZZ_BUILD_DIR" -j"$(nproc)"
