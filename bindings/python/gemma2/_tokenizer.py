# SPDX-License-Identifier: Apache-2.0
"""Tokenizer, and the tokenizer calls on a raw pointer that it and Session share
(tokenize, detokenize, chat template, text stream)."""
from __future__ import annotations

import ctypes
from ctypes import byref, c_char, c_int32, c_size_t, c_void_p
from typing import TYPE_CHECKING, Iterable, List, Mapping, Optional, Tuple

from . import _ffi
from ._common import Message, Text, _bytes, _c_string, _ids, _warn_unclosed, lib
from ._errors import ClosedError, InvalidArgumentError, check

if TYPE_CHECKING:
    from ._model import Model

__all__ = ['Tokenizer']


# ---- tokenizer calls on a raw pointer (shared by Tokenizer and Session) ---------------------
def _tokenize(tok: int, text: Text, special: bool) -> List[int]:
    data = _bytes(text)
    flags = _ffi.TOKENIZE_SPECIAL if special else 0
    n = c_size_t(0)
    cap = len(data) + 16  # enough for most texts: one call, not two
    for _ in range(2):
        out = (c_int32 * cap)()
        st = lib.gemma2_tokenize(tok, data, len(data), flags, out, cap, byref(n))
        if st == _ffi.OK:
            return list(out[:n.value])
        if st != _ffi.ERR_BUFFER_TOO_SMALL:
            check(st)
        cap = n.value
    check(st)
    return []  # not reached


def _detokenize(tok: int, ids: Iterable[int], skip_special: bool) -> bytes:
    arr = _ids(ids)
    flags = _ffi.DETOKENIZE_SKIP_SPECIAL if skip_special else 0
    n = c_size_t(0)
    st = lib.gemma2_detokenize(tok, arr, len(arr), flags, None, 0, byref(n))
    if st == _ffi.OK and n.value == 0:
        return b''
    if st != _ffi.ERR_BUFFER_TOO_SMALL:
        check(st)
    buf = (c_char * n.value)()
    check(lib.gemma2_detokenize(tok, arr, len(arr), flags, buf, n.value, byref(n)))
    return buf.raw[:n.value]


def _messages(messages: Iterable[Message]) -> Tuple[List[bytes], List[bytes]]:
    roles: List[bytes] = []
    texts: List[bytes] = []
    for i, m in enumerate(messages):
        if isinstance(m, Mapping):
            try:
                role, content = m['role'], m['content']
            except KeyError as e:
                raise InvalidArgumentError(_ffi.ERR_INVALID_ARGUMENT,
                                           'message %d has no %s' % (i, e)) from None
        else:
            try:
                role, content = m
            except (TypeError, ValueError):
                raise InvalidArgumentError(_ffi.ERR_INVALID_ARGUMENT,
                                           'message %d: expected a dict with role and content, or a '
                                           '(role, content) pair' % i) from None
        roles.append(_c_string(role, 'role'))
        texts.append(_bytes(content, 'content'))
    return roles, texts


def _chat_tokenize(tok: int, messages: Iterable[Message], add_generation_prompt: bool, bos: bool) -> List[int]:
    roles, texts = _messages(messages)
    n = len(roles)
    c_roles = (ctypes.c_char_p * max(n, 1))(*roles)
    c_texts = (ctypes.c_char_p * max(n, 1))(*texts)
    c_lens = (c_size_t * max(n, 1))(*[len(t) for t in texts])
    flags = (_ffi.CHAT_ADD_GENERATION_PROMPT if add_generation_prompt else 0) | (0 if bos else _ffi.CHAT_NO_BOS)
    need = c_size_t(0)
    st = lib.gemma2_chat_tokenize(tok, c_roles, c_texts, c_lens, n, flags, None, 0, byref(need))
    if st not in (_ffi.OK, _ffi.ERR_BUFFER_TOO_SMALL):
        check(st)
    out = (c_int32 * max(need.value, 1))()
    check(lib.gemma2_chat_tokenize(tok, c_roles, c_texts, c_lens, n, flags, out, need.value, byref(need)))
    return list(out[:need.value])


class _TextStream:
    """gemma2_text_stream: generated ids to whole UTF-8 text, special pieces left out."""

    def __init__(self, tok: int) -> None:
        h = c_void_p()
        check(lib.gemma2_text_stream_new(tok, _ffi.DETOKENIZE_SKIP_SPECIAL, byref(h)))
        self._h: Optional[int] = h.value
        self._buf = (c_char * max(int(lib.gemma2_text_stream_max_bytes(h)), 4))()
        self._len = c_size_t(0)

    def push(self, token: int) -> str:
        st = lib.gemma2_text_stream_push(self._h, token, self._buf, len(self._buf), byref(self._len))
        if st == _ffi.ERR_TOKEN_OUT_OF_RANGE:
            return ''  # an id past the tokenizer's pieces (a larger model vocabulary): no text
        check(st)
        return self._buf.raw[:self._len.value].decode('utf-8', 'replace')

    def flush(self) -> str:
        check(lib.gemma2_text_stream_flush(self._h, self._buf, len(self._buf), byref(self._len)))
        return self._buf.raw[:self._len.value].decode('utf-8', 'replace')

    def close(self) -> None:
        h, self._h = self._h, None
        if h:
            lib.gemma2_text_stream_free(h)


# ---- tokenizer ---------------------------------------------------------------------------------
class Tokenizer:
    """Gemma's tokenizer: a model's (Model.tokenizer, valid while the model is open) or one
    loaded from its serialized form (Tokenizer.load, closed with close()). Thread-safe."""

    def __init__(self, _handle: int, _owner: Optional['Model'] = None) -> None:
        # Not for direct use: Model.tokenizer or Tokenizer.load().
        self._h: Optional[int] = _handle
        self._owner = _owner

    @classmethod
    def load(cls, data: bytes) -> 'Tokenizer':
        """A standalone tokenizer from its serialized form (the "tokenizer" metadata value
        of a model file, docs/format.md)."""
        blob = bytes(data)
        h = c_void_p()
        check(lib.gemma2_tokenizer_load(blob, len(blob), byref(h)))
        return cls(h.value)

    def _ptr(self) -> int:
        if self._owner is not None:
            self._owner._require()  # a model's tokenizer dies with it
        if not self._h:
            raise ClosedError('Tokenizer')
        return self._h

    @property
    def closed(self) -> bool:
        return not self._h or (self._owner is not None and self._owner.closed)

    def close(self) -> None:
        """Frees a loaded tokenizer; for a model's, only detaches this object."""
        h, self._h = self._h, None
        if h and self._owner is None:
            lib.gemma2_tokenizer_free(h)

    def __enter__(self) -> 'Tokenizer':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, '_h', None) and getattr(self, '_owner', 1) is None:
            _warn_unclosed(self)
            self.close()

    def __repr__(self) -> str:
        if self.closed:
            return '<gemma2.Tokenizer (closed)>'
        return '<gemma2.Tokenizer %d pieces>' % self.vocab_size

    @property
    def vocab_size(self) -> int:
        """Number of pieces (token ids 0..vocab_size-1)."""
        return int(lib.gemma2_tokenizer_vocab_size(self._ptr()))

    def tokenize(self, text: Text, special: bool = False) -> List[int]:
        """The ids of text (str, or bytes taken as they are), without <bos>. special=True
        turns special-token strings ("<start_of_turn>") into their ids; the default plain
        mode is the one for untrusted text."""
        return _tokenize(self._ptr(), text, special)

    def detokenize_bytes(self, ids: Iterable[int], skip_special: bool = False) -> bytes:
        """The exact bytes of ids (may be invalid UTF-8 if that is what was encoded)."""
        return _detokenize(self._ptr(), ids, skip_special)

    def detokenize(self, ids: Iterable[int], skip_special: bool = False) -> str:
        """The text of ids; bytes that are not valid UTF-8 become U+FFFD."""
        return _detokenize(self._ptr(), ids, skip_special).decode('utf-8', 'replace')

    def chat_template(self, messages: Iterable[Message], add_generation_prompt: bool = True,
                      bos: bool = True) -> List[int]:
        """Gemma 2's chat prompt (gemma2_chat_tokenize): <bos>, then
        <start_of_turn>ROLE\\nTEXT<end_of_turn>\\n per message, and <start_of_turn>model\\n
        if add_generation_prompt. bos=False leaves out <bos> (continuing a session)."""
        return _chat_tokenize(self._ptr(), messages, add_generation_prompt, bos)

    def piece(self, token: int) -> str:
        """The vocabulary text of a token, e.g. "▁the", "<0x0A>", "<bos>"."""
        p = c_void_p()
        n = c_size_t(0)
        check(lib.gemma2_token_piece(self._ptr(), int(token), byref(p), byref(n)))
        return ctypes.string_at(p.value, n.value).decode('utf-8', 'replace') if n.value else ''

    def find(self, piece: Text) -> int:
        """The id of a vocabulary piece given by its exact text (InvalidArgumentError if none)."""
        data = _bytes(piece, 'piece')
        out = c_int32(0)
        check(lib.gemma2_token_find(self._ptr(), data, len(data), byref(out)))
        return out.value

    def special(self, which: int) -> Optional[int]:
        """Id of a special token (gemma2.TOKEN_BOS, ...), or None if the vocabulary has none."""
        v = int(lib.gemma2_token_special(self._ptr(), int(which)))
        return None if v < 0 else v

    @property
    def bos_id(self) -> Optional[int]:
        return self.special(_ffi.TOKEN_BOS)

    @property
    def eos_id(self) -> Optional[int]:
        return self.special(_ffi.TOKEN_EOS)

    @property
    def pad_id(self) -> Optional[int]:
        return self.special(_ffi.TOKEN_PAD)

    @property
    def unk_id(self) -> Optional[int]:
        return self.special(_ffi.TOKEN_UNK)

    @property
    def start_of_turn_id(self) -> Optional[int]:
        return self.special(_ffi.TOKEN_START_OF_TURN)

    @property
    def end_of_turn_id(self) -> Optional[int]:
        return self.special(_ffi.TOKEN_END_OF_TURN)

    def is_end_of_turn(self, token: int) -> bool:
        """True if token ends the model's turn (<end_of_turn> or <eos>)."""
        return bool(lib.gemma2_token_is_end_of_turn(self._ptr(), int(token)))

