# SPDX-License-Identifier: Apache-2.0
"""Writes the vocabulary of the training text for tests/demo/test_demo.py, which checks
that the demo model writes the text's words in the text's word pairs:

  kjv-words.txt.gz    every word, one a line, sorted
  kjv-bigrams.txt.gz  every pair of adjacent words (within a verse) that occurs at least
                      twice, "left right" one a line, sorted

A word is a run of ASCII letters and apostrophes, in lower case (test_demo.py cuts the
same way). gzip without a time stamp, so the same text gives the same bytes.

usage: make_wordlists.py TEXT OUT_DIR"""
import collections
import gzip
import os
import re
import sys

MIN_PAIR_COUNT = 2  # pairs seen once are most of the pairs; the file stays under 200 KB


def words(line):
    return [w.lower() for w in re.findall(r"[A-Za-z']+", line)]


def write(path, lines):
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as z:
        z.write("".join(l + "\n" for l in sorted(lines)).encode("ascii"))


def main():
    if len(sys.argv) != 3:
        print(__doc__.split("usage: ")[1], file=sys.stderr)
        return 2
    vocab, pairs = set(), collections.Counter()
    with open(sys.argv[1], encoding="ascii") as f:
        for line in f:
            w = words(line)
            vocab.update(w)
            pairs.update(zip(w, w[1:]))
    os.makedirs(sys.argv[2], exist_ok=True)
    write(os.path.join(sys.argv[2], "kjv-words.txt.gz"), vocab)
    write(os.path.join(sys.argv[2], "kjv-bigrams.txt.gz"), (f"{a} {b}" for (a, b), n in pairs.items()
                                                            if n >= MIN_PAIR_COUNT))
    print(f"{len(vocab)} words, {sum(1 for n in pairs.values() if n >= MIN_PAIR_COUNT)} word pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
