# SPDX-License-Identifier: Apache-2.0
"""Session (one conversation on a model), its generated Token, and generation: the token
and text iterators, stop-string matching and the one-call generate_all."""
from __future__ import annotations

import array
import contextlib
import ctypes
import threading
from ctypes import byref, c_float, c_int32, c_size_t, c_uint32, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _ffi
from ._common import Message, PathLike, Text, _c_string, _ids, _path, _warn_unclosed, lib
from ._errors import ClosedError, ContextFullError, check, fail, make_error
from ._model import Model
from ._sampler import Sampler
from ._tokenizer import _chat_tokenize, _TextStream, _tokenize

__all__ = ['Session', 'Token', 'STOP_REASONS']


def _match_stops(held: str, stops: Sequence[str]) -> Tuple[bool, int]:
    """As lib/infer/stops.c: (True, where the earliest stop string starts) if held contains
    one, else (False, how much of held is final: all but its longest suffix that begins
    some stop string)."""
    first = -1
    for s in stops:
        at = held.find(s)
        if at >= 0 and (first < 0 or at < first):
            first = at
    if first >= 0:
        return True, first
    best = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(held)), best, -1):
            if held.endswith(s[:n]):
                best = n
                break
    return False, len(held) - best



@dataclass(frozen=True)
class Token:
    """One generated token (gemma2_step_result): its id, the text it completes ('' for a
    special piece, a character not yet whole, or a model without a tokenizer), and whether
    it ends the model's turn (<end_of_turn> or <eos>)."""
    id: int
    text: str
    end_of_turn: bool


#: Session.stop_reason values (gemma2_generate_result.stop_reason).
STOP_REASONS = {
    _ffi.STOP_END_OF_TURN: 'end_of_turn',
    _ffi.STOP_MAX_TOKENS: 'max_tokens',
    _ffi.STOP_STRING: 'stop_string',
    _ffi.STOP_CALLBACK: 'callback',
    _ffi.STOP_CONTEXT_FULL: 'context_full',
    _ffi.STOP_ERROR: 'error',
}


class Session:
    """One conversation on a model (gemma2_session): its KV cache of n_ctx positions
    (0 = the model's context length), its threads (0 = all CPUs), its sampler (the
    keyword arguments of Sampler; greedy by default) and the logits of the last fed
    position. Use it from one thread at a time (calls from several threads are
    serialized by a lock); cancel() may be called from any thread. The session keeps
    the Model object, and the library its memory, alive."""

    def __init__(self, model: Model, *, temperature: float = 0.0, seed: int = 0, top_k: int = 0,
                 top_p: float = 1.0, min_p: float = 0.0, repeat_penalty: float = 1.0,
                 presence_penalty: float = 0.0, frequency_penalty: float = 0.0, penalty_last_n: int = 64,
                 logit_bias: Optional[Mapping[int, float]] = None, n_ctx: int = 0, threads: int = 0,
                 sampler: Optional[Sampler] = None) -> None:
        self._h: Optional[int] = None
        self._lock = threading.Lock()       # one call at a time
        self._holder: Optional[int] = None  # the thread in a call (see _call)
        self._life = threading.Lock()       # the handle's lifetime, for cancel() against close()
        if not isinstance(model, Model):
            raise TypeError('model must be a gemma2.Model, not %s' % type(model).__name__)
        mh = model._require()
        if sampler is None:
            sampler = Sampler(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                              repeat_penalty=repeat_penalty, presence_penalty=presence_penalty,
                              frequency_penalty=frequency_penalty, penalty_last_n=penalty_last_n,
                              seed=seed, logit_bias=dict(logit_bias or {}))
        samp, keep = sampler._to_c()
        opts = _ffi.gemma2_session_options()
        check(lib.gemma2_session_options_init(byref(opts), ctypes.sizeof(opts)))
        opts.n_threads = int(threads)
        opts.n_ctx = Sampler._int('n_ctx', n_ctx, 0, 0xFFFFFFFF)
        opts.sampler = ctypes.pointer(samp)
        h = c_void_p()
        check(lib.gemma2_session_new(mh, byref(opts), byref(h)))
        del keep
        self._h = h.value
        self._model = model  # the Python object stays alive while the session is
        self._sampler: Optional[Sampler] = sampler
        # What the session needs of the model even if the Model object is closed: the
        # library keeps the model (and its tokenizer) alive for the session.
        tok = model._tokenizer
        self._tok: Optional[int] = tok._h if tok is not None else None
        self._vocab = model._info.vocab_size
        self._n_ctx = int(n_ctx) or model._info.context_length
        bos = tok.special(_ffi.TOKEN_BOS) if tok is not None else None
        self._bos = bos if bos is not None else model._info.bos_id
        #: Why the last generate()/chat() ended: 'end_of_turn', 'max_tokens',
        #: 'stop_string', 'context_full', or None (not ended yet / none run).
        self.stop_reason: Optional[str] = None
        #: The ids the last generate()/chat() produced (all fed to the session).
        self.generated: List[int] = []
        #: How many tokens of the conversation the last chat() kept instead of feeding them.
        self.reused = 0

    # lifetime
    def _require(self) -> int:
        if not self._h:
            raise ClosedError('Session')
        return self._h

    @contextlib.contextmanager
    def _call(self) -> Iterator[None]:
        """Holds the session's lock for one library call: other threads wait; the same
        thread (a generate_all callback calling the session) gets a StateError."""
        me = threading.get_ident()
        if self._holder == me:
            fail(_ffi.ERR_STATE, 'the session is busy: it cannot be used from its own generate_all callback')
        with self._lock:
            self._holder = me
            try:
                yield
            finally:
                self._holder = None

    @property
    def closed(self) -> bool:
        return not self._h

    @property
    def model(self) -> Model:
        return self._model

    def close(self) -> None:
        """Frees the session (waits for a call running on another thread). Idempotent."""
        with self._call(), self._life:
            h, self._h = self._h, None
        if h:
            lib.gemma2_session_free(h)

    def __enter__(self) -> 'Session':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, '_h', None):
            _warn_unclosed(self)
            h, self._h = self._h, None
            lib.gemma2_session_free(h)

    def __repr__(self) -> str:
        if self.closed:
            return '<gemma2.Session (closed)>'
        return '<gemma2.Session position %d of %d>' % (self.position, self._n_ctx)

    def _text_tok(self) -> int:
        self._require()  # the tokenizer lives as long as the library's session does
        if self._tok is None:
            fail(_ffi.ERR_UNSUPPORTED, '%s has no tokenizer: text needs one (use token ids)' % self._model.path)
        return self._tok

    # facts
    @property
    def n_ctx(self) -> int:
        """The context length in tokens."""
        self._require()
        return self._n_ctx

    @property
    def position(self) -> int:
        """Number of tokens held (the next position)."""
        n = c_uint32(0)
        with self._call():
            check(lib.gemma2_session_position(self._require(), byref(n)))
        return n.value

    @property
    def tokens(self) -> List[int]:
        """The ids the session holds."""
        n = c_size_t(0)
        with self._call():
            h = self._require()
            check(lib.gemma2_session_tokens(h, None, 0, byref(n)))
            out = (c_int32 * max(n.value, 1))()
            check(lib.gemma2_session_tokens(h, out, n.value, byref(n)))
        return list(out[:n.value])

    @property
    def memory_bytes(self) -> int:
        """Bytes the session allocated (KV cache, scratch, history, sampler)."""
        with self._call():
            return int(lib.gemma2_session_memory_bytes(self._require()))

    @property
    def logits(self) -> 'array.array[float]':
        """A copy (array.array('f'), vocab_size float32) of the logits of the last fed
        position: the session's own buffer changes with every feed and step, so it is
        never exposed. StateError if nothing was fed."""
        p = ctypes.POINTER(c_float)()
        n = c_size_t(0)
        out = array.array('f')
        with self._call():
            check(lib.gemma2_session_logits(self._require(), byref(p), byref(n)))
            out.frombytes(ctypes.string_at(p, n.value * ctypes.sizeof(c_float)))
        return out

    def top_logprobs(self, n: int) -> List[Tuple[int, float]]:
        """The n likeliest next tokens by the model's own distribution (before the
        sampler), most likely first: [(id, natural log-probability)]."""
        n = int(n)
        if n < 0:
            fail(_ffi.ERR_INVALID_ARGUMENT, 'top_logprobs: n must not be negative')
        ids = (c_int32 * max(n, 1))()
        lps = (c_float * max(n, 1))()
        got = c_size_t(0)
        with self._call():
            check(lib.gemma2_session_top_logprobs(self._require(), n, ids, lps, byref(got)))
        return [(ids[i], lps[i]) for i in range(got.value)]

    # feeding
    def feed(self, ids: Iterable[int]) -> None:
        """Feeds token ids in one batched prefill (all or nothing)."""
        arr = _ids(ids)
        with self._call():
            check(lib.gemma2_session_feed(self._require(), arr, len(arr)))

    def feed_all_logits(self, ids: Iterable[int]) -> List['array.array[float]']:
        """feed(), returning the logits of every fed position (gemma2_session_feed_outputs):
        one array.array('f') of vocab_size floats per id."""
        arr = _ids(ids)
        n = len(arr)
        buf = array.array('f', bytes(4 * n * self._vocab))
        outs = _ffi.gemma2_feed_outputs()
        check(lib.gemma2_feed_outputs_init(byref(outs), ctypes.sizeof(outs)))
        cbuf = (c_float * len(buf)).from_buffer(buf) if len(buf) else None
        if cbuf is not None:
            outs.logits = ctypes.cast(cbuf, ctypes.POINTER(c_float))
        outs.logits_cap = len(buf)
        with self._call():
            check(lib.gemma2_session_feed_outputs(self._require(), arr, n, byref(outs)))
        del cbuf, outs  # release the export of buf
        return [buf[i * self._vocab:(i + 1) * self._vocab] for i in range(n)]

    def feed_prompt(self, ids: Iterable[int]) -> int:
        """Makes the session hold exactly ids and their last logits, feeding only what
        differs from what it holds; returns how many tokens were kept."""
        arr = _ids(ids)
        reused = c_size_t(0)
        with self._call():
            check(lib.gemma2_session_feed_prompt(self._require(), arr, len(arr), byref(reused)))
        return reused.value

    def reset(self) -> None:
        """Forgets every token: position 0, no logits."""
        with self._call():
            check(lib.gemma2_session_reset(self._require()))

    def rewind(self, n: int) -> None:
        """Keeps only the first n tokens (n <= position); the logits go until the next feed."""
        n = int(n)
        if n < 0:
            fail(_ffi.ERR_INVALID_ARGUMENT, 'rewind: n must not be negative')
        with self._call():
            check(lib.gemma2_session_rewind(self._require(), Sampler._int('n', n, 0, 0xFFFFFFFF)))

    def cancel(self) -> None:
        """From another thread: makes the running feed or step raise CancelledError, the
        session as before it. A request made while nothing runs is dropped."""
        with self._life:
            if self._h:
                lib.gemma2_session_cancel(self._h)

    # sampling
    @property
    def sampler(self) -> Optional[Sampler]:
        """The sampler settings last given (at creation or by set_sampler), or None after
        load()/load_file(), which bring the saved session's sampler (the library has no
        call to read it back)."""
        return self._sampler

    def set_sampler(self, sampler: Optional[Sampler] = None, **kwargs: Any) -> None:
        """Replaces the sampler (between steps; the tokens are kept) and reseeds it: with a
        Sampler, or with Sampler's keyword arguments (those not given take Sampler's
        defaults, not the previous values). No arguments: greedy."""
        if sampler is not None and kwargs:
            raise TypeError('set_sampler: give a Sampler or keyword arguments, not both')
        if sampler is None:
            sampler = Sampler(**kwargs)
        o, keep = sampler._to_c()
        with self._call():
            check(lib.gemma2_session_set_sampler(self._require(), byref(o)))
        del keep
        self._sampler = sampler

    def step(self) -> Token:
        """Chooses the next token with the sampler, feeds it and returns it."""
        r = _ffi.gemma2_step_result()
        check(lib.gemma2_step_result_init(byref(r), ctypes.sizeof(r)))
        with self._call():
            check(lib.gemma2_session_step(self._require(), byref(r)))
            text = ctypes.string_at(r.text, r.text_len).decode('utf-8', 'replace') if r.text and r.text_len else ''
        return Token(r.token, text, bool(r.flags & _ffi.STEP_END_OF_TURN))

    # generation
    def _prompt_ids(self, prompt: Union[Text, Sequence[int]], add_bos: Optional[bool]) -> List[int]:
        if isinstance(prompt, (str, bytes, bytearray, memoryview)):
            ids = _tokenize(self._text_tok(), prompt, False)
            if add_bos is None:
                add_bos = self.position == 0
            return ([self._bos] if add_bos else []) + ids
        ids = list(prompt)
        if add_bos:
            ids.insert(0, self._bos)
        return ids

    def generate_tokens(self, prompt: Optional[Union[Text, Sequence[int]]] = None,
                        max_tokens: Optional[int] = 256, add_bos: Optional[bool] = None) -> Iterator[Token]:
        """Feeds prompt (see generate), then yields one Token per step until the model's
        turn ends (that token included), max_tokens (None = no limit) or a full context.
        Works without a tokenizer (prompt as ids; Token.text is then '')."""
        if max_tokens is not None and max_tokens < 0:
            fail(_ffi.ERR_INVALID_ARGUMENT, 'max_tokens must not be negative')
        if prompt is not None:
            ids = self._prompt_ids(prompt, add_bos)
            if ids:
                self.feed(ids)
        self.stop_reason = None
        self.generated = []
        return self._token_iter(max_tokens)

    def _token_iter(self, max_tokens: Optional[int]) -> Iterator[Token]:
        n = 0
        while True:
            if max_tokens is not None and n >= max_tokens:
                self.stop_reason = 'max_tokens'
                return
            try:
                t = self.step()
            except ContextFullError:
                self.stop_reason = 'context_full'
                return
            n += 1
            self.generated.append(t.id)
            yield t
            if t.end_of_turn:
                self.stop_reason = 'end_of_turn'
                return

    def generate(self, prompt: Optional[Union[Text, Sequence[int]]] = None, max_tokens: Optional[int] = 256,
                 stop: Optional[Union[str, Sequence[str]]] = None, add_bos: Optional[bool] = None) -> Iterator[str]:
        """Feeds prompt, then generates, yielding text as it becomes final, one step at a
        time (the same text as gemma2_session_generate passes to its callback).

        prompt: a str (or bytes), encoded as plain text, with <bos> before it if the session
        is empty (add_bos=None; True/False to force); a list of ids, fed as they are (add_bos=
        True puts <bos> first); or None to go on from the session's logits.
        Stops at the end of the model's turn, after max_tokens (None: no limit), at a stop
        string (never yielded, nor what follows it; text that may begin one is held back
        until it cannot), or when the context is full. Every generated token stays in the
        session; stop_reason and generated tell how it ended. Needs a tokenizer. Closing the
        iterator early (break) leaves the tokens made so far in the session.
        """
        tok = self._text_tok()
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        for s in stops:  # checked before the prompt is fed
            if not isinstance(s, str) or not s or '\0' in s:
                fail(_ffi.ERR_INVALID_ARGUMENT, 'stop strings must be non-empty str without NUL: %r' % (s,))
        tokens = self.generate_tokens(prompt, max_tokens, add_bos)
        return self._text_iter(tok, tokens, stops)

    def _text_iter(self, tok: int, tokens: Iterator[Token], stops: List[str]) -> Iterator[str]:
        self._require()
        stream = _TextStream(tok)
        held = ''
        try:
            for t in tokens:
                piece = stream.push(t.id)
                if not stops:
                    if piece:
                        yield piece
                    continue
                held += piece
                hit, release = _match_stops(held, stops)
                out, held = held[:release], ('' if hit else held[release:])
                if out:
                    yield out
                if hit:
                    self.stop_reason = 'stop_string'
                    return
            self._require()
            tail = held + stream.flush()
            if stops:
                hit, release = _match_stops(tail, stops)
                if hit:
                    tail = tail[:release]
                    self.stop_reason = 'stop_string'
            if tail:
                yield tail
        finally:
            tokens.close()  # type: ignore[attr-defined]
            stream.close()

    def generate_all(self, prompt: Optional[Union[Text, Sequence[int]]] = None,
                     max_tokens: Optional[int] = 256, stop: Optional[Union[str, Sequence[str]]] = None,
                     add_bos: Optional[bool] = None,
                     on_text: Optional[Callable[[int, str], Optional[bool]]] = None) -> str:
        """generate() in one library call (gemma2_session_generate): the loop runs in C,
        so it is faster, but it returns only at the end. on_text(token, text) is called
        for each generated token with the text that became final with it (token -1 for
        the held-back end); returning True stops (stop_reason 'callback'); an exception
        stops generation and is raised again. Returns the whole text. Works without a
        tokenizer (the text is then ''), but stop strings need one."""
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        enc = [_c_string(s, 'stop string') for s in stops]
        if max_tokens is not None and not 0 <= max_tokens <= 0xFFFFFFFF:
            fail(_ffi.ERR_INVALID_ARGUMENT, 'max_tokens %d is out of range' % max_tokens)
        if prompt is not None:
            ids = self._prompt_ids(prompt, add_bos)
            if ids:
                self.feed(ids)
        self.stop_reason = None
        self.generated = []
        if max_tokens == 0:  # the library's 0 means no limit
            self.stop_reason = 'max_tokens'
            return ''
        opts = _ffi.gemma2_generate_options()
        check(lib.gemma2_generate_options_init(byref(opts), ctypes.sizeof(opts)))
        opts.max_tokens = max_tokens or 0
        c_stops = (ctypes.c_char_p * max(len(enc), 1))(*enc)
        if enc:
            opts.stop = ctypes.cast(c_stops, ctypes.POINTER(ctypes.c_char_p))
            opts.n_stop = len(enc)
        res = _ffi.gemma2_generate_result()
        check(lib.gemma2_generate_result_init(byref(res), ctypes.sizeof(res)))
        pieces: List[bytes] = []
        raised: List[BaseException] = []
        generated = self.generated

        def callback(user: Optional[int], token: int, text: Optional[int], n: int) -> int:
            try:
                data = ctypes.string_at(text, n) if n else b''
                pieces.append(data)
                if token >= 0:
                    generated.append(token)
                if on_text is not None and on_text(token, data.decode('utf-8', 'replace')):
                    return 1
                return 0
            except BaseException as e:  # noqa: B036 - raised again after the call
                raised.append(e)
                return 1

        cb = _ffi.gemma2_text_callback(callback)
        with self._call():
            st = lib.gemma2_session_generate(self._require(), byref(opts), cb, None, byref(res))
            err = make_error(st) if st != _ffi.OK else None
        self.stop_reason = STOP_REASONS.get(res.stop_reason)
        if raised:
            raise raised[0]
        if err is not None:
            raise err
        return b''.join(pieces).decode('utf-8', 'replace')

    def chat_stream(self, messages: Iterable[Message], max_tokens: Optional[int] = 256,
                    stop: Optional[Union[str, Sequence[str]]] = None) -> Iterator[str]:
        """The model's reply to a conversation, as an iterator of text: the whole
        conversation (Gemma 2's chat template, ending with the model's turn opened) is made
        the session's content with feed_prompt(), so a conversation that grows turn by turn
        is only fed its new turns; then generate(None, max_tokens, stop)."""
        ids = _chat_tokenize(self._text_tok(), messages, True, True)
        self.reused = self.feed_prompt(ids)
        return self.generate(None, max_tokens, stop)

    def chat(self, messages: Iterable[Message], max_tokens: Optional[int] = 256,
             stop: Optional[Union[str, Sequence[str]]] = None) -> str:
        """The model's whole reply to a conversation (see chat_stream)."""
        return ''.join(self.chat_stream(messages, max_tokens, stop))

    # state
    def save(self) -> bytes:
        """The session's state (tokens, KV cache, logits, sampler; docs/format.md)."""
        p = c_void_p()
        n = c_size_t(0)
        with self._call():
            check(lib.gemma2_session_save(self._require(), byref(p), byref(n)))
        try:
            return ctypes.string_at(p.value, n.value)
        finally:
            lib.gemma2_state_free(p)

    def load(self, state: bytes) -> None:
        """Replaces the session's content by a saved state of the same model (nothing
        changes on failure)."""
        data = bytes(state)
        with self._call():
            check(lib.gemma2_session_load(self._require(), data, len(data)))
        self._sampler = None

    def save_file(self, path: PathLike) -> None:
        with self._call():
            check(lib.gemma2_session_save_file(self._require(), _path(path)))

    def load_file(self, path: PathLike) -> None:
        with self._call():
            check(lib.gemma2_session_load_file(self._require(), _path(path)))
        self._sampler = None
