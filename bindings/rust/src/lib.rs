// SPDX-License-Identifier: Apache-2.0
//! Safe Rust bindings to libgemma2: Gemma 2 inference on CPUs.
//!
//! ```no_run
//! use gemma2::{Model, ModelOptions, SessionOptions};
//!
//! fn main() -> gemma2::Result<()> {
//!     let model = Model::open("gemma-2-2b-it.g2", &ModelOptions::default())?;
//!     let prompt = model.chat_template(&[("user", "Why is the sky blue?")], true)?;
//!     let mut session = model.session(&SessionOptions::default())?;
//!     for piece in session.generate(&prompt, 256) {
//!         print!("{}", piece?);
//!     }
//!     println!();
//!     Ok(())
//! }
//! ```
//!
//! # Ownership and threads
//!
//! * [`Model`] is an open model file. It is immutable, `Send` and `Sync`: share it
//!   between threads with `Arc<Model>` or plain references.
//! * [`Session`] is one conversation (KV cache, logits, sampler). It is `Send` but not
//!   `Sync`: one thread at a time, which the C library requires. A session does **not**
//!   borrow its model: the C library reference-counts models, each session holds its
//!   own reference, and `gemma2_model_close` (run when a [`Model`] is dropped) only
//!   drops the caller's. So a `Session` may outlive the `Model` it was made from.
//! * [`Cancel`] (from [`Session::cancel_handle`]) is `Send + Sync` and `'static`: it
//!   shares ownership of the C session with the [`Session`], so the C session is
//!   freed only when both are gone, and the only call it can make,
//!   `gemma2_session_cancel`, is the one the C library allows concurrently with
//!   another call on the same session.
//!
//! Errors are [`Error`]s: the status code of the failing call ([`Status`]) and the
//! message `gemma2_last_error()` gave right after it.
#![warn(missing_docs)]

pub mod sys;

mod error;
mod library;
mod model;
mod options;
mod session;
mod util;

pub use error::{Error, Result, Status};
pub use library::{
    abi_version, check_library, cpu_kernels, struct_sizes, type_name, version, version_string,
};
pub use model::{LayerKind, Model, ModelInfo, SpecialToken};
pub use options::{ModelOptions, SamplerOptions, SessionOptions};
pub use session::{Cancel, Generate, Session, StopReason, Token};

/// Bytes of a model digest (BLAKE2b-256), `GEMMA2_DIGEST_BYTES`.
pub const DIGEST_BYTES: usize = sys::GEMMA2_DIGEST_BYTES;

/// The ABI major these bindings were written for (`GEMMA2_ABI_VERSION`).
pub const ABI_VERSION: u32 = sys::GEMMA2_ABI_VERSION;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn auto_traits() {
        assert_send::<Model>();
        assert_sync::<Model>();
        assert_send::<Session>();
        assert_send::<Cancel>();
        assert_sync::<Cancel>();
        assert_send::<Error>();
        assert_sync::<Error>();
    }

    #[test]
    fn status_codes_round_trip() {
        for code in 1..=14 {
            assert_eq!(Status::from_code(code).code(), code);
            assert!(!matches!(Status::from_code(code), Status::Other(_)), "{code}");
        }
        assert_eq!(Status::from_code(99), Status::Other(99));
    }
}

/// The README's example, compiled by `cargo test` (not run: it needs a real model).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
