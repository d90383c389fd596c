#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The ABI check (docs/abi.md): abidiff (Debian's abigail-tools) of the built library
against the committed baseline tests/abi/libgemma2.abi, over the types of the public
header only. Any removed or changed function or variable fails, with abidiff's report;
added functions pass (1.x may add them) and are listed, as a reminder to update the
baseline with the release that adds them.

usage: check_abi.py LIBRARY BASELINE HEADERS_DIR
       check_abi.py --update LIBRARY BASELINE HEADERS_DIR   (a deliberate, reviewed step)"""
import re
import shutil
import subprocess
import sys

ABIDIFF_ERROR, ABIDIFF_USAGE_ERROR, ABIDIFF_INCOMPATIBLE = 1, 2, 8


def has_debug_info(lib):
    sections = subprocess.run(['readelf', '-S', lib], capture_output=True, text=True, check=True).stdout
    return '.debug_info' in sections


def main():
    args = sys.argv[1:]
    update = args[:1] == ['--update']
    if update:
        args = args[1:]
    lib, baseline, headers = args
    for tool in ('abidw', 'abidiff'):
        if not shutil.which(tool):
            print('FAIL: %s not found (Debian package abigail-tools; tools/install-deps.sh installs it)' % tool)
            return 1
    if not has_debug_info(lib):
        # abidiff compares types from DWARF; a build without -g (e.g. buildtype=release)
        # has none, so the check cannot run there. CI's build has it.
        print('SKIP: %s has no debug information' % lib)
        return 77
    if update:
        subprocess.run(['abidw', '--headers-dir', headers, '--no-corpus-path', '--no-comp-dir-path', '--short-locs',
                        '--out-file', baseline, lib],
                       check=True)
        print('baseline %s written from %s' % (baseline, lib))
        return 0
    r = subprocess.run(['abidiff', '--headers-dir2', headers, baseline, lib], capture_output=True, text=True)
    report = r.stdout + r.stderr
    if r.returncode & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
        print(report)
        print('FAIL: abidiff could not compare (exit %d)' % r.returncode)
        return 1
    # e.g. "Functions changes summary: 0 Removed, 1 Changed, 0 Added function" and
    # "Function symbols changes summary: 0 Removed, 1 Added function symbol not ..."
    summary = re.findall(r'^(\w+(?: symbols)?) changes summary: (\d+) Removed, (?:(\d+) Changed[^,]*, )?(\d+) Added',
                         report, re.M)
    broken = [kind for kind, removed, changed, _ in summary if int(removed) or int(changed or 0)]
    added = sum(int(a) for _, _, _, a in summary)
    if r.returncode & ABIDIFF_INCOMPATIBLE or broken or (r.returncode and not summary):
        print(report)
        print('FAIL: the ABI of %s is not compatible with %s (docs/abi.md)' % (lib, baseline))
        return 1
    if added:
        print(report)
        print('note: %d symbols added since the baseline: compatible; update it with the release' % added)
    print('ABI compatible with %s' % baseline)
    return 0


if __name__ == '__main__':
    sys.exit(main())
