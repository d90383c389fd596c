// SPDX-License-Identifier: Apache-2.0
//! Raw declarations of `include/gemma2.h` (ABI version 1), written by hand.
//!
//! Every `#[repr(C)]` struct here mirrors the C struct of the same name field by
//! field; `tests/layout.rs` checks their sizes against `gemma2_struct_size()` of the
//! library actually loaded, and `crate::check_library` does so at run time before a
//! model is opened. Keep this file in the header's order when the header grows:
//! fields are only ever appended there.
#![allow(non_camel_case_types)]
#![allow(missing_docs)]

use std::marker::{PhantomData, PhantomPinned};
use std::os::raw::{c_char, c_int, c_void};

// ---- versions ------------------------------------------------------------------
pub const GEMMA2_VERSION_MAJOR: u32 = 0;
pub const GEMMA2_VERSION_MINOR: u32 = 1;
pub const GEMMA2_VERSION_PATCH: u32 = 0;
pub const GEMMA2_VERSION_NUMBER: u32 =
    GEMMA2_VERSION_MAJOR * 10000 + GEMMA2_VERSION_MINOR * 100 + GEMMA2_VERSION_PATCH;
pub const GEMMA2_VERSION_STRING: &str = "0.1.0";
pub const GEMMA2_ABI_VERSION: u32 = 1;

// ---- handles -------------------------------------------------------------------
/// Opaque `gemma2_model`.
#[repr(C)]
pub struct gemma2_model {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Opaque `gemma2_session`.
#[repr(C)]
pub struct gemma2_session {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Opaque `gemma2_tokenizer`.
#[repr(C)]
pub struct gemma2_tokenizer {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Opaque `gemma2_text_stream`.
#[repr(C)]
pub struct gemma2_text_stream {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

// ---- status codes ----------------------------------------------------------------
pub type gemma2_status = i32;
pub const GEMMA2_OK: gemma2_status = 0;
pub const GEMMA2_ERR_INVALID_ARGUMENT: gemma2_status = 1;
pub const GEMMA2_ERR_UNSUPPORTED: gemma2_status = 2;
pub const GEMMA2_ERR_OUT_OF_MEMORY: gemma2_status = 3;
pub const GEMMA2_ERR_IO: gemma2_status = 4;
pub const GEMMA2_ERR_FORMAT: gemma2_status = 5;
pub const GEMMA2_ERR_VERSION: gemma2_status = 6;
pub const GEMMA2_ERR_CHECKSUM: gemma2_status = 7;
pub const GEMMA2_ERR_TOKEN_OUT_OF_RANGE: gemma2_status = 8;
pub const GEMMA2_ERR_CONTEXT_FULL: gemma2_status = 9;
pub const GEMMA2_ERR_BUFFER_TOO_SMALL: gemma2_status = 10;
pub const GEMMA2_ERR_STATE: gemma2_status = 11;
pub const GEMMA2_ERR_CANCELLED: gemma2_status = 12;
pub const GEMMA2_ERR_SYSTEM: gemma2_status = 13;
pub const GEMMA2_ERR_INTERNAL: gemma2_status = 14;

// ---- constants -------------------------------------------------------------------
pub const GEMMA2_DIGEST_BYTES: usize = 32;

pub const GEMMA2_TYPE_F32: i32 = 0;
pub const GEMMA2_TYPE_BF16: i32 = 1;
pub const GEMMA2_TYPE_Q8: i32 = 2;
pub const GEMMA2_TYPE_Q4: i32 = 3;
pub const GEMMA2_TYPE_GGUF_BASE: i32 = 1000;

pub const GEMMA2_SOURCE_GEMMA2: u32 = 0;
pub const GEMMA2_SOURCE_GGUF: u32 = 1;

pub const GEMMA2_QPAS_CONFIG: u32 = 0;
pub const GEMMA2_QPAS_HEAD_DIM: u32 = 1;
pub const GEMMA2_QPAS_HIDDEN_PER_HEAD: u32 = 2;

pub const GEMMA2_SAVE_COMPRESS: u32 = 0x1;

pub const GEMMA2_LAYER_GLOBAL: i32 = 0;
pub const GEMMA2_LAYER_LOCAL: i32 = 1;

// ---- layout self-check -------------------------------------------------------------
pub const GEMMA2_STRUCT_MODEL_OPTIONS: i32 = 1;
pub const GEMMA2_STRUCT_SAMPLER_OPTIONS: i32 = 2;
pub const GEMMA2_STRUCT_SESSION_OPTIONS: i32 = 3;
pub const GEMMA2_STRUCT_MODEL_INFO: i32 = 4;
pub const GEMMA2_STRUCT_TENSOR_INFO: i32 = 5;
pub const GEMMA2_STRUCT_FEED_OUTPUTS: i32 = 6;
pub const GEMMA2_STRUCT_STEP_RESULT: i32 = 7;
pub const GEMMA2_STRUCT_GENERATE_OPTIONS: i32 = 8;
pub const GEMMA2_STRUCT_GENERATE_RESULT: i32 = 9;
pub const GEMMA2_STRUCT_LOGIT_BIAS: i32 = 10;

// ---- options -----------------------------------------------------------------------
pub const GEMMA2_MODEL_SKIP_VERIFY: u32 = 0x1;
pub const GEMMA2_MODEL_NO_MMAP: u32 = 0x2;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_model_options {
    pub struct_size: u32,
    pub n_threads: i32,
    pub flags: u32,
    pub reserved: u32,
    pub expected_digest: *const u8,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct gemma2_logit_bias {
    pub token: i32,
    pub bias: f32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_sampler_options {
    pub struct_size: u32,
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub penalty_last_n: u32,
    pub n_logit_bias: u32,
    pub seed: u64,
    pub logit_bias: *const gemma2_logit_bias,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_session_options {
    pub struct_size: u32,
    pub n_threads: i32,
    pub n_ctx: u32,
    pub reserved: u32,
    pub sampler: *const gemma2_sampler_options,
}

// ---- model ---------------------------------------------------------------------------
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_model_info {
    pub struct_size: u32,
    pub format_version: u32,
    pub vocab_size: u32,
    pub hidden_size: u32,
    pub n_layers: u32,
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    pub ffn_size: u32,
    pub context_length: u32,
    pub sliding_window: u32,
    pub weight_type: i32,
    pub rms_norm_eps: f32,
    pub rope_theta: f32,
    pub query_pre_attn_scalar: f32,
    pub attn_softcap: f32,
    pub final_softcap: f32,
    pub bos_id: i32,
    pub eos_id: i32,
    pub pad_id: i32,
    pub n_tensors: u32,
    pub compressed: u32,
    pub file_size: u64,
    pub weight_bytes: u64,
    pub source: u32,
    pub has_checksums: u32,
    pub qpas_source: u32,
    pub reserved: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_tensor_info {
    pub struct_size: u32,
    pub type_: i32,
    pub n_dims: u32,
    pub compressed: u32,
    pub dims: [u64; 4],
    pub n_bytes: u64,
    pub stored_bytes: u64,
    pub name: *const c_char,
    pub digest: [u8; GEMMA2_DIGEST_BYTES],
    pub file_type: i32,
    pub reserved: u32,
}

// ---- session ---------------------------------------------------------------------------
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_feed_outputs {
    pub struct_size: u32,
    pub reserved: u32,
    pub logits: *mut f32,
    pub logits_cap: u64,
    pub hidden: *mut f32,
    pub hidden_cap: u64,
}

pub const GEMMA2_STEP_END_OF_TURN: u32 = 0x1;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_step_result {
    pub struct_size: u32,
    pub token: i32,
    pub flags: u32,
    pub reserved: u32,
    pub text: *const c_char,
    pub text_len: u64,
}

pub type gemma2_text_callback =
    Option<unsafe extern "C" fn(user: *mut c_void, token: i32, text: *const c_char, len: usize) -> c_int>;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_generate_options {
    pub struct_size: u32,
    pub max_tokens: u32,
    pub stop: *const *const c_char,
    pub n_stop: u32,
    pub reserved: u32,
}

pub const GEMMA2_STOP_END_OF_TURN: u32 = 1;
pub const GEMMA2_STOP_MAX_TOKENS: u32 = 2;
pub const GEMMA2_STOP_STRING: u32 = 3;
pub const GEMMA2_STOP_CALLBACK: u32 = 4;
pub const GEMMA2_STOP_CONTEXT_FULL: u32 = 5;
pub const GEMMA2_STOP_ERROR: u32 = 6;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gemma2_generate_result {
    pub struct_size: u32,
    pub stop_reason: u32,
    pub n_tokens: u64,
}

// ---- tokenizer -------------------------------------------------------------------------
pub const GEMMA2_TOKENIZE_SPECIAL: u32 = 0x1;
pub const GEMMA2_DETOKENIZE_SKIP_SPECIAL: u32 = 0x1;

pub const GEMMA2_TOKEN_BOS: i32 = 0;
pub const GEMMA2_TOKEN_EOS: i32 = 1;
pub const GEMMA2_TOKEN_PAD: i32 = 2;
pub const GEMMA2_TOKEN_UNK: i32 = 3;
pub const GEMMA2_TOKEN_START_OF_TURN: i32 = 4;
pub const GEMMA2_TOKEN_END_OF_TURN: i32 = 5;

pub const GEMMA2_CHAT_ADD_GENERATION_PROMPT: u32 = 0x1;
pub const GEMMA2_CHAT_NO_BOS: u32 = 0x2;

extern "C" {
    // versions
    pub fn gemma2_version() -> u32;
    pub fn gemma2_version_string() -> *const c_char;
    pub fn gemma2_abi_version() -> u32;

    // status
    pub fn gemma2_status_string(status: gemma2_status) -> *const c_char;
    pub fn gemma2_last_error() -> *const c_char;

    // constants
    pub fn gemma2_digest_bytes() -> u32;
    pub fn gemma2_type_name(type_: i32) -> *const c_char;
    pub fn gemma2_struct_size(which: i32) -> usize;

    // options
    pub fn gemma2_model_options_init(opts: *mut gemma2_model_options, size: usize) -> gemma2_status;
    pub fn gemma2_sampler_options_init(opts: *mut gemma2_sampler_options, size: usize) -> gemma2_status;
    pub fn gemma2_session_options_init(opts: *mut gemma2_session_options, size: usize) -> gemma2_status;

    // model
    pub fn gemma2_model_open(
        path: *const c_char,
        opts: *const gemma2_model_options,
        out: *mut *mut gemma2_model,
    ) -> gemma2_status;
    pub fn gemma2_model_close(model: *mut gemma2_model);
    pub fn gemma2_model_info_init(info: *mut gemma2_model_info, size: usize) -> gemma2_status;
    pub fn gemma2_model_get_info(model: *const gemma2_model, info: *mut gemma2_model_info) -> gemma2_status;
    pub fn gemma2_model_vocab_size(model: *const gemma2_model) -> u32;
    pub fn gemma2_model_context_length(model: *const gemma2_model) -> u32;
    pub fn gemma2_model_layer_kind(model: *const gemma2_model, layer: u32, kind: *mut i32) -> gemma2_status;
    pub fn gemma2_model_digest(model: *const gemma2_model, out: *mut u8, cap: usize) -> gemma2_status;
    pub fn gemma2_tensor_info_init(info: *mut gemma2_tensor_info, size: usize) -> gemma2_status;
    pub fn gemma2_model_tensor_info(
        model: *const gemma2_model,
        index: u32,
        info: *mut gemma2_tensor_info,
    ) -> gemma2_status;
    pub fn gemma2_model_verify_tensor(model: *const gemma2_model, index: u32) -> gemma2_status;
    pub fn gemma2_model_verify(model: *const gemma2_model, n_threads: i32) -> gemma2_status;
    pub fn gemma2_model_save(model: *const gemma2_model, path: *const c_char, flags: u32) -> gemma2_status;

    // session
    pub fn gemma2_session_new(
        model: *mut gemma2_model,
        opts: *const gemma2_session_options,
        out: *mut *mut gemma2_session,
    ) -> gemma2_status;
    pub fn gemma2_session_free(session: *mut gemma2_session);
    pub fn gemma2_session_reset(session: *mut gemma2_session) -> gemma2_status;
    pub fn gemma2_session_position(session: *const gemma2_session, n: *mut u32) -> gemma2_status;
    pub fn gemma2_session_feed(session: *mut gemma2_session, tokens: *const i32, n: usize) -> gemma2_status;
    pub fn gemma2_session_memory_bytes(session: *const gemma2_session) -> u64;
    pub fn gemma2_session_tokens(
        session: *const gemma2_session,
        ids: *mut i32,
        cap: usize,
        n: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_session_rewind(session: *mut gemma2_session, n: u32) -> gemma2_status;
    pub fn gemma2_session_feed_prompt(
        session: *mut gemma2_session,
        tokens: *const i32,
        n: usize,
        reused: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_feed_outputs_init(out: *mut gemma2_feed_outputs, size: usize) -> gemma2_status;
    pub fn gemma2_session_feed_outputs(
        session: *mut gemma2_session,
        tokens: *const i32,
        n: usize,
        outputs: *const gemma2_feed_outputs,
    ) -> gemma2_status;
    pub fn gemma2_step_result_init(result: *mut gemma2_step_result, size: usize) -> gemma2_status;
    pub fn gemma2_session_step(
        session: *mut gemma2_session,
        result: *mut gemma2_step_result,
    ) -> gemma2_status;
    pub fn gemma2_generate_options_init(opts: *mut gemma2_generate_options, size: usize) -> gemma2_status;
    pub fn gemma2_generate_result_init(result: *mut gemma2_generate_result, size: usize) -> gemma2_status;
    pub fn gemma2_session_generate(
        session: *mut gemma2_session,
        opts: *const gemma2_generate_options,
        callback: gemma2_text_callback,
        user: *mut c_void,
        result: *mut gemma2_generate_result,
    ) -> gemma2_status;
    pub fn gemma2_session_cancel(session: *mut gemma2_session);
    pub fn gemma2_session_top_logprobs(
        session: *const gemma2_session,
        n: usize,
        ids: *mut i32,
        logprobs: *mut f32,
        n_out: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_session_set_sampler(
        session: *mut gemma2_session,
        opts: *const gemma2_sampler_options,
    ) -> gemma2_status;

    // session state
    pub fn gemma2_session_save(
        session: *const gemma2_session,
        out: *mut *mut c_void,
        size: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_session_load(
        session: *mut gemma2_session,
        data: *const c_void,
        size: usize,
    ) -> gemma2_status;
    pub fn gemma2_state_free(state: *mut c_void);
    pub fn gemma2_session_save_file(session: *const gemma2_session, path: *const c_char) -> gemma2_status;
    pub fn gemma2_session_load_file(session: *mut gemma2_session, path: *const c_char) -> gemma2_status;
    pub fn gemma2_session_logits(
        session: *const gemma2_session,
        logits: *mut *const f32,
        n_vocab: *mut usize,
    ) -> gemma2_status;

    // tokenizer
    pub fn gemma2_model_tokenizer(
        model: *const gemma2_model,
        out: *mut *const gemma2_tokenizer,
    ) -> gemma2_status;
    pub fn gemma2_tokenizer_load(
        data: *const c_void,
        size: usize,
        out: *mut *mut gemma2_tokenizer,
    ) -> gemma2_status;
    pub fn gemma2_tokenizer_free(tok: *mut gemma2_tokenizer);
    pub fn gemma2_tokenizer_vocab_size(tok: *const gemma2_tokenizer) -> u32;
    pub fn gemma2_tokenize(
        tok: *const gemma2_tokenizer,
        text: *const c_char,
        len: usize,
        flags: u32,
        ids: *mut i32,
        cap: usize,
        n_ids: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_detokenize(
        tok: *const gemma2_tokenizer,
        ids: *const i32,
        n: usize,
        flags: u32,
        text: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_token_piece(
        tok: *const gemma2_tokenizer,
        id: i32,
        piece: *mut *const c_char,
        len: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_token_find(
        tok: *const gemma2_tokenizer,
        piece: *const c_char,
        len: usize,
        id: *mut i32,
    ) -> gemma2_status;
    pub fn gemma2_token_special(tok: *const gemma2_tokenizer, which: i32) -> i32;
    pub fn gemma2_token_is_end_of_turn(tok: *const gemma2_tokenizer, id: i32) -> i32;

    // streaming text
    pub fn gemma2_text_stream_new(
        tok: *const gemma2_tokenizer,
        flags: u32,
        out: *mut *mut gemma2_text_stream,
    ) -> gemma2_status;
    pub fn gemma2_text_stream_push(
        stream: *mut gemma2_text_stream,
        id: i32,
        text: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_text_stream_flush(
        stream: *mut gemma2_text_stream,
        text: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> gemma2_status;
    pub fn gemma2_text_stream_max_bytes(stream: *const gemma2_text_stream) -> usize;
    pub fn gemma2_text_stream_free(stream: *mut gemma2_text_stream);

    // chat template
    pub fn gemma2_chat_tokenize(
        tok: *const gemma2_tokenizer,
        roles: *const *const c_char,
        texts: *const *const c_char,
        text_lens: *const usize,
        n: usize,
        flags: u32,
        ids: *mut i32,
        cap: usize,
        n_ids: *mut usize,
    ) -> gemma2_status;

    // CPU and kernels
    pub fn gemma2_cpu_kernels() -> *const c_char;
    pub fn gemma2_cpu_describe(buf: *mut c_char, cap: usize, len: *mut usize) -> gemma2_status;
}
