// SPDX-License-Identifier: Apache-2.0
//! Shared helpers of the integration tests: the models and the CLI come from the
//! environment (bindings/rust/meson.build sets them):
//!   GEMMA2_TEST_MODEL       tiny-a-bf16.g2, a golden random-weight model without tokenizer
//!   GEMMA2_TEST_CHAT_MODEL  chat-model.g2, a tiny model with the spm_small tokenizer
//!   GEMMA2_CLI              the gemma2 command-line program, the reference
//! A missing variable fails the test with a message rather than skipping it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gemma2::{Model, ModelOptions, SamplerOptions, SessionOptions};

fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!(
            "{var} is not set: run these tests with `meson test --suite rust` or set \
             GEMMA2_TEST_MODEL, GEMMA2_TEST_CHAT_MODEL and GEMMA2_CLI (see bindings/rust/README.md)"
        ),
    }
}

/// tiny-a-bf16: vocabulary 512, no tokenizer.
pub fn model_path() -> PathBuf {
    env_path("GEMMA2_TEST_MODEL")
}

/// The chat model: vocabulary 2048, spm_small tokenizer.
pub fn chat_model_path() -> PathBuf {
    env_path("GEMMA2_TEST_CHAT_MODEL")
}

pub fn cli_path() -> PathBuf {
    env_path("GEMMA2_CLI")
}

/// Both cores are shared with other test suites: one thread everywhere.
pub fn open(path: PathBuf) -> Model {
    Model::open(&path, &ModelOptions::new().threads(1))
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

pub fn session_options() -> SessionOptions {
    SessionOptions::new().threads(1)
}

pub fn sampled_options(sampler: SamplerOptions) -> SessionOptions {
    SessionOptions::new().threads(1).sampler(sampler)
}

/// Runs the CLI with stdin, returns (stdout, stderr); panics unless it succeeds.
pub fn cli_output(args: &[&str], stdin: &[u8]) -> (Vec<u8>, String) {
    let cli = cli_path();
    let mut child = Command::new(&cli)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", cli.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{} {:?} failed: {}\n{}", cli.display(), args, out.status, stderr);
    (out.stdout, stderr)
}

/// Runs the CLI and returns its standard output as text.
pub fn cli(args: &[&str]) -> String {
    String::from_utf8(cli_output(args, b"").0).expect("CLI output is UTF-8")
}

/// "1,2,3" (possibly with a newline) -> [1, 2, 3]; "" -> [].
pub fn parse_ids(s: &str) -> Vec<i32> {
    let s = s.trim();
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|x| x.trim().parse().unwrap_or_else(|_| panic!("bad id {x:?} in {s:?}"))).collect()
}

pub fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// Greedy (or, with extra flags, sampled) ids of `gemma2 generate`.
pub fn cli_generate(model: &Path, prompt: &[i32], n: usize, extra: &[&str]) -> Vec<i32> {
    let model = model.to_str().unwrap().to_string();
    let tokens = join_ids(prompt);
    let n = n.to_string();
    let mut args = vec!["generate", &model, "--tokens", &tokens, "-n", &n, "-t", "1", "--ids"];
    args.extend_from_slice(extra);
    parse_ids(&cli(&args))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file name in the temporary directory, unique per process and tag.
pub fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gemma2-rust-test-{}-{tag}", std::process::id()))
}
