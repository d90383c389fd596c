#!/bin/sh
# Fuzzes the library with libFuzzer under ASan + UBSan (clang), in build-fuzz/:
#   tools/fuzz.sh [SECONDS] [TARGET...]
# SECONDS per target (default 60); TARGETs among model gguf tokenizer tokenize detokenize state
# safetensors config (default all). Inputs found are kept in build-fuzz/corpus/TARGET
# (the seeds in tests/fuzz/corpus are read, never written); a crash leaves its input in
# build-fuzz/crash-TARGET-*: add it to tests/fuzz/corpus/TARGET with the fix, so every
# build replays it. The last line is "N passed, N failed" (one per target).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-model gguf tokenizer tokenize detokenize state safetensors config}
dir=build-fuzz
[ -f "$dir/build.ninja" ] || CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >/dev/null
# shellcheck disable=SC2046
ninja -C "$dir" $(for t in $targets; do printf 'tests/fuzz/fuzz_%s ' "$t"; done) >/dev/null
passed=0
failed=0
for t in $targets; do
    mkdir -p "$dir/corpus/$t"
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
        -max_len=262144 -print_final_stats=1 -artifact_prefix="$dir/crash-$t-" \
        "$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$dir/fuzz-$t.log" 2>&1; then
        passed=$((passed + 1))
        echo "fuzz $t: OK, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/fuzz-$t.log" | grep -o '[0-9]*$') runs in ${seconds}s"
    else
        failed=$((failed + 1))
        echo "fuzz $t: FAILED (log: $dir/fuzz-$t.log)"
        tail -n 40 "$dir/fuzz-$t.log"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
