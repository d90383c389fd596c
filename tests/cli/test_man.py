#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""docs/gemma2.1 is what tools/gen-man.py makes from the CLI's help texts, so the man
page and `gemma2 --help` stay in sync; groff, when present, formats it without
warnings.

usage: test_man.py GEMMA2_BINARY SOURCE_ROOT"""
import os
import shutil
import subprocess
import sys


def main():
    binary, root = sys.argv[1:3]
    made = subprocess.run([sys.executable, os.path.join(root, 'tools', 'gen-man.py'), binary],
                          stdout=subprocess.PIPE, check=True, text=True).stdout
    committed = open(os.path.join(root, 'docs', 'gemma2.1')).read()
    if made != committed:
        a, b = made.splitlines(), committed.splitlines()
        first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
        print('FAIL: docs/gemma2.1 is out of date (first difference at line %d):\n  generated: %r\n'
              '  committed: %r\nrun: python3 tools/gen-man.py build/gemma2 > docs/gemma2.1'
              % (first + 1, a[first] if first < len(a) else None, b[first] if first < len(b) else None))
        return 1
    if shutil.which('groff'):
        r = subprocess.run(['groff', '-man', '-Tutf8', '-ww', '-z', os.path.join(root, 'docs', 'gemma2.1')],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode or r.stderr.strip():
            print('FAIL: groff warns:\n' + r.stderr)
            return 1
    print('docs/gemma2.1 matches the help texts (%d lines)' % len(made.splitlines()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
