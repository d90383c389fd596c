#!/bin/sh
# Installs missing packages, builds gemma2, converts the bundled tiny test checkpoint
# and generates tokens from it. (A trained demo model with text output comes later.)
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
build/gemma2 convert tests/data/tiny-b build/tiny-b.g2
build/gemma2 info build/tiny-b.g2 | head -16
printf 'generated ids: '
build/gemma2 generate build/tiny-b.g2 --tokens 2,17,5,300,41 -n 24 --greedy --ids
