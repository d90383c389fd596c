#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The shared library exports exactly lib/gemma2.symbols (every function of
include/gemma2.h, nothing else), each under the symbol version its header comment
names ("Since 1.1" → GEMMA2_1.1), and has SONAME libgemma2.so.1.
usage: check_exports.py LIBRARY SYMBOLS_FILE HEADER"""
import re
import subprocess
import sys


def main():
    lib, symbols_file, header = sys.argv[1:4]
    nm = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True)
    exported = sorted(line.split()[-1] for line in nm.stdout.splitlines() if line.strip())
    expected = sorted(l.strip() for l in open(symbols_file) if l.strip())
    failures = []
    if exported != expected:
        extra = sorted(set(exported) - set(expected))
        missing = sorted(set(expected) - set(exported))
        failures.append(f"exports differ from {symbols_file}: extra {extra}, missing {missing}")
    text = open(header).read()
    declared = {}
    for m in re.finditer(r"GEMMA2_API[^;]*?\b(gemma2_\w+)\s*\(", text, re.S):
        since = re.findall(r"\bSince (\d+\.\d+)", text[:m.start(1)])
        declared[m.group(1)] = "GEMMA2_" + since[-1] if since else None
    versioned = {s.split("@")[0]: s.split("@@")[-1] for s in exported if "@@GEMMA2_" in s}
    if set(declared) != set(versioned):
        failures.append(f"header functions vs exports: only declared {sorted(set(declared) - set(versioned))}, "
                        f"only exported {sorted(set(versioned) - set(declared))}")
    for name in sorted(set(declared) & set(versioned)):
        if declared[name] != versioned[name]:
            failures.append(f"{name} is exported as {versioned[name]}, its header comment says {declared[name]}")
    dyn = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True, text=True).stdout
    soname = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dyn)
    if not soname or soname.group(1) != "libgemma2.so.1":
        failures.append(f"SONAME is {soname.group(1) if soname else None}, expected libgemma2.so.1")
    for f in failures:
        print("FAIL:", f)
    print(f"{len(declared)} functions declared, {len(exported)} symbols exported")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
