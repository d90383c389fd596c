// SPDX-License-Identifier: Apache-2.0
//! An open model file ([`Model`]): its facts, and its tokenizer (tokenize, detokenize,
//! special tokens, the chat template).
use std::ffi::CString;
use std::fmt;
use std::os::raw::c_char;
use std::path::Path;
use std::ptr::{self, NonNull};

use crate::error::{check, Error, Result, Status};
use crate::library::check_library;
use crate::options::{ModelOptions, SessionOptions};
use crate::session::Session;
use crate::sys;
use crate::util::{clamp_i32, path_cstring, sized_output};
use crate::DIGEST_BYTES;

/// Architecture and file facts of a model ([`Model::info`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Version of the file format.
    pub format_version: u32,
    /// Number of token ids.
    pub vocab_size: u32,
    /// Width of the residual stream.
    pub hidden_size: u32,
    /// Number of layers.
    pub n_layers: u32,
    /// Query heads.
    pub n_heads: u32,
    /// Key/value heads.
    pub n_kv_heads: u32,
    /// Width of a head.
    pub head_dim: u32,
    /// Intermediate size of the GeGLU feed-forward.
    pub ffn_size: u32,
    /// Maximum context (max_position_embeddings).
    pub context_length: u32,
    /// Window of the sliding-window layers.
    pub sliding_window: u32,
    /// `GEMMA2_TYPE_*` of the projection matrices ([`type_name`](crate::type_name)
    /// names it).
    pub weight_type: i32,
    /// Epsilon of the RMS norms.
    pub rms_norm_eps: f32,
    /// RoPE base.
    pub rope_theta: f32,
    /// Attention scale denominator.
    pub query_pre_attn_scalar: f32,
    /// Attention logit soft-cap; 0 = none.
    pub attn_softcap: f32,
    /// Final logit soft-cap; 0 = none.
    pub final_softcap: f32,
    /// Id of `<bos>`.
    pub bos_id: i32,
    /// Id of `<eos>`.
    pub eos_id: i32,
    /// Id of `<pad>`.
    pub pad_id: i32,
    /// Number of tensors in the file.
    pub n_tensors: u32,
    /// Whether tensor data was zstd-compressed in the file.
    pub compressed: bool,
    /// File size in bytes.
    pub file_size: u64,
    /// Bytes of tensor data in memory.
    pub weight_bytes: u64,
    /// The kind of file: `GEMMA2_SOURCE_GEMMA2` or `GEMMA2_SOURCE_GGUF` (since ABI 1.1).
    pub source: u32,
    /// Whether the file carries digests (false for GGUF: computed at open).
    pub has_checksums: bool,
    /// Where `query_pre_attn_scalar` came from: `GEMMA2_QPAS_*` (GGUF does not store it).
    pub qpas_source: u32,
}

/// Attention kind of a layer ([`Model::layer_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// Attends to every earlier position.
    Global,
    /// Sliding window: attends to the last `sliding_window` positions.
    Local,
}

/// Special tokens of a tokenizer ([`Model::special_token`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialToken {
    /// `<bos>`
    Bos,
    /// `<eos>`
    Eos,
    /// `<pad>`
    Pad,
    /// `<unk>`
    Unk,
    /// `<start_of_turn>`
    StartOfTurn,
    /// `<end_of_turn>`
    EndOfTurn,
}

/// An open model file: immutable, shareable between threads (`Send + Sync`).
/// Dropping it calls `gemma2_model_close`, which releases only this reference:
/// sessions keep the model alive.
pub struct Model {
    raw: NonNull<sys::gemma2_model>,
}

// SAFETY: a gemma2_model is immutable once open and every function taking one is
// thread-safe (include/gemma2.h); gemma2_model_close drops one reference and may run on
// any thread.
unsafe impl Send for Model {}
// SAFETY: as above; all &self methods call thread-safe functions.
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and released once.
        unsafe { sys::gemma2_model_close(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model").field("raw", &self.raw).finish()
    }
}

impl Model {
    /// Opens a gemma2 model file (`gemma2_model_open`), after [`check_library`].
    pub fn open<P: AsRef<Path>>(path: P, options: &ModelOptions) -> Result<Model> {
        check_library()?;
        let cpath = path_cstring(path.as_ref())?;
        // SAFETY: all-zero is valid for this C struct; init fills it.
        let mut raw: sys::gemma2_model_options = unsafe { std::mem::zeroed() };
        // SAFETY: raw is valid for its size.
        check(unsafe { sys::gemma2_model_options_init(&mut raw, std::mem::size_of_val(&raw)) })?;
        raw.n_threads = clamp_i32(options.threads);
        if !options.verify {
            raw.flags |= sys::GEMMA2_MODEL_SKIP_VERIFY;
        }
        if !options.mmap {
            raw.flags |= sys::GEMMA2_MODEL_NO_MMAP;
        }
        if let Some(d) = &options.expected_digest {
            raw.expected_digest = d.as_ptr();
        }
        let mut out: *mut sys::gemma2_model = ptr::null_mut();
        // SAFETY: cpath and the digest outlive the call; the library keeps no pointer.
        check(unsafe { sys::gemma2_model_open(cpath.as_ptr(), &raw, &mut out) })?;
        match NonNull::new(out) {
            Some(raw) => Ok(Model { raw }),
            None => Err(Error::new(Status::Internal, "gemma2_model_open returned no model")),
        }
    }

    /// The raw handle, for calls these bindings do not wrap. Owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::gemma2_model {
        self.raw.as_ptr()
    }

    /// Architecture and file facts.
    pub fn info(&self) -> ModelInfo {
        // SAFETY: all-zero is valid for this C struct.
        let mut i: sys::gemma2_model_info = unsafe { std::mem::zeroed() };
        // SAFETY: i is valid for its size, the model is open.
        let st = unsafe {
            sys::gemma2_model_info_init(&mut i, std::mem::size_of_val(&i));
            sys::gemma2_model_get_info(self.raw.as_ptr(), &mut i)
        };
        // Only a NULL argument or unset struct_size can fail, neither possible here.
        debug_assert_eq!(st, sys::GEMMA2_OK);
        ModelInfo {
            format_version: i.format_version,
            vocab_size: i.vocab_size,
            hidden_size: i.hidden_size,
            n_layers: i.n_layers,
            n_heads: i.n_heads,
            n_kv_heads: i.n_kv_heads,
            head_dim: i.head_dim,
            ffn_size: i.ffn_size,
            context_length: i.context_length,
            sliding_window: i.sliding_window,
            weight_type: i.weight_type,
            rms_norm_eps: i.rms_norm_eps,
            rope_theta: i.rope_theta,
            query_pre_attn_scalar: i.query_pre_attn_scalar,
            attn_softcap: i.attn_softcap,
            final_softcap: i.final_softcap,
            bos_id: i.bos_id,
            eos_id: i.eos_id,
            pad_id: i.pad_id,
            n_tensors: i.n_tensors,
            compressed: i.compressed != 0,
            file_size: i.file_size,
            weight_bytes: i.weight_bytes,
            source: i.source,
            has_checksums: i.has_checksums != 0,
            qpas_source: i.qpas_source,
        }
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        // SAFETY: the model is open.
        unsafe { sys::gemma2_model_vocab_size(self.raw.as_ptr()) as usize }
    }

    /// The model's context length in tokens.
    pub fn context_length(&self) -> usize {
        // SAFETY: the model is open.
        unsafe { sys::gemma2_model_context_length(self.raw.as_ptr()) as usize }
    }

    /// Attention kind of a layer; [`Status::InvalidArgument`] past the last layer.
    pub fn layer_kind(&self, layer: u32) -> Result<LayerKind> {
        let mut kind = 0i32;
        // SAFETY: the model is open, kind is valid.
        check(unsafe { sys::gemma2_model_layer_kind(self.raw.as_ptr(), layer, &mut kind) })?;
        Ok(if kind == sys::GEMMA2_LAYER_LOCAL { LayerKind::Local } else { LayerKind::Global })
    }

    /// The file digest (BLAKE2b-256 of the header region, which covers every tensor).
    pub fn digest(&self) -> [u8; DIGEST_BYTES] {
        let mut d = [0u8; DIGEST_BYTES];
        // SAFETY: d has DIGEST_BYTES bytes (checked against the library by check_library's
        // ABI check and tests/layout.rs).
        let st = unsafe { sys::gemma2_model_digest(self.raw.as_ptr(), d.as_mut_ptr(), d.len()) };
        debug_assert_eq!(st, sys::GEMMA2_OK);
        d
    }

    /// Re-checks every tensor digest with `threads` threads (0 = all CPUs).
    pub fn verify(&self, threads: u32) -> Result<()> {
        // SAFETY: the model is open.
        check(unsafe { sys::gemma2_model_verify(self.raw.as_ptr(), clamp_i32(threads)) })
    }

    /// Writes the model as loaded to `path` as a gemma2 model file with fresh digests:
    /// for a model opened from GGUF, the conversion (since ABI 1.1).
    pub fn save<P: AsRef<Path>>(&self, path: P, compress: bool) -> Result<()> {
        let path = path_cstring(path.as_ref())?;
        let flags = if compress { sys::GEMMA2_SAVE_COMPRESS } else { 0 };
        // SAFETY: the model is open and path is NUL-terminated.
        check(unsafe { sys::gemma2_model_save(self.raw.as_ptr(), path.as_ptr(), flags) })
    }

    /// Creates a session on this model (same as [`Session::new`]).
    pub fn session(&self, options: &SessionOptions) -> Result<Session> {
        Session::new(self, options)
    }

    /// The model's tokenizer, owned by the model; [`Status::Unsupported`] if it has none.
    fn tokenizer(&self) -> Result<*const sys::gemma2_tokenizer> {
        let mut tok: *const sys::gemma2_tokenizer = ptr::null();
        // SAFETY: the model is open; tok is valid for writing.
        check(unsafe { sys::gemma2_model_tokenizer(self.raw.as_ptr(), &mut tok) })?;
        Ok(tok)
    }

    /// Whether the file carries a tokenizer (needed by the text calls).
    pub fn has_tokenizer(&self) -> bool {
        self.tokenizer().is_ok()
    }

    /// Number of pieces of the tokenizer (ids `0..n` have text), `None` without one. It
    /// may be smaller than [`Model::vocab_size`]: ids past it have no text, and
    /// [`Model::detokenize`] refuses them.
    pub fn tokenizer_vocab_size(&self) -> Option<usize> {
        let tok = self.tokenizer().ok()?;
        // SAFETY: the tokenizer lives as long as the model.
        Some(unsafe { sys::gemma2_tokenizer_vocab_size(tok) } as usize)
    }

    /// Encodes text into token ids (no `<bos>` is added). With `special`, special-token
    /// strings such as `<start_of_turn>` become their ids; without it every character is
    /// text (use that for untrusted input).
    pub fn tokenize(&self, text: &str, special: bool) -> Result<Vec<i32>> {
        self.tokenize_bytes(text.as_bytes(), special)
    }

    /// [`Model::tokenize`] of raw bytes (invalid UTF-8 goes through byte fallback).
    pub fn tokenize_bytes(&self, text: &[u8], special: bool) -> Result<Vec<i32>> {
        let tok = self.tokenizer()?;
        let flags = if special { sys::GEMMA2_TOKENIZE_SPECIAL } else { 0 };
        sized_output(|ids, cap, n| {
            // SAFETY: text is valid for len bytes; ids for cap ids (or NULL with cap 0).
            unsafe {
                sys::gemma2_tokenize(tok, text.as_ptr() as *const c_char, text.len(), flags, ids, cap, n)
            }
        })
    }

    /// Decodes ids into text. The library returns raw bytes (exactly the encoded text);
    /// invalid UTF-8 in them becomes U+FFFD here (use [`Model::detokenize_bytes`] to
    /// keep it). With `skip_special`, special and control pieces are left out.
    pub fn detokenize(&self, ids: &[i32], skip_special: bool) -> Result<String> {
        let bytes = self.detokenize_bytes(ids, skip_special)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// [`Model::detokenize`] without the UTF-8 conversion.
    pub fn detokenize_bytes(&self, ids: &[i32], skip_special: bool) -> Result<Vec<u8>> {
        let tok = self.tokenizer()?;
        let flags = if skip_special { sys::GEMMA2_DETOKENIZE_SKIP_SPECIAL } else { 0 };
        sized_output(|text: *mut u8, cap, len| {
            // SAFETY: ids is valid for its length; text for cap bytes (or NULL, cap 0).
            unsafe {
                sys::gemma2_detokenize(tok, ids.as_ptr(), ids.len(), flags, text as *mut c_char, cap, len)
            }
        })
    }

    /// The vocabulary text of a token, e.g. `▁the`, `<0x0A>`, `<bos>`.
    pub fn token_piece(&self, id: i32) -> Result<String> {
        let tok = self.tokenizer()?;
        let mut piece: *const c_char = ptr::null();
        let mut len = 0usize;
        // SAFETY: the tokenizer lives as long as the model; piece/len valid for writing.
        check(unsafe { sys::gemma2_token_piece(tok, id, &mut piece, &mut len) })?;
        if piece.is_null() {
            return Ok(String::new());
        }
        // SAFETY: piece points at len bytes owned by the tokenizer.
        let bytes = unsafe { std::slice::from_raw_parts(piece as *const u8, len) };
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Id of a special token, `None` if the vocabulary (or the model) has none.
    pub fn special_token(&self, which: SpecialToken) -> Option<i32> {
        let tok = self.tokenizer().ok()?;
        let w = match which {
            SpecialToken::Bos => sys::GEMMA2_TOKEN_BOS,
            SpecialToken::Eos => sys::GEMMA2_TOKEN_EOS,
            SpecialToken::Pad => sys::GEMMA2_TOKEN_PAD,
            SpecialToken::Unk => sys::GEMMA2_TOKEN_UNK,
            SpecialToken::StartOfTurn => sys::GEMMA2_TOKEN_START_OF_TURN,
            SpecialToken::EndOfTurn => sys::GEMMA2_TOKEN_END_OF_TURN,
        };
        // SAFETY: the tokenizer lives as long as the model.
        let id = unsafe { sys::gemma2_token_special(tok, w) };
        if id < 0 {
            None
        } else {
            Some(id)
        }
    }

    /// Gemma 2's chat prompt of `turns` (`(role, text)`, role "user", "model" (or
    /// "assistant") or "system"), starting with `<bos>`; with `add_generation_prompt`
    /// it ends with the model's turn opened. Texts are encoded as plain text, so they
    /// cannot inject turn markers.
    pub fn chat_template<R: AsRef<str>, T: AsRef<str>>(
        &self,
        turns: &[(R, T)],
        add_generation_prompt: bool,
    ) -> Result<Vec<i32>> {
        let flags = if add_generation_prompt { sys::GEMMA2_CHAT_ADD_GENERATION_PROMPT } else { 0 };
        self.chat_tokenize(turns, flags)
    }

    /// [`Model::chat_template`] without the leading `<bos>`: the ids to feed to continue a
    /// conversation a session already holds.
    pub fn chat_template_continue<R: AsRef<str>, T: AsRef<str>>(
        &self,
        turns: &[(R, T)],
        add_generation_prompt: bool,
    ) -> Result<Vec<i32>> {
        let mut flags = sys::GEMMA2_CHAT_NO_BOS;
        if add_generation_prompt {
            flags |= sys::GEMMA2_CHAT_ADD_GENERATION_PROMPT;
        }
        self.chat_tokenize(turns, flags)
    }

    fn chat_tokenize<R: AsRef<str>, T: AsRef<str>>(&self, turns: &[(R, T)], flags: u32) -> Result<Vec<i32>> {
        let tok = self.tokenizer()?;
        let mut roles = Vec::with_capacity(turns.len());
        for (role, _) in turns {
            roles.push(
                CString::new(role.as_ref())
                    .map_err(|_| Error::new(Status::InvalidArgument, "a role contains a NUL byte"))?,
            );
        }
        let role_ptrs: Vec<*const c_char> = roles.iter().map(|r| r.as_ptr()).collect();
        let text_ptrs: Vec<*const c_char> =
            turns.iter().map(|(_, t)| t.as_ref().as_ptr() as *const c_char).collect();
        let text_lens: Vec<usize> = turns.iter().map(|(_, t)| t.as_ref().len()).collect();
        sized_output(|ids, cap, n| {
            // SAFETY: the three arrays have turns.len() entries that outlive the call;
            // each text is valid for its length.
            unsafe {
                sys::gemma2_chat_tokenize(
                    tok,
                    role_ptrs.as_ptr(),
                    text_ptrs.as_ptr(),
                    text_lens.as_ptr(),
                    turns.len(),
                    flags,
                    ids,
                    cap,
                    n,
                )
            }
        })
    }
}
