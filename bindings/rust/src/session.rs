// SPDX-License-Identifier: Apache-2.0
//! A conversation on a model ([`Session`]): feeding, stepping ([`Token`]), the
//! [`Generate`] iterator, saved states, and [`Cancel`] handles.
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::error::{check, Error, Result, Status};
use crate::model::Model;
use crate::options::{SamplerOptions, SessionOptions};
use crate::sys;
use crate::util::{clamp_i32, path_cstring};

/// Owner of the C session, shared by a [`Session`] and its [`Cancel`] handles.
struct RawSession(NonNull<sys::gemma2_session>);

// SAFETY: the C session may be used from any thread, one at a time; it is freed in
// Drop, which runs once, after every other user (Session, Cancel) is gone.
unsafe impl Send for RawSession {}
// SAFETY: shared references to a RawSession exist in a Session (which is !Sync, so only
// one thread calls through it) and in Cancel handles, which only call
// gemma2_session_cancel: an atomic store the library allows concurrently with anything
// on the session, itself included.
unsafe impl Sync for RawSession {}

impl Drop for RawSession {
    fn drop(&mut self) {
        // SAFETY: last owner: no other call on this session can be running.
        unsafe { sys::gemma2_session_free(self.0.as_ptr()) }
    }
}

/// One conversation: KV cache, last logits, sampler. `Send`, not `Sync`.
///
/// A session holds its own reference on the C model, so it does not borrow the
/// [`Model`] it came from and may outlive it.
///
/// Not `Sync`: the C library allows one thread at a time per session (use a
/// [`Cancel`] handle to stop it from another thread).
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<gemma2::Session>();
/// ```
///
/// Logits borrow the session, so no feed or step can invalidate them:
///
/// ```compile_fail
/// # fn f(s: &mut gemma2::Session) -> gemma2::Result<()> {
/// let logits = s.logits()?;
/// s.step()?;
/// println!("{}", logits[0]);
/// # Ok(()) }
/// ```
pub struct Session {
    raw: Arc<RawSession>,
    /// Makes Session !Sync (one thread at a time), keeping it Send.
    _not_sync: PhantomData<Cell<()>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("raw", &self.raw.0).finish()
    }
}

/// One decoded token ([`Session::step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token id chosen and fed.
    pub id: i32,
    /// The text this token completes: valid UTF-8; empty for special pieces such as
    /// `<end_of_turn>`, for a byte of a character not yet whole (it comes with the
    /// token that completes it), and for a model without a tokenizer.
    pub text: String,
    /// The token ends the model's turn (`<end_of_turn>` or `<eos>`).
    pub end_of_turn: bool,
}

impl Session {
    /// Creates a session on `model` (`gemma2_session_new`).
    pub fn new(model: &Model, options: &SessionOptions) -> Result<Session> {
        // SAFETY: all-zero is valid for this C struct; init fills it.
        let mut raw: sys::gemma2_session_options = unsafe { std::mem::zeroed() };
        // SAFETY: raw is valid for its size.
        check(unsafe { sys::gemma2_session_options_init(&mut raw, std::mem::size_of_val(&raw)) })?;
        raw.n_threads = clamp_i32(options.threads);
        raw.n_ctx = options.context_length;
        let mut out: *mut sys::gemma2_session = ptr::null_mut();
        let create = |raw: &mut sys::gemma2_session_options, out: &mut *mut sys::gemma2_session| {
            // SAFETY: the model is open; options and the sampler they point at outlive
            // the call (the session copies them).
            check(unsafe { sys::gemma2_session_new(model.as_ptr(), raw, out) })
        };
        match &options.sampler {
            Some(s) => s.with_raw(|sampler| {
                raw.sampler = sampler;
                create(&mut raw, &mut out)
            })?,
            None => create(&mut raw, &mut out)?,
        }
        match NonNull::new(out) {
            Some(p) => Ok(Session { raw: Arc::new(RawSession(p)), _not_sync: PhantomData }),
            None => Err(Error::new(Status::Internal, "gemma2_session_new returned no session")),
        }
    }

    fn ptr(&self) -> *mut sys::gemma2_session {
        self.raw.0.as_ptr()
    }

    /// The raw handle, for calls these bindings do not wrap. Owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::gemma2_session {
        self.ptr()
    }

    /// A handle that cancels this session's running feed or step from another thread.
    pub fn cancel_handle(&self) -> Cancel {
        Cancel { raw: Arc::clone(&self.raw) }
    }

    /// Feeds tokens in one batched prefill and keeps the logits of the last one. All or
    /// nothing: on failure ([`Status::TokenOutOfRange`], [`Status::ContextFull`],
    /// [`Status::Cancelled`], [`Status::InvalidArgument`] for no tokens) the session
    /// is unchanged.
    pub fn feed(&mut self, tokens: &[i32]) -> Result<()> {
        // SAFETY: tokens is valid for its length; the session is ours (&mut).
        check(unsafe { sys::gemma2_session_feed(self.ptr(), tokens.as_ptr(), tokens.len()) })
    }

    /// Makes the session hold exactly `tokens` and their last logits, re-feeding only
    /// what differs from what it holds; returns the number of tokens kept.
    pub fn feed_prompt(&mut self, tokens: &[i32]) -> Result<usize> {
        let mut reused = 0usize;
        // SAFETY: tokens is valid for its length.
        check(unsafe {
            sys::gemma2_session_feed_prompt(self.ptr(), tokens.as_ptr(), tokens.len(), &mut reused)
        })?;
        Ok(reused)
    }

    /// Chooses the next token with the session's sampler, feeds it and returns it.
    /// [`Status::State`] if nothing was fed; on [`Status::Cancelled`] the session and
    /// sampler are unchanged (a retry gives the same token).
    pub fn step(&mut self) -> Result<Token> {
        // SAFETY: all-zero is valid for this C struct; init fills it.
        let mut r: sys::gemma2_step_result = unsafe { std::mem::zeroed() };
        // SAFETY: r is valid for its size; the session is ours.
        check(unsafe { sys::gemma2_step_result_init(&mut r, std::mem::size_of_val(&r)) })?;
        check(unsafe { sys::gemma2_session_step(self.ptr(), &mut r) })?;
        let text = if r.text.is_null() || r.text_len == 0 {
            String::new()
        } else {
            // SAFETY: text points at text_len bytes owned by the session until its next
            // call; they are copied now.
            let bytes = unsafe { std::slice::from_raw_parts(r.text as *const u8, r.text_len as usize) };
            String::from_utf8_lossy(bytes).into_owned()
        };
        Ok(Token { id: r.token, text, end_of_turn: r.flags & sys::GEMMA2_STEP_END_OF_TURN != 0 })
    }

    /// The logits of the last fed position (vocab_size floats); [`Status::State`] if
    /// nothing was fed (or after a rewind).
    pub fn logits(&self) -> Result<&[f32]> {
        let mut p: *const f32 = ptr::null();
        let mut n = 0usize;
        // SAFETY: p/n valid for writing.
        check(unsafe { sys::gemma2_session_logits(self.ptr(), &mut p, &mut n) })?;
        if p.is_null() || n == 0 {
            return Ok(&[]);
        }
        // SAFETY: n floats owned by the session, valid until its next feed, step, reset
        // or free: all of which need &mut self (or drop), so not while this borrow lives.
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// The `n` most likely next tokens by the model's own distribution (before the
    /// sampler), most likely first: `(id, natural log probability)`.
    pub fn top_logprobs(&self, n: usize) -> Result<Vec<(i32, f32)>> {
        let mut ids = vec![0i32; n];
        let mut lps = vec![0f32; n];
        let mut got = 0usize;
        // SAFETY: both arrays hold n entries.
        check(unsafe {
            sys::gemma2_session_top_logprobs(self.ptr(), n, ids.as_mut_ptr(), lps.as_mut_ptr(), &mut got)
        })?;
        Ok(ids.into_iter().zip(lps).take(got.min(n)).collect())
    }

    /// Number of tokens the session holds (its next position).
    pub fn position(&self) -> usize {
        let mut n = 0u32;
        // SAFETY: n valid for writing; cannot fail with a live session.
        let st = unsafe { sys::gemma2_session_position(self.ptr(), &mut n) };
        debug_assert_eq!(st, sys::GEMMA2_OK);
        n as usize
    }

    /// The tokens the session holds.
    pub fn tokens(&self) -> Result<Vec<i32>> {
        let mut n = 0usize;
        // SAFETY: NULL with cap 0 asks for the count.
        check(unsafe { sys::gemma2_session_tokens(self.ptr(), ptr::null_mut(), 0, &mut n) })?;
        let mut ids = vec![0i32; n];
        let cap = ids.len();
        // SAFETY: ids holds cap entries.
        check(unsafe { sys::gemma2_session_tokens(self.ptr(), ids.as_mut_ptr(), cap, &mut n) })?;
        ids.truncate(n.min(cap));
        Ok(ids)
    }

    /// Bytes the session allocated (KV cache, scratch, history, sampler).
    pub fn memory_bytes(&self) -> u64 {
        // SAFETY: live session.
        unsafe { sys::gemma2_session_memory_bytes(self.ptr()) }
    }

    /// Forgets every token: position 0, no logits.
    pub fn reset(&mut self) {
        // SAFETY: live session; only a NULL session can fail.
        let st = unsafe { sys::gemma2_session_reset(self.ptr()) };
        debug_assert_eq!(st, sys::GEMMA2_OK);
    }

    /// Keeps only the first `n` tokens ([`Status::InvalidArgument`] if `n` is past the
    /// position). The logits are gone until the next feed.
    pub fn rewind(&mut self, n: usize) -> Result<()> {
        let n = u32::try_from(n).unwrap_or(u32::MAX); // past any position: the library refuses
                                                      // SAFETY: live session.
        check(unsafe { sys::gemma2_session_rewind(self.ptr(), n) })
    }

    /// Replaces the sampler (the tokens so far are kept) and reseeds its generator.
    /// Out-of-range values give [`Status::InvalidArgument`] and keep the old sampler.
    pub fn set_sampler(&mut self, options: &SamplerOptions) -> Result<()> {
        let p = self.ptr();
        // SAFETY: the options and bias array outlive the call (the session copies them).
        options.with_raw(|raw| check(unsafe { sys::gemma2_session_set_sampler(p, raw) }))
    }

    /// The session's state (tokens, KV cache, logits, sampler), compressed and
    /// checksummed, bound to the model's digest.
    pub fn save(&self) -> Result<Vec<u8>> {
        let mut p: *mut c_void = ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: p/size valid for writing.
        check(unsafe { sys::gemma2_session_save(self.ptr(), &mut p, &mut size) })?;
        if p.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: p points at size bytes malloc'd by the library, copied then freed once.
        let v = unsafe { std::slice::from_raw_parts(p as *const u8, size) }.to_vec();
        unsafe { sys::gemma2_state_free(p) };
        Ok(v)
    }

    /// Replaces the session's tokens, cache, logits and sampler by a saved state's; on
    /// any failure the session is unchanged.
    pub fn load(&mut self, state: &[u8]) -> Result<()> {
        // SAFETY: state is valid for its length.
        check(unsafe { sys::gemma2_session_load(self.ptr(), state.as_ptr() as *const c_void, state.len()) })
    }

    /// [`Session::save`] to a file (written to PATH.tmp, then renamed).
    pub fn save_file<P: AsRef<Path>>(&self, path: P) -> Result<()> {
        let c = path_cstring(path.as_ref())?;
        // SAFETY: c is NUL-terminated and outlives the call.
        check(unsafe { sys::gemma2_session_save_file(self.ptr(), c.as_ptr()) })
    }

    /// [`Session::load`] from a file.
    pub fn load_file<P: AsRef<Path>>(&mut self, path: P) -> Result<()> {
        let c = path_cstring(path.as_ref())?;
        // SAFETY: c is NUL-terminated and outlives the call.
        check(unsafe { sys::gemma2_session_load_file(self.ptr(), c.as_ptr()) })
    }

    /// Feeds `prompt` (nothing if empty: generation goes on from the current logits),
    /// then yields the text of each generated token ([`Token::text`], possibly empty),
    /// at most `max_tokens` of them, ending after the token that ends the model's turn
    /// (which is yielded, usually as ""). An error is yielded once and ends it; a full
    /// context ends it quietly ([`Generate::stop_reason`] says which).
    pub fn generate(&mut self, prompt: &[i32], max_tokens: usize) -> Generate<'_> {
        Generate {
            session: self,
            prompt: prompt.to_vec(),
            remaining: max_tokens,
            tokens: Vec::new(),
            stop: None,
        }
    }
}

/// Why a [`Generate`] iterator ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A token ended the model's turn (it was fed and yielded).
    EndOfTurn,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The session's context is full.
    ContextFull,
    /// A feed or step failed: the error was yielded.
    Error,
}

/// Iterator of text pieces from [`Session::generate`], one per generated token.
pub struct Generate<'a> {
    session: &'a mut Session,
    prompt: Vec<i32>,
    remaining: usize,
    tokens: Vec<i32>,
    stop: Option<StopReason>,
}

impl<'a> Generate<'a> {
    /// Ids generated so far (each fed to the session).
    pub fn tokens(&self) -> &[i32] {
        &self.tokens
    }

    /// Why generation ended; `None` while it goes on.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop
    }
}

impl<'a> Iterator for Generate<'a> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        if self.stop.is_some() {
            return None;
        }
        if !self.prompt.is_empty() {
            let prompt = std::mem::take(&mut self.prompt);
            if let Err(e) = self.session.feed(&prompt) {
                self.stop = Some(StopReason::Error);
                return Some(Err(e));
            }
        }
        if self.remaining == 0 {
            self.stop = Some(StopReason::MaxTokens);
            return None;
        }
        match self.session.step() {
            Ok(tok) => {
                self.remaining -= 1;
                self.tokens.push(tok.id);
                if tok.end_of_turn {
                    self.stop = Some(StopReason::EndOfTurn);
                } else if self.remaining == 0 {
                    self.stop = Some(StopReason::MaxTokens);
                }
                Some(Ok(tok.text))
            }
            Err(e) if e.status() == Status::ContextFull => {
                self.stop = Some(StopReason::ContextFull);
                None
            }
            Err(e) => {
                self.stop = Some(StopReason::Error);
                Some(Err(e))
            }
        }
    }
}

/// Cancels the feed or step running on a session, from any thread
/// (`gemma2_session_cancel`): that call returns [`Status::Cancelled`] within a layer's
/// time with the session as before it. A request made while no call runs is dropped
/// when the next call starts. `Send + Sync + Clone`; it keeps the C session alive (not
/// the [`Session`]), so it may outlive it harmlessly.
#[derive(Clone)]
pub struct Cancel {
    raw: Arc<RawSession>,
}

impl Cancel {
    /// Requests cancellation.
    pub fn cancel(&self) {
        // SAFETY: the C session lives while self.raw does; gemma2_session_cancel is the
        // one call allowed concurrently with any other on the session.
        unsafe { sys::gemma2_session_cancel(self.raw.0.as_ptr()) }
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel").field("raw", &self.raw.0).finish()
    }
}
