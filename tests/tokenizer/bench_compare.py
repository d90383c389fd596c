#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Encode speed of gemma2's tokenizer against SentencePiece's own C++ encoder, on the
same SentencePiece model and the same text, measured alternately in one run.

Not a meson test: a benchmark (issue 3, item 7: the goal is at least 5x SentencePiece).
It needs Debian's python3-sentencepiece, hence /usr/bin/python3, and only the standard
library otherwise. Run it from anywhere:

    /usr/bin/python3 tests/tokenizer/bench_compare.py build/gemma2 [-m MODEL] [-f TEXT] [-r REPS]

  MODEL  a SentencePiece tokenizer.model (default: tests/data/tokenizer/spm_small.model)
  TEXT   a UTF-8 text file (default: /usr/share/common-licenses/* concatenated four
         times, about 1.2 MB of English)
  REPS   rounds (default 5); each round times SentencePieceProcessor.encode on the
         whole text once, then `gemma2 bench-tokenizer MODEL TEXT -r 1 --json` once

Both sides encode the whole text in one call on one thread and neither counts loading
the model; gemma2 encodes in plain mode (special-token strings are text), which is what
SentencePiece does for a text without its user-defined pieces. Best and mean of the
rounds are printed (MB = 10^6 bytes of UTF-8), with the ratio gemma2 / SentencePiece and
a check that both give the same number of ids.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def default_text(folder):
    parts = []
    for path in sorted(glob.glob('/usr/share/common-licenses/*')):
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                parts.append(f.read())
    if not parts:
        sys.exit('bench_compare: no /usr/share/common-licenses; give a text with -f')
    path = os.path.join(folder, 'licenses-x4.txt')
    with open(path, 'wb') as f:
        f.write(b''.join(parts) * 4)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('gemma2', help='the gemma2 binary')
    ap.add_argument('-m', '--model', default=os.path.join(HERE, '..', 'data', 'tokenizer', 'spm_small.model'))
    ap.add_argument('-f', '--text', help='UTF-8 text file')
    ap.add_argument('-r', '--reps', type=int, default=5)
    args = ap.parse_args()
    if args.reps < 1:
        ap.error('--reps must be at least 1')
    try:
        import sentencepiece
    except ImportError:
        sys.exit('bench_compare: python3-sentencepiece is missing (apt-get install python3-sentencepiece; '
                 'run this script with /usr/bin/python3)')

    with tempfile.TemporaryDirectory(prefix='gemma2-bench-') as tmp:
        text_path = args.text or default_text(tmp)
        with open(text_path, 'rb') as f:
            data = f.read()
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError as e:
            sys.exit('bench_compare: %s is not UTF-8 (%s); SentencePiece takes text only' % (text_path, e))
        mb = len(data) / 1e6
        sp = sentencepiece.SentencePieceProcessor(model_file=args.model)
        print('model: %s (%d pieces, sentencepiece %s)' % (args.model, sp.get_piece_size(),
                                                           getattr(sentencepiece, '__version__', '?')))
        print('text:  %s (%d bytes)' % (text_path, len(data)))

        spm_times, g2_speeds, spm_ids, g2_ids = [], [], None, None
        for _ in range(args.reps):
            t0 = time.perf_counter()
            ids = sp.encode(text, out_type=int)
            spm_times.append(time.perf_counter() - t0)
            spm_ids = len(ids)
            del ids
            r = subprocess.run([args.gemma2, 'bench-tokenizer', args.model, text_path, '-r', '1', '--json'],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
            if r.returncode != 0:
                sys.exit('bench_compare: gemma2 bench-tokenizer failed: ' + r.stderr.decode(errors='replace'))
            j = json.loads(r.stdout)
            g2_speeds.append(j['mb_s_best'])
            g2_ids = j['ids']

    spm_best, spm_mean = mb / min(spm_times), mb * len(spm_times) / sum(spm_times)
    g2_best, g2_mean = max(g2_speeds), len(g2_speeds) / sum(1 / s for s in g2_speeds)
    print('sentencepiece: best %8.2f MB/s, mean %8.2f MB/s, %d ids' % (spm_best, spm_mean, spm_ids))
    print('gemma2:        best %8.2f MB/s, mean %8.2f MB/s, %d ids' % (g2_best, g2_mean, g2_ids))
    print('ratio gemma2 / sentencepiece: %.1fx (best), %.1fx (mean) over %d alternating rounds'
          % (g2_best / spm_best, g2_mean / spm_mean, args.reps))
    if spm_ids != g2_ids:
        print('warning: the id counts differ (%d vs %d)' % (spm_ids, g2_ids))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
