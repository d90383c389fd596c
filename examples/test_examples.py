#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Smoke tests of the examples: their output must equal the gemma2 CLI's.

    test_examples.py CASE PROGRAM GEMMA2_CLI CHAT_MODEL BARE_MODEL

CHAT_MODEL has a tokenizer (greedy replies are whole-character pieces, some end with
<end_of_turn>); BARE_MODEL has none. CASE is one of:
  run          PROGRAM (simple, cpp/generate) MODEL PROMPT N prints what
               `gemma2 run MODEL -p PROMPT -n N` prints, for several prompts and N,
               and with PROMPT and N left to their defaults
  errors       PROGRAM fails cleanly (exit 1, the library's message, no output) on a
               missing file, a file that is no model, and a model without a tokenizer;
               exit 2 on bad usage
  chat         chat fed lines on standard input writes the replies `gemma2 chat` writes
  chat-full    chat with a small context: it says when the context is full, starts a new
               conversation, skips a line too long for the context, and the replies
               are those of each line as a first turn (`gemma2 run --ctx`)
  chat-errors  as errors, for chat
Standard library only. Exits 0 if every check passes, 1 otherwise.
"""
import os
import subprocess
import sys
import tempfile

TIMEOUT = 120
SANITIZER_MARKS = ('runtime error:', 'AddressSanitizer', 'LeakSanitizer')
failures = []


def run(cmd, stdin=b''):
    """Runs cmd; returns (exit status, stdout bytes, stderr text). A signal, a timeout or
    a sanitizer report is a failure of its own."""
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    err = p.stderr.decode('utf-8', 'replace')
    if p.returncode < 0:
        fail(f'{cmd}: killed by signal {-p.returncode}:\n{err}')
    for mark in SANITIZER_MARKS:
        if mark in err:
            fail(f'{cmd}: sanitizer report:\n{err}')
            break
    return p.returncode, p.stdout, err


def fail(msg):
    failures.append(msg)
    print('FAIL: ' + msg, file=sys.stderr)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def cli_generated(err, cmd):
    """Counts of ids generated, from the CLI's --show-ids lines on standard error."""
    counts = []
    for line in err.splitlines():
        if line.startswith(f'gemma2 {cmd}: generated '):
            counts.append(int(line.split()[3]))
    return counts


def cli_error(cli, args, stdin=b''):
    """The message of a failing CLI command, without its 'gemma2 CMD: error: ' prefix."""
    rc, _, err = run([cli] + args, stdin)
    check(rc == 1, f'gemma2 {args}: expected exit 1, got {rc}')
    line = err.strip().splitlines()[-1] if err.strip() else ''
    return line.split(': error: ', 1)[1] if ': error: ' in line else line


# ---- cases -------------------------------------------------------------------------
def case_run(prog, cli, model, bare):
    # After its <end_of_turn> the model only repeats it (no text): a program that went on
    # would show only with N past the context (512), as a note that the context is full.
    cases = [('abc', 30), ('abc', 600), ('Hello there', 20), ('What is 2+2?', 25), ('tell me a story', 1),
             ('\u00bfQu\u00e9 tal? \u00fcn\u00ef \u20ac', 40), ('Hi', 0)]
    ended = cut = 0
    for prompt, n in cases:
        rc, want, err = run([cli, 'run', model, '-p', prompt, '-n', str(n), '-t', '1', '--show-ids'])
        check(rc == 0, f'gemma2 run -p {prompt!r}: exit {rc}: {err}')
        gen = cli_generated(err, 'run')
        if gen and gen[0] < n:
            ended += 1  # the reply ended at <end_of_turn>: the program must stop there too
        elif gen and gen[0] == n:
            cut += 1
        rc, got, err = run([prog, model, prompt, str(n)])
        check(rc == 0, f'{prog} {prompt!r} {n}: exit {rc}: {err}')
        check(got == want, f'{prog} {prompt!r} {n}: printed {got!r}, gemma2 run printed {want!r}')
        check(err == '', f'{prog} {prompt!r} {n}: wrote to standard error: {err!r}')
    check(ended >= 1 and cut >= 2, f'the model no longer gives the replies this test needs '
          f'({ended} ended by <end_of_turn>, {cut} cut at N)')
    # the defaults: N = 256 as `gemma2 run`, and a prompt of its own
    _, want, _ = run([cli, 'run', model, '-p', 'Hello there', '-t', '1'])
    rc, got, err = run([prog, model, 'Hello there'])
    check(rc == 0 and got == want, f'{prog} with the default N: exit {rc}, printed {got!r}, want {want!r}')
    rc, got, err = run([prog, model])
    check(rc == 0 and got.endswith(b'\n') and len(got) > 1, f'{prog} with the default prompt: exit {rc}, {got!r}')


def expect_clean_failure(cmd, want_msg, stdin=b''):
    rc, out, err = run(cmd, stdin)
    check(rc == 1, f'{cmd}: expected exit 1, got {rc}; stderr: {err!r}')
    check(out in (b'',), f'{cmd}: printed {out!r} on standard output')
    check(want_msg != '' and want_msg in err, f'{cmd}: stderr {err!r} lacks the library message {want_msg!r}')


def case_errors(prog, cli, model, bare, chat=False):
    cli_cmd = 'chat' if chat else 'run'
    extra = [] if chat else ['-p', 'hi']
    stdin = b'hi\n' if chat else b''
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, 'missing.g2')
        junk = os.path.join(tmp, 'junk.g2')
        with open(junk, 'wb') as f:
            f.write(b'not a gemma2 model file, only some text\n' * 8)
        for path in (missing, junk, bare):
            msg = cli_error(cli, [cli_cmd, path] + extra, stdin)
            cmd = [prog, path] + ([] if chat else ['hi', '5'])
            expect_clean_failure(cmd, msg, stdin)
    rc, out, err = run([prog])
    check(rc == 2 and out == b'' and 'usage' in err, f'{prog} without arguments: exit {rc}, {err!r}')
    bad = [[prog, model, '-n'], [prog, model, '-n', '0'], [prog, model, 'extra']] if chat else \
        [[prog, model, 'p', '1', 'extra']]
    for cmd in bad:
        rc, out, err = run(cmd, stdin)
        check(rc == 2 and out == b'' and 'usage' in err, f'{cmd}: exit {rc}, {err!r}')


def case_chat(prog, cli, model, bare):
    lines = b'Hello\n\nHow are you?\nabc\r\nTell me more\nWhat is 2+2?\n'
    rc, want, err = run([cli, 'chat', model, '-n', '20', '-t', '1', '--show-ids'], lines)
    check(rc == 0, f'gemma2 chat: exit {rc}: {err}')
    gen = cli_generated(err, 'chat')
    # a reply cut at N followed by another turn (which must close it with <end_of_turn>),
    # and one ended by the model
    check(len(gen) == 5 and any(g == 20 for g in gen[:-1]) and any(g < 20 for g in gen[:-1]),
          f'the model no longer gives the replies this test needs: {gen}')
    rc, got, err = run([prog, model, '-n', '20'], lines)
    check(rc == 0, f'{prog}: exit {rc}: {err}')
    check(got == want, f'{prog} printed\n{got!r}\ngemma2 chat printed\n{want!r}')
    check(err == '', f'{prog} wrote to standard error: {err!r}')
    # the defaults (-n 512, the model's context of 512): the second reply fills it
    lines = b'Hello\nHow are you?\n'
    rc, want, err = run([cli, 'chat', model, '-t', '1'], lines)
    check(rc == 0 and 'context is full' in err, f'gemma2 chat with defaults: exit {rc}: {err}')
    rc, got, err = run([prog, model], lines)
    check(rc == 0 and got == want, f'{prog} with defaults: exit {rc}, printed\n{got!r}\nwant\n{want!r}')
    check('context is full: the reply was cut short' in err, f'{prog} with defaults: stderr {err!r}')


def case_chat_full(prog, cli, model, bare):
    ctx, n = 24, 100
    long_line = ' '.join(['word'] * 40)
    lines = ['Hello there', 'How are you?', long_line, 'abc']
    want = b''
    for line in lines:
        if line is long_line:
            continue
        rc, out, err = run([cli, 'run', model, '-p', line, '-n', str(n), '--ctx', str(ctx), '-t', '1'])
        check(rc == 0, f'gemma2 run -p {line!r}: exit {rc}: {err}')
        if line == 'Hello there':
            check('context is full' in err, f'the reply to "Hello there" no longer fills {ctx} positions: {err!r}')
        want += out
    rc, got, err = run([prog, model, '-c', str(ctx), '-n', str(n)], ''.join(l + '\n' for l in lines).encode())
    check(rc == 0, f'{prog}: exit {rc}: {err}')
    check(got == want, f'{prog} printed\n{got!r}\nwant (each line as a first turn)\n{want!r}')
    for note in ('the context is full: the reply was cut short', 'the context is full: starting a new conversation',
                 'does not fit in the context'):
        check(note in err, f'{prog}: standard error lacks {note!r}: {err!r}')


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    case, prog, cli, model, bare = sys.argv[1:]
    cases = {'run': case_run, 'errors': case_errors, 'chat': case_chat, 'chat-full': case_chat_full,
             'chat-errors': lambda *a: case_errors(*a, chat=True)}
    if case not in cases:
        print(f'unknown case {case!r}', file=sys.stderr)
        return 2
    cases[case](prog, cli, model, bare)
    if failures:
        print(f'{len(failures)} checks failed', file=sys.stderr)
        return 1
    print(f'{case}: all checks passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
