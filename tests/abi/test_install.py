#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`meson install --destdir` gives a tree a host program can build against with
`pkg-config --cflags --libs gemma2` only: the library (libgemma2.so, .so.1 and the
versioned file), the header, gemma2.pc and the CLI. external.c is built from it with no
other flag than pkg-config's, runs on the installed library (checked with ldd), and gives
the greedy ids of `gemma2 generate`.

usage: test_install.py MESON BUILD_DIR CC EXTERNAL_C MODEL CLI VERSION"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, env=None):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if r.returncode != 0:
        sys.exit('FAIL: %s exited %d\nstdout: %s\nstderr: %s' % (' '.join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout


def main():
    meson, build, cc, source, model, cli, version = sys.argv[1:8]
    prompt = ['2', '17', '300', '41']
    tmp = tempfile.mkdtemp(prefix='gemma2-install-')
    try:
        dest = os.path.join(tmp, 'dest')
        run([meson, 'install', '-C', build, '--destdir', dest, '--no-rebuild', '--quiet'])
        found = {}
        for name in ('libgemma2.so', 'libgemma2.so.1', 'libgemma2.so.1.1.0', 'gemma2.h', 'gemma2.pc', 'gemma2'):
            hits = glob.glob(os.path.join(dest, '**', name), recursive=True)
            if len(hits) != 1:
                sys.exit('FAIL: %s installed %d times: %s' % (name, len(hits), hits))
            found[name] = hits[0]
        if os.readlink(found['libgemma2.so']) != 'libgemma2.so.1':
            sys.exit('FAIL: libgemma2.so -> %s' % os.readlink(found['libgemma2.so']))
        libdir = os.path.dirname(found['libgemma2.so.1'])

        env = dict(os.environ)
        env.pop('PKG_CONFIG_LIBDIR', None)
        env['PKG_CONFIG_PATH'] = os.path.dirname(found['gemma2.pc'])
        env['PKG_CONFIG_SYSROOT_DIR'] = dest
        flags = run(['pkg-config', '--cflags', '--libs', 'gemma2'], env).split()
        if run(['pkg-config', '--modversion', 'gemma2'], env).strip() != version:
            sys.exit('FAIL: gemma2.pc does not carry version %s' % version)
        exe = os.path.join(tmp, 'external')
        run([cc, '-std=c99', '-Wall', '-Wextra', '-Wpedantic', '-Werror', source, '-o', exe] + flags)

        env = dict(os.environ)
        env['LD_LIBRARY_PATH'] = libdir
        linked = [line for line in run(['ldd', exe], env).splitlines() if 'libgemma2' in line]
        if len(linked) != 1 or os.path.realpath(libdir) not in os.path.realpath(linked[0].split('=>')[1].split()[0]):
            sys.exit('FAIL: external does not use the installed library: %s' % linked)
        out = run([exe, model, '8'] + prompt, env).splitlines()
        want = run([cli, 'generate', model, '--tokens', ','.join(prompt), '-n', '8']).strip()
        if out != [version, want]:
            sys.exit('FAIL: external printed %s, expected %s' % (out, [version, want]))
        print('installed tree OK: %s; external program gave %s' % (', '.join(sorted(found)), want))
        return 0
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    sys.exit(main())
