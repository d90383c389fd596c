#!/bin/sh
# Installs missing packages, builds gemma2 and generates text with the embedded demo
# model, models/demo-q8.g2: a small Gemma 2 trained from scratch on the King James
# Bible by tools/train-demo/ (its README says how to reproduce it). No download.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
prompt="And God said"
echo "models/demo-q8.g2: a 4.2M-parameter Gemma 2 trained from scratch on the King James Bible"
echo "(tools/train-demo/README.md). Its greedy continuation of \"$prompt\", with a repetition"
echo "penalty (without one, so small a model soon repeats a phrase):"
echo
printf '%s' "$prompt"
build/gemma2 run models/demo-q8.g2 --raw -p "$prompt" -n 60 --repeat-penalty 1.3
