#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every function of include/gemma2.h is named in docs/api.md's function reference, and
the reference names no function the header lacks.

usage: check_docs.py HEADER API_MD"""
import re
import sys


def main():
    header, api_md = sys.argv[1:3]
    declared = set(re.findall(r'GEMMA2_API[^;]*?\b(gemma2_\w+)\s*\(', open(header).read(), re.S))
    text = open(api_md).read()
    start = text.find('## Function reference')
    if start < 0:
        print('FAIL: docs/api.md has no "## Function reference" section')
        return 1
    section = text[start:text.find('\n## ', start + 1)]
    named = set(re.findall(r'`(gemma2_\w+)`', section))
    missing, unknown = sorted(declared - named), sorted(named - declared)
    for name in missing:
        print('FAIL: %s is not in docs/api.md\'s function reference' % name)
    for name in unknown:
        print('FAIL: docs/api.md names %s, which the header does not declare' % name)
    print('%d functions declared, %d named in the reference' % (len(declared), len(named)))
    return 1 if missing or unknown else 0


if __name__ == '__main__':
    sys.exit(main())
