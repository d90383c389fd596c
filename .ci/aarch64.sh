#!/bin/sh
# aarch64 kernel tests: cross-compiles the scalar and NEON (+dotprod) kernels with
# tests/kernels/test_kernels.c for aarch64 and runs them under qemu-aarch64, for the
# "scalar" and "neon" tables (the NEON table needs dotprod: qemu's default CPU, "max",
# has it). Installs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user when
# missing (Debian). The last line is "N passed, N failed".
#   .ci/aarch64.sh            build in a temporary directory, run, clean up
set -u
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
    { $sudo apt-get update -q; $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; } >"$out/apt.log" 2>&1 ||
        { tail -n 20 "$out/apt.log"; echo "aarch64: could not install the cross toolchain"; echo "0 passed, 1 failed"; exit 1; }
fi
cc=aarch64-linux-gnu-gcc
cflags="-std=c11 -O2 -g -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Ilib"
# The kernel tables and their helpers, the table choice (cpu.c, api_cpu.c, error.c)
# and the test; the NEON file with its own flags as in meson.build.
ok=1
$cc $cflags -march=armv8.2-a+dotprod -c lib/tensor/kernels/neon.c -o "$out/neon.o" &&
    $cc $cflags -c lib/tensor/kernels/scalar.c -o "$out/scalar.o" &&
    $cc $cflags -c lib/tensor/quantize.c -o "$out/quantize.o" &&
    $cc $cflags -c lib/tensor/act_lanes.c -o "$out/act_lanes.o" &&
    $cc $cflags -c lib/runtime/cpu.c -o "$out/cpu.o" &&
    $cc $cflags -c lib/api/api_cpu.c -o "$out/api_cpu.o" &&
    $cc $cflags -c lib/runtime/error.c -o "$out/error.o" &&
    $cc $cflags -c tests/kernels/test_kernels.c -o "$out/test_kernels.o" &&
    $cc -static "$out"/*.o -lm -lpthread -o "$out/test_kernels" || ok=0
if [ $ok -eq 0 ]; then
    echo "aarch64: cross build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

passed=0
failed=0
for isa in scalar neon; do
    qemu-aarch64 -cpu max "$out/test_kernels" "$isa" >"$out/$isa.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok   aarch64 kernels $isa: $(tail -n 1 "$out/$isa.log")"
    else
        failed=$((failed + 1))
        echo "FAIL aarch64 kernels $isa (exit $rc):"
        tail -n 30 "$out/$isa.log"
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
