// SPDX-License-Identifier: Apache-2.0
//! The raw declarations (src/sys.rs) against the library actually loaded: struct sizes
//! (gemma2_struct_size), alignments and field offsets (the C rules on LP64), defaults
//! the library writes through the Rust structs, and constants. Needs no model.
use std::ffi::CStr;
use std::mem::{align_of, size_of, MaybeUninit};

use gemma2::{sys, SamplerOptions, Status};

/// Offset of a field, for Rust 1.63 (no offset_of!).
macro_rules! offset {
    ($t:ty, $f:ident) => {{
        let u = MaybeUninit::<$t>::uninit();
        let base = u.as_ptr();
        // SAFETY: addr_of! computes the address without reading the uninitialized value.
        let field = unsafe { std::ptr::addr_of!((*base).$f) };
        field as usize - base as usize
    }};
}

fn lib_size(which: i32) -> usize {
    unsafe { sys::gemma2_struct_size(which) }
}

#[test]
fn struct_sizes_match_library() {
    let cases: [(i32, usize, &str); 10] = [
        (sys::GEMMA2_STRUCT_MODEL_OPTIONS, size_of::<sys::gemma2_model_options>(), "model_options"),
        (sys::GEMMA2_STRUCT_SAMPLER_OPTIONS, size_of::<sys::gemma2_sampler_options>(), "sampler_options"),
        (sys::GEMMA2_STRUCT_SESSION_OPTIONS, size_of::<sys::gemma2_session_options>(), "session_options"),
        (sys::GEMMA2_STRUCT_MODEL_INFO, size_of::<sys::gemma2_model_info>(), "model_info"),
        (sys::GEMMA2_STRUCT_TENSOR_INFO, size_of::<sys::gemma2_tensor_info>(), "tensor_info"),
        (sys::GEMMA2_STRUCT_FEED_OUTPUTS, size_of::<sys::gemma2_feed_outputs>(), "feed_outputs"),
        (sys::GEMMA2_STRUCT_STEP_RESULT, size_of::<sys::gemma2_step_result>(), "step_result"),
        (sys::GEMMA2_STRUCT_GENERATE_OPTIONS, size_of::<sys::gemma2_generate_options>(), "generate_options"),
        (sys::GEMMA2_STRUCT_GENERATE_RESULT, size_of::<sys::gemma2_generate_result>(), "generate_result"),
        (sys::GEMMA2_STRUCT_LOGIT_BIAS, size_of::<sys::gemma2_logit_bias>(), "logit_bias"),
    ];
    for (which, rust, name) in cases {
        assert_eq!(rust, lib_size(which), "size of gemma2_{name} (GEMMA2_STRUCT_* = {which})");
    }
    // The constants are 1..10 and nothing else has a size.
    assert_eq!(lib_size(0), 0);
    assert_eq!(lib_size(11), 0);
    assert_eq!(lib_size(-1), 0);
    // The crate's own table (used by check_library) is the same list.
    for (which, name, size) in gemma2::struct_sizes() {
        assert_eq!(size, lib_size(which), "{name}");
    }
    gemma2::check_library().expect("check_library");
}

#[test]
fn alignments() {
    // C gives a struct the largest alignment of its fields.
    let wide = align_of::<u64>().max(align_of::<*const u8>());
    assert_eq!(align_of::<sys::gemma2_model_options>(), align_of::<*const u8>());
    assert_eq!(align_of::<sys::gemma2_sampler_options>(), wide);
    assert_eq!(align_of::<sys::gemma2_session_options>(), align_of::<*const u8>());
    assert_eq!(align_of::<sys::gemma2_model_info>(), align_of::<u64>());
    assert_eq!(align_of::<sys::gemma2_tensor_info>(), wide);
    assert_eq!(align_of::<sys::gemma2_feed_outputs>(), wide);
    assert_eq!(align_of::<sys::gemma2_step_result>(), wide);
    assert_eq!(align_of::<sys::gemma2_generate_options>(), align_of::<*const u8>());
    assert_eq!(align_of::<sys::gemma2_generate_result>(), align_of::<u64>());
    assert_eq!(align_of::<sys::gemma2_logit_bias>(), 4);
}

/// Offsets by the C layout rules on a 64-bit target: a field that moved (swapped with one
/// of the same size) keeps the size but not these.
#[cfg(target_pointer_width = "64")]
#[test]
fn field_offsets_lp64() {
    use sys::*;
    assert_eq!(offset!(gemma2_model_options, n_threads), 4);
    assert_eq!(offset!(gemma2_model_options, flags), 8);
    assert_eq!(offset!(gemma2_model_options, reserved), 12);
    assert_eq!(offset!(gemma2_model_options, expected_digest), 16);

    assert_eq!(offset!(gemma2_logit_bias, bias), 4);

    assert_eq!(offset!(gemma2_sampler_options, temperature), 4);
    assert_eq!(offset!(gemma2_sampler_options, top_k), 8);
    assert_eq!(offset!(gemma2_sampler_options, top_p), 12);
    assert_eq!(offset!(gemma2_sampler_options, min_p), 16);
    assert_eq!(offset!(gemma2_sampler_options, repeat_penalty), 20);
    assert_eq!(offset!(gemma2_sampler_options, presence_penalty), 24);
    assert_eq!(offset!(gemma2_sampler_options, frequency_penalty), 28);
    assert_eq!(offset!(gemma2_sampler_options, penalty_last_n), 32);
    assert_eq!(offset!(gemma2_sampler_options, n_logit_bias), 36);
    assert_eq!(offset!(gemma2_sampler_options, seed), 40);
    assert_eq!(offset!(gemma2_sampler_options, logit_bias), 48);

    assert_eq!(offset!(gemma2_session_options, n_threads), 4);
    assert_eq!(offset!(gemma2_session_options, n_ctx), 8);
    assert_eq!(offset!(gemma2_session_options, reserved), 12);
    assert_eq!(offset!(gemma2_session_options, sampler), 16);

    assert_eq!(offset!(gemma2_model_info, vocab_size), 8);
    assert_eq!(offset!(gemma2_model_info, weight_type), 44);
    assert_eq!(offset!(gemma2_model_info, final_softcap), 64);
    assert_eq!(offset!(gemma2_model_info, pad_id), 76);
    assert_eq!(offset!(gemma2_model_info, compressed), 84);
    assert_eq!(offset!(gemma2_model_info, file_size), 88);
    assert_eq!(offset!(gemma2_model_info, weight_bytes), 96);

    assert_eq!(offset!(gemma2_tensor_info, type_), 4);
    assert_eq!(offset!(gemma2_tensor_info, dims), 16);
    assert_eq!(offset!(gemma2_tensor_info, n_bytes), 48);
    assert_eq!(offset!(gemma2_tensor_info, stored_bytes), 56);
    assert_eq!(offset!(gemma2_tensor_info, name), 64);
    assert_eq!(offset!(gemma2_tensor_info, digest), 72);

    assert_eq!(offset!(gemma2_feed_outputs, logits), 8);
    assert_eq!(offset!(gemma2_feed_outputs, logits_cap), 16);
    assert_eq!(offset!(gemma2_feed_outputs, hidden), 24);
    assert_eq!(offset!(gemma2_feed_outputs, hidden_cap), 32);

    assert_eq!(offset!(gemma2_step_result, token), 4);
    assert_eq!(offset!(gemma2_step_result, flags), 8);
    assert_eq!(offset!(gemma2_step_result, text), 16);
    assert_eq!(offset!(gemma2_step_result, text_len), 24);

    assert_eq!(offset!(gemma2_generate_options, max_tokens), 4);
    assert_eq!(offset!(gemma2_generate_options, stop), 8);
    assert_eq!(offset!(gemma2_generate_options, n_stop), 16);
    assert_eq!(offset!(gemma2_generate_options, reserved), 20);

    assert_eq!(offset!(gemma2_generate_result, stop_reason), 4);
    assert_eq!(offset!(gemma2_generate_result, n_tokens), 8);
}

/// The _init functions write their defaults through the Rust declarations: each value
/// lands in the field the header documents it for.
#[test]
fn init_defaults_through_rust_structs() {
    unsafe {
        let mut s: sys::gemma2_sampler_options = std::mem::zeroed();
        s.seed = 99; // zero-filled by init
        assert_eq!(sys::gemma2_sampler_options_init(&mut s, size_of::<sys::gemma2_sampler_options>()), 0);
        assert_eq!(s.struct_size as usize, size_of::<sys::gemma2_sampler_options>());
        let d = SamplerOptions::default();
        assert_eq!(s.temperature, d.temperature);
        assert_eq!(s.top_k as u32, d.top_k);
        assert_eq!(s.top_p, d.top_p);
        assert_eq!(s.min_p, d.min_p);
        assert_eq!(s.repeat_penalty, d.repeat_penalty);
        assert_eq!(s.presence_penalty, d.presence_penalty);
        assert_eq!(s.frequency_penalty, d.frequency_penalty);
        assert_eq!(s.penalty_last_n, d.penalty_last_n);
        assert_eq!(s.penalty_last_n, 64);
        assert_eq!(s.seed, d.seed);
        assert_eq!(s.n_logit_bias, 0);
        assert!(s.logit_bias.is_null());

        let mut m: sys::gemma2_model_options = std::mem::zeroed();
        m.flags = 7;
        assert_eq!(sys::gemma2_model_options_init(&mut m, size_of::<sys::gemma2_model_options>()), 0);
        assert_eq!(m.struct_size as usize, size_of::<sys::gemma2_model_options>());
        assert_eq!((m.n_threads, m.flags, m.reserved), (0, 0, 0));
        assert!(m.expected_digest.is_null());

        let mut o: sys::gemma2_session_options = std::mem::zeroed();
        assert_eq!(sys::gemma2_session_options_init(&mut o, size_of::<sys::gemma2_session_options>()), 0);
        assert_eq!(o.struct_size as usize, size_of::<sys::gemma2_session_options>());
        assert_eq!((o.n_threads, o.n_ctx), (0, 0));
        assert!(o.sampler.is_null());

        // "token -1" is the documented default of a step result.
        let mut r: sys::gemma2_step_result = std::mem::zeroed();
        assert_eq!(sys::gemma2_step_result_init(&mut r, size_of::<sys::gemma2_step_result>()), 0);
        assert_eq!(r.struct_size as usize, size_of::<sys::gemma2_step_result>());
        assert_eq!(r.token, -1);
        assert!(r.text.is_null());

        let mut g: sys::gemma2_generate_options = std::mem::zeroed();
        assert_eq!(sys::gemma2_generate_options_init(&mut g, size_of::<sys::gemma2_generate_options>()), 0);
        assert_eq!((g.max_tokens, g.n_stop), (0, 0));
        assert!(g.stop.is_null());

        let mut t: sys::gemma2_tensor_info = std::mem::zeroed();
        assert_eq!(sys::gemma2_tensor_info_init(&mut t, size_of::<sys::gemma2_tensor_info>()), 0);
        assert_eq!(t.struct_size as usize, size_of::<sys::gemma2_tensor_info>());

        // A size smaller than the struct_size field is refused with a message.
        assert_eq!(sys::gemma2_model_options_init(&mut m, 2), sys::GEMMA2_ERR_INVALID_ARGUMENT);
        assert!(!CStr::from_ptr(sys::gemma2_last_error()).to_bytes().is_empty());
    }
}

#[test]
fn constants_match_library() {
    unsafe {
        assert_eq!(sys::gemma2_abi_version(), sys::GEMMA2_ABI_VERSION);
        assert_eq!(sys::gemma2_abi_version(), 1);
        assert_eq!(sys::gemma2_digest_bytes() as usize, sys::GEMMA2_DIGEST_BYTES);
        assert_eq!(gemma2::DIGEST_BYTES, 32);
    }
    assert_eq!(gemma2::abi_version(), gemma2::ABI_VERSION);
    // The version number and string agree (major * 10000 + minor * 100 + patch).
    let parts: Vec<u32> = gemma2::version_string().split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3, "{}", gemma2::version_string());
    assert_eq!(gemma2::version(), parts[0] * 10000 + parts[1] * 100 + parts[2]);
    assert_eq!(gemma2::type_name(sys::GEMMA2_TYPE_F32), "f32");
    assert_eq!(gemma2::type_name(sys::GEMMA2_TYPE_BF16), "bf16");
    assert_eq!(gemma2::type_name(sys::GEMMA2_TYPE_Q8), "q8");
    assert_eq!(gemma2::type_name(sys::GEMMA2_TYPE_Q4), "q4");
    assert_eq!(gemma2::type_name(99), "unknown");
    assert!(!gemma2::cpu_kernels().is_empty());
}

/// Every status constant is one the library names, each with its own name, and the
/// Rust enum maps them one to one.
#[test]
fn status_codes_match_library() {
    let unknown = Status::Other(1000).name();
    let codes = [
        (sys::GEMMA2_ERR_INVALID_ARGUMENT, Status::InvalidArgument, "invalid argument"),
        (sys::GEMMA2_ERR_UNSUPPORTED, Status::Unsupported, "unsupported"),
        (sys::GEMMA2_ERR_OUT_OF_MEMORY, Status::OutOfMemory, "out of memory"),
        (sys::GEMMA2_ERR_IO, Status::Io, "input/output error"),
        (sys::GEMMA2_ERR_FORMAT, Status::Format, ""),
        (sys::GEMMA2_ERR_VERSION, Status::Version, ""),
        (sys::GEMMA2_ERR_CHECKSUM, Status::Checksum, "checksum mismatch"),
        (sys::GEMMA2_ERR_TOKEN_OUT_OF_RANGE, Status::TokenOutOfRange, "token id out of range"),
        (sys::GEMMA2_ERR_CONTEXT_FULL, Status::ContextFull, "context full"),
        (sys::GEMMA2_ERR_BUFFER_TOO_SMALL, Status::BufferTooSmall, ""),
        (sys::GEMMA2_ERR_STATE, Status::State, ""),
        (sys::GEMMA2_ERR_CANCELLED, Status::Cancelled, ""),
        (sys::GEMMA2_ERR_SYSTEM, Status::System, ""),
        (sys::GEMMA2_ERR_INTERNAL, Status::Internal, ""),
    ];
    let mut names = Vec::new();
    for (i, (code, status, name)) in codes.iter().enumerate() {
        assert_eq!(*code, i as i32 + 1, "codes are 1..14 in order");
        assert_eq!(Status::from_code(*code), *status);
        assert_eq!(status.code(), *code);
        let lib = unsafe { CStr::from_ptr(sys::gemma2_status_string(*code)) }.to_str().unwrap();
        assert_eq!(status.name(), lib);
        assert_ne!(lib, unknown, "the library does not know code {code}");
        if !name.is_empty() {
            assert_eq!(lib, *name);
        }
        assert!(!names.contains(&lib), "{lib} twice");
        names.push(lib);
    }
    assert_eq!(sys::GEMMA2_OK, 0);
    let ok = unsafe { CStr::from_ptr(sys::gemma2_status_string(sys::GEMMA2_OK)) }.to_str().unwrap();
    assert!(!names.contains(&ok));
    // The code after the last one is not a known status (the table above is complete
    // for this library).
    assert_eq!(Status::Other(15).name(), unknown);
}
