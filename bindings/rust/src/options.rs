// SPDX-License-Identifier: Apache-2.0
//! Options of a model ([`ModelOptions`]), a sampler ([`SamplerOptions`]) and a session
//! ([`SessionOptions`]), and their C structs.
use std::ptr;

use crate::sys;
use crate::util::clamp_i32;
use crate::DIGEST_BYTES;

/// How to open a model. `ModelOptions::default()` is the library's default: all CPUs,
/// verify every tensor digest, map the file. Fields are public; the methods of the
/// same name set them in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOptions {
    /// Threads for digest checks and decompression at open; 0 = all CPUs.
    pub threads: u32,
    /// Check every tensor digest at open (`false` = `GEMMA2_MODEL_SKIP_VERIFY`). The
    /// header digest is always checked.
    pub verify: bool,
    /// Map the file (`false` = `GEMMA2_MODEL_NO_MMAP`: read it into private memory).
    pub mmap: bool,
    /// The file digest must equal this ([`Model::digest`](crate::Model::digest)), else
    /// [`Status::Checksum`](crate::Status::Checksum).
    pub expected_digest: Option<[u8; DIGEST_BYTES]>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { threads: 0, verify: true, mmap: true, expected_digest: None }
    }
}

impl ModelOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`ModelOptions::threads`].
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = threads;
        self
    }
    /// Sets [`ModelOptions::verify`].
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }
    /// Sets [`ModelOptions::mmap`].
    pub fn mmap(mut self, mmap: bool) -> Self {
        self.mmap = mmap;
        self
    }
    /// Sets [`ModelOptions::expected_digest`].
    pub fn expected_digest(mut self, digest: [u8; DIGEST_BYTES]) -> Self {
        self.expected_digest = Some(digest);
        self
    }
}

/// How a session chooses its next token (docs/sampling.md). The default is greedy with
/// every filter and penalty off, as `gemma2_sampler_options_init` gives.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerOptions {
    /// 0 = greedy (highest logit, lowest id on ties); must not be negative.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: u32,
    /// Keep the most likely tokens up to this probability; 1 = off.
    pub top_p: f32,
    /// Drop tokens below this times the top probability; 0 = off.
    pub min_p: f32,
    /// Divide (multiply, if negative) the logits of recent tokens; 1 = off.
    pub repeat_penalty: f32,
    /// Subtracted once from recent tokens' logits; 0 = off.
    pub presence_penalty: f32,
    /// Subtracted per occurrence from recent tokens' logits; 0 = off.
    pub frequency_penalty: f32,
    /// How many recent tokens (prompt included) the penalties look at; default 64.
    pub penalty_last_n: u32,
    /// Seed of the generator (xoshiro256**): the same seed and calls give the same
    /// tokens on every machine.
    pub seed: u64,
    /// `(token, bias)` added to logits before everything else; `f32::NEG_INFINITY`
    /// bans a token.
    pub logit_bias: Vec<(i32, f32)>,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        SamplerOptions {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
            logit_bias: Vec::new(),
        }
    }
}

impl SamplerOptions {
    /// Greedy decoding (the default).
    pub fn greedy() -> Self {
        Self::default()
    }

    /// Sampling at `temperature` from a generator seeded with `seed`, no filters.
    pub fn sampled(temperature: f32, seed: u64) -> Self {
        SamplerOptions { temperature, seed, ..Self::default() }
    }

    /// Calls `f` with the C struct; its pointers are valid during the call only.
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(&sys::gemma2_sampler_options) -> R) -> R {
        let bias: Vec<sys::gemma2_logit_bias> =
            self.logit_bias.iter().map(|&(token, bias)| sys::gemma2_logit_bias { token, bias }).collect();
        // SAFETY: all-zero is a valid value of this plain C struct; init then fills it.
        let mut raw: sys::gemma2_sampler_options = unsafe { std::mem::zeroed() };
        // SAFETY: raw is a valid struct of the size given.
        let st = unsafe { sys::gemma2_sampler_options_init(&mut raw, std::mem::size_of_val(&raw)) };
        debug_assert_eq!(st, sys::GEMMA2_OK);
        raw.temperature = self.temperature;
        raw.top_k = clamp_i32(self.top_k);
        raw.top_p = self.top_p;
        raw.min_p = self.min_p;
        raw.repeat_penalty = self.repeat_penalty;
        raw.presence_penalty = self.presence_penalty;
        raw.frequency_penalty = self.frequency_penalty;
        raw.penalty_last_n = self.penalty_last_n;
        raw.seed = self.seed;
        // Never more than bias.len(): the library reads n_logit_bias entries.
        raw.n_logit_bias = u32::try_from(bias.len()).unwrap_or(u32::MAX);
        raw.logit_bias = if bias.is_empty() { ptr::null() } else { bias.as_ptr() };
        f(&raw)
    }
}

/// How to create a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionOptions {
    /// Compute threads of the session; 0 = all CPUs.
    pub threads: u32,
    /// Context length in tokens (KV cache size); 0 = the model's context length.
    pub context_length: u32,
    /// The sampler; `None` = greedy.
    pub sampler: Option<SamplerOptions>,
}

impl SessionOptions {
    /// The defaults: all CPUs, the model's context, greedy.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`SessionOptions::threads`].
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = threads;
        self
    }
    /// Sets [`SessionOptions::context_length`].
    pub fn context_length(mut self, n_ctx: u32) -> Self {
        self.context_length = n_ctx;
        self
    }
    /// Sets [`SessionOptions::sampler`].
    pub fn sampler(mut self, sampler: SamplerOptions) -> Self {
        self.sampler = Some(sampler);
        self
    }
}
