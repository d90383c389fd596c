#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the tokenizer golden test on the real Gemma tokenizer (fetched once and cached
# by fetch_gemma_tokenizer.sh) in one of the golden files' modes:
#   default  gemma_public.jsonl        tokenizer.json's special tokens parsed
#   turns    gemma_public_turns.jsonl  + <start_of_turn>/<end_of_turn>, from a
#                                      tokenizer_config.json beside it (a folder source)
#   plain    gemma_public_plain.jsonl  nothing special
# usage: gemma_golden.sh TEST_BINARY DATA_DIR default|turns|plain
set -eu
here=$(dirname "$0")
bin=$1 data=$2 mode=$3
status=0
json=$("$here/fetch_gemma_tokenizer.sh") || status=$?
[ "$status" -eq 0 ] || exit "$status"
case $mode in
default) exec "$bin" "$json" "$data/gemma_public.jsonl" special ;;
plain) exec "$bin" "$json" "$data/gemma_public_plain.jsonl" plain ;;
turns)
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    ln -s "$json" "$dir/tokenizer.json"
    cp "$here/turns/tokenizer_config.json" "$dir/"
    "$bin" "$dir" "$data/gemma_public_turns.jsonl" special
    ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
