#!/bin/sh
# Runs every test: installs missing packages, configures and builds, runs
# `meson test`, and ends with the line "N passed, N failed".
#   tools/test.sh              the normal build, in build/
#   tools/test.sh --sanitize   an ASan + UBSan build with clang, in build-sanitize/
#                              (so CI proves both compilers warning-free under -Werror)
#   tools/test.sh --tsan       a ThreadSanitizer build with clang, in build-tsan/, running
#                              the suites whose tests use threads: api (concurrent
#                              sessions, cancellation), unit (the pool), golden (2 threads),
#                              gguf (tensors converted in parallel at open)
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
dir=build
suites=""
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-sanitize
    [ -f "$dir/build.ninja" ] || CC=clang CXX=clang++ meson setup "$dir" -Db_sanitize=address,undefined \
        -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null
elif [ "${1:-}" = "--tsan" ]; then
    dir=build-tsan
    suites="--suite api --suite unit --suite golden --suite gguf"
    [ -f "$dir/build.ninja" ] || CC=clang CXX=clang++ meson setup "$dir" -Db_sanitize=thread -Db_lundef=false >/dev/null
fi
[ -f "$dir/build.ninja" ] || meson setup "$dir" >/dev/null
status=0
# $suites is a list of words on purpose
# shellcheck disable=SC2086
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    meson test -C "$dir" $suites --print-errorlogs --num-processes 2 || status=$?
# Count results from meson's machine-readable log.
/usr/bin/env python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
