#!/bin/sh
# Installs, with apt-get, the Debian packages gemma2 needs to build and test that are
# missing (uses sudo when not root). Prints nothing when all are present.
set -eu
packages="meson ninja-build pkg-config gcc g++ clang libsodium-dev libzstd-dev libjansson-dev
          python3 python3-numpy binutils abigail-tools valgrind zstd"
# The Rust crate's tests need cargo: a rustup toolchain will do, else Debian's.
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    packages="$packages cargo"
fi
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
