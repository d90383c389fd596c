#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the Rust bindings' tests for meson (bindings/rust/meson.build):
#   run_tests.sh CARGO MANIFEST TARGET_DIR
# The environment (GEMMA2_LIB_DIR, LD_LIBRARY_PATH, GEMMA2_TEST_MODEL,
# GEMMA2_TEST_CHAT_MODEL, GEMMA2_CLI) comes from meson. Exit 77 (skip) without cargo.
set -eu
cargo=$1
manifest=$2
target_dir=$3
if [ ! -x "$cargo" ]; then
    echo "cargo not found at $cargo: skipping the Rust tests"
    exit 77
fi
# rustup's proxies (~/.cargo/bin/cargo) run rustc from the same directory.
PATH=$(dirname "$cargo"):$PATH
CARGO_TARGET_DIR=$target_dir
export PATH CARGO_TARGET_DIR
"$cargo" --version
exec "$cargo" test --offline --locked --no-fail-fast --manifest-path "$manifest"
