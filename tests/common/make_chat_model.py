#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the chat test model: the random Gemma 2 checkpoint of tests/cli/test_cli_text.py
(tiny-a's shapes, vocabulary 2048, DATA_DIR/tokenizer/spm_small.model as its tokenizer)
converted by our converter. Tests of the bindings and examples use it where they need
text: its greedy replies are whole-character pieces, some ending with <end_of_turn>.

usage: make_chat_model.py GEMMA2_BINARY DATA_DIR OUT.g2"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'cli'))
import clitest  # noqa: E402
import test_cli_text  # noqa: E402


def main():
    binary, data_dir, out = sys.argv[1:4]
    clitest.DATA = data_dir
    with tempfile.TemporaryDirectory() as tmp:
        folder = test_cli_text.random_checkpoint(os.path.join(tmp, 'ckpt'))
        subprocess.run([binary, 'convert', folder, out, '--dtype', 'f32'], check=True,
                       stdout=subprocess.DEVNULL)
    return 0


if __name__ == '__main__':
    sys.exit(main())
