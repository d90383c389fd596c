# SPDX-License-Identifier: Apache-2.0
"""Model (an open model file) and its value types ModelInfo and TensorInfo."""
from __future__ import annotations

import ctypes
import os
from ctypes import byref, c_int32, c_uint8, c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, List, Optional, Tuple, Union

from . import _ffi
from ._common import Message, PathLike, Text, _path, _warn_unclosed, lib
from ._errors import ClosedError, check, fail
from ._library import type_name
from ._tokenizer import Tokenizer

if TYPE_CHECKING:
    from ._session import Session

__all__ = ['Model', 'ModelInfo', 'TensorInfo']


@dataclass(frozen=True)
class ModelInfo:
    """gemma2_model_info: architecture and file facts."""
    format_version: int
    vocab_size: int
    hidden_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_size: int
    context_length: int
    sliding_window: int
    weight_type: str  # "f32", "bf16", "q8", "q4"
    rms_norm_eps: float
    rope_theta: float
    query_pre_attn_scalar: float
    attn_softcap: float
    final_softcap: float
    bos_id: int
    eos_id: int
    pad_id: int
    n_tensors: int
    compressed: bool
    file_size: int
    weight_bytes: int
    source: str  # "gemma2" (this library's format) or "gguf"
    has_checksums: bool  # False for GGUF: digests were computed at open
    qpas_source: str  # query_pre_attn_scalar from "config", or derived: "head_dim", "hidden_per_head"


@dataclass(frozen=True)
class TensorInfo:
    """gemma2_tensor_info: one tensor of the file."""
    index: int
    name: str
    type: str  # "f32", "bf16", "q8", "q4"
    dims: Tuple[int, ...]
    compressed: bool
    n_bytes: int
    stored_bytes: int
    digest: bytes
    file_type: str  # the type in the file: as type, or GGUF's name ("Q4_K") for GGUF files


_QPAS_SOURCES = {_ffi.QPAS_CONFIG: 'config', _ffi.QPAS_HEAD_DIM: 'head_dim',
                 _ffi.QPAS_HIDDEN_PER_HEAD: 'hidden_per_head'}


class Model:
    """An open gemma2 model file (gemma2_model_open): immutable, usable by any number of
    threads and sessions. Close it with close() or a with block; sessions keep what they
    need, so closing the model while sessions run is safe.

    path: the .g2 file. threads: threads for digest checks and decompression (0 = all
    CPUs). verify: check every tensor digest at open. mmap: map the file (False reads it
    into private memory). expected_digest: None, or the 32-byte file digest (bytes or 64
    hex digits) the file must have (ChecksumError otherwise).
    """

    def __init__(self, path: PathLike, threads: int = 0, verify: bool = True, mmap: bool = True,
                 expected_digest: Optional[Union[bytes, str]] = None) -> None:
        self._h: Optional[int] = None
        self.path = os.fsdecode(path)
        opts = _ffi.gemma2_model_options()
        check(lib.gemma2_model_options_init(byref(opts), ctypes.sizeof(opts)))
        opts.n_threads = int(threads)
        opts.flags = (0 if verify else _ffi.MODEL_SKIP_VERIFY) | (0 if mmap else _ffi.MODEL_NO_MMAP)
        digest_buf = None
        if expected_digest is not None:
            d = bytes.fromhex(expected_digest) if isinstance(expected_digest, str) else bytes(expected_digest)
            if len(d) != _ffi.DIGEST_BYTES:
                fail(_ffi.ERR_INVALID_ARGUMENT, 'expected_digest must be %d bytes, not %d'
                     % (_ffi.DIGEST_BYTES, len(d)))
            digest_buf = (c_uint8 * _ffi.DIGEST_BYTES).from_buffer_copy(d)
            opts.expected_digest = ctypes.cast(digest_buf, ctypes.POINTER(c_uint8))
        h = c_void_p()
        check(lib.gemma2_model_open(_path(path), byref(opts), byref(h)))
        self._h = h.value
        try:
            info = _ffi.gemma2_model_info()
            check(lib.gemma2_model_info_init(byref(info), ctypes.sizeof(info)))
            check(lib.gemma2_model_get_info(self._h, byref(info)))
            convert = {'weight_type': type_name, 'compressed': bool, 'has_checksums': bool,
                       'source': lambda v: 'gguf' if v == _ffi.SOURCE_GGUF else 'gemma2',
                       'qpas_source': lambda v: _QPAS_SOURCES.get(v, 'unknown')}
            self._info = ModelInfo(**{
                name: convert.get(name, lambda v: v)(getattr(info, name))
                for name, _ in _ffi.gemma2_model_info._fields_ if name not in ('struct_size', 'reserved')})
            dig = (c_uint8 * _ffi.DIGEST_BYTES)()
            check(lib.gemma2_model_digest(self._h, dig, len(dig)))
            self._digest = bytes(dig)
            tok = c_void_p()
            st = lib.gemma2_model_tokenizer(self._h, byref(tok))
            if st == _ffi.ERR_UNSUPPORTED:
                self._tokenizer: Optional[Tokenizer] = None
            else:
                check(st)
                self._tokenizer = Tokenizer(tok.value, self)
        except BaseException:
            self.close()
            raise

    # lifetime
    def _require(self) -> int:
        if not self._h:
            raise ClosedError('Model')
        return self._h

    @property
    def closed(self) -> bool:
        return not self._h

    def close(self) -> None:
        """Releases the model (sessions on it keep their own reference). Idempotent."""
        h, self._h = self._h, None
        if h:
            lib.gemma2_model_close(h)

    def __enter__(self) -> 'Model':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, '_h', None):
            _warn_unclosed(self)
            self.close()

    def __repr__(self) -> str:
        return '<gemma2.Model %r%s>' % (self.path, ' (closed)' if self.closed else '')

    # facts
    @property
    def info(self) -> ModelInfo:
        self._require()
        return self._info

    @property
    def vocab_size(self) -> int:
        return self.info.vocab_size

    @property
    def context_length(self) -> int:
        return self.info.context_length

    @property
    def hidden_size(self) -> int:
        return self.info.hidden_size

    @property
    def n_layers(self) -> int:
        return self.info.n_layers

    @property
    def n_heads(self) -> int:
        return self.info.n_heads

    @property
    def n_kv_heads(self) -> int:
        return self.info.n_kv_heads

    @property
    def head_dim(self) -> int:
        return self.info.head_dim

    @property
    def ffn_size(self) -> int:
        return self.info.ffn_size

    @property
    def sliding_window(self) -> int:
        return self.info.sliding_window

    @property
    def weight_type(self) -> str:
        return self.info.weight_type

    @property
    def bos_id(self) -> int:
        """The config's <bos> id (the tokenizer's, if any, is Tokenizer.bos_id)."""
        return self.info.bos_id

    @property
    def eos_id(self) -> int:
        return self.info.eos_id

    @property
    def digest(self) -> bytes:
        """The file digest: BLAKE2b-256 of the header region (32 bytes)."""
        self._require()
        return self._digest

    @property
    def layer_kinds(self) -> List[str]:
        """'local' (sliding window) or 'global' for each layer."""
        h = self._require()
        kinds = []
        kind = c_int32(0)
        for i in range(self._info.n_layers):
            check(lib.gemma2_model_layer_kind(h, i, byref(kind)))
            kinds.append('local' if kind.value == _ffi.LAYER_LOCAL else 'global')
        return kinds

    def tensors(self) -> List[TensorInfo]:
        """Every tensor of the file, in file order."""
        h = self._require()
        out = []
        ti = _ffi.gemma2_tensor_info()
        for i in range(self._info.n_tensors):
            check(lib.gemma2_tensor_info_init(byref(ti), ctypes.sizeof(ti)))
            check(lib.gemma2_model_tensor_info(h, i, byref(ti)))
            out.append(TensorInfo(index=i, name=(ti.name or b'').decode('utf-8', 'replace'),
                                  type=type_name(ti.type), dims=tuple(ti.dims[:ti.n_dims]),
                                  compressed=bool(ti.compressed), n_bytes=ti.n_bytes,
                                  stored_bytes=ti.stored_bytes, digest=bytes(ti.digest),
                                  file_type=type_name(ti.file_type)))
        return out

    def save(self, path: PathLike, compress: bool = False) -> None:
        """Writes the model as loaded to a gemma2 model file with fresh digests (for a
        GGUF model: the conversion to gemma2's format)."""
        check(lib.gemma2_model_save(self._require(), _path(path), _ffi.SAVE_COMPRESS if compress else 0))

    def verify(self, threads: int = 0) -> None:
        """Re-checks every tensor digest (ChecksumError names the first bad tensor)."""
        check(lib.gemma2_model_verify(self._require(), int(threads)))

    def verify_tensor(self, index: int) -> None:
        check(lib.gemma2_model_verify_tensor(self._require(), int(index)))

    # text
    @property
    def tokenizer(self) -> Optional[Tokenizer]:
        """The model's tokenizer, or None if the file has none."""
        self._require()
        return self._tokenizer

    @property
    def has_tokenizer(self) -> bool:
        return self.tokenizer is not None

    def _tok(self) -> Tokenizer:
        tok = self.tokenizer
        if tok is None:
            fail(_ffi.ERR_UNSUPPORTED, '%s has no tokenizer' % self.path)
        return tok

    def tokenize(self, text: Text, special: bool = False) -> List[int]:
        """Tokenizer.tokenize of the model's tokenizer (UnsupportedError without one)."""
        return self._tok().tokenize(text, special)

    def detokenize(self, ids: Iterable[int], skip_special: bool = False) -> str:
        return self._tok().detokenize(ids, skip_special)

    def chat_template(self, messages: Iterable[Message], add_generation_prompt: bool = True,
                      bos: bool = True) -> List[int]:
        return self._tok().chat_template(messages, add_generation_prompt, bos)

    def session(self, **kwargs: Any) -> 'Session':
        """Session(self, **kwargs)."""
        from ._session import Session  # here, not at the top: _session imports this module
        return Session(self, **kwargs)

