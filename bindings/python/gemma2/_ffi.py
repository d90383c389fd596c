# SPDX-License-Identifier: Apache-2.0
"""Raw ctypes declarations of libgemma2 (include/gemma2.h), and how it is found.

Everything here mirrors the C header one to one; the Pythonic layer is in _model.py,
_tokenizer.py, _session.py, _sampler.py and _library.py (their shared helpers: _common.py).
Importing this module loads the library and checks it: the ABI major
(gemma2_abi_version() == ABI_VERSION) and the size of every public struct
(gemma2_struct_size), so that a declaration that drifted from the header fails at
import with an ImportError instead of corrupting memory.

The library is looked for in this order:
  1. the GEMMA2_LIBRARY environment variable, a path to the shared library (if it is
     set and cannot be loaded, nothing else is tried);
  2. the installed library: ctypes.util.find_library('gemma2'), then 'libgemma2.so.1';
  3. a build tree of the repository this package sits in: build/libgemma2.so.1,
     build/libgemma2.so (relative to the repository root).
"""
from __future__ import annotations

import array
import ctypes
import ctypes.util
import os
import sys
from ctypes import (POINTER, Structure, c_char, c_char_p, c_float, c_int, c_int32, c_size_t, c_uint8,
                    c_uint32, c_uint64, c_void_p)
from typing import Dict, Iterable, List, Optional, Tuple, Type

__all__ = [
    'ABI_VERSION', 'DIGEST_BYTES', 'lib', 'library_path', 'check_struct_sizes', 'STRUCTS',
    'gemma2_model_options', 'gemma2_logit_bias', 'gemma2_sampler_options', 'gemma2_session_options',
    'gemma2_model_info', 'gemma2_tensor_info', 'gemma2_feed_outputs', 'gemma2_step_result',
    'gemma2_generate_options', 'gemma2_generate_result', 'gemma2_text_callback',
]

# ---- constants of include/gemma2.h ---------------------------------------------------
ABI_VERSION = 1
DIGEST_BYTES = 32

OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_UNSUPPORTED = 2
ERR_OUT_OF_MEMORY = 3
ERR_IO = 4
ERR_FORMAT = 5
ERR_VERSION = 6
ERR_CHECKSUM = 7
ERR_TOKEN_OUT_OF_RANGE = 8
ERR_CONTEXT_FULL = 9
ERR_BUFFER_TOO_SMALL = 10
ERR_STATE = 11
ERR_CANCELLED = 12
ERR_SYSTEM = 13
ERR_INTERNAL = 14

TYPE_F32 = 0
TYPE_BF16 = 1
TYPE_Q8 = 2
TYPE_Q4 = 3
TYPE_GGUF_BASE = 1000

SOURCE_GEMMA2 = 0
SOURCE_GGUF = 1

QPAS_CONFIG = 0
QPAS_HEAD_DIM = 1
QPAS_HIDDEN_PER_HEAD = 2

SAVE_COMPRESS = 0x1

LAYER_GLOBAL = 0
LAYER_LOCAL = 1

STRUCT_MODEL_OPTIONS = 1
STRUCT_SAMPLER_OPTIONS = 2
STRUCT_SESSION_OPTIONS = 3
STRUCT_MODEL_INFO = 4
STRUCT_TENSOR_INFO = 5
STRUCT_FEED_OUTPUTS = 6
STRUCT_STEP_RESULT = 7
STRUCT_GENERATE_OPTIONS = 8
STRUCT_GENERATE_RESULT = 9
STRUCT_LOGIT_BIAS = 10

MODEL_SKIP_VERIFY = 0x1
MODEL_NO_MMAP = 0x2

STEP_END_OF_TURN = 0x1

STOP_END_OF_TURN = 1
STOP_MAX_TOKENS = 2
STOP_STRING = 3
STOP_CALLBACK = 4
STOP_CONTEXT_FULL = 5
STOP_ERROR = 6

TOKENIZE_SPECIAL = 0x1
DETOKENIZE_SKIP_SPECIAL = 0x1

TOKEN_BOS = 0
TOKEN_EOS = 1
TOKEN_PAD = 2
TOKEN_UNK = 3
TOKEN_START_OF_TURN = 4
TOKEN_END_OF_TURN = 5

CHAT_ADD_GENERATION_PROMPT = 0x1
CHAT_NO_BOS = 0x2


# ---- structs: field for field as in include/gemma2.h --------------------------------------
class gemma2_model_options(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('n_threads', c_int32),
        ('flags', c_uint32),
        ('reserved', c_uint32),
        ('expected_digest', POINTER(c_uint8)),
    ]


class gemma2_logit_bias(Structure):
    _fields_ = [
        ('token', c_int32),
        ('bias', c_float),
    ]


class gemma2_sampler_options(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('temperature', c_float),
        ('top_k', c_int32),
        ('top_p', c_float),
        ('min_p', c_float),
        ('repeat_penalty', c_float),
        ('presence_penalty', c_float),
        ('frequency_penalty', c_float),
        ('penalty_last_n', c_uint32),
        ('n_logit_bias', c_uint32),
        ('seed', c_uint64),
        ('logit_bias', POINTER(gemma2_logit_bias)),
    ]


class gemma2_session_options(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('n_threads', c_int32),
        ('n_ctx', c_uint32),
        ('reserved', c_uint32),
        ('sampler', POINTER(gemma2_sampler_options)),
    ]


class gemma2_model_info(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('format_version', c_uint32),
        ('vocab_size', c_uint32),
        ('hidden_size', c_uint32),
        ('n_layers', c_uint32),
        ('n_heads', c_uint32),
        ('n_kv_heads', c_uint32),
        ('head_dim', c_uint32),
        ('ffn_size', c_uint32),
        ('context_length', c_uint32),
        ('sliding_window', c_uint32),
        ('weight_type', c_int32),
        ('rms_norm_eps', c_float),
        ('rope_theta', c_float),
        ('query_pre_attn_scalar', c_float),
        ('attn_softcap', c_float),
        ('final_softcap', c_float),
        ('bos_id', c_int32),
        ('eos_id', c_int32),
        ('pad_id', c_int32),
        ('n_tensors', c_uint32),
        ('compressed', c_uint32),
        ('file_size', c_uint64),
        ('weight_bytes', c_uint64),
        ('source', c_uint32),
        ('has_checksums', c_uint32),
        ('qpas_source', c_uint32),
        ('reserved', c_uint32),
    ]


class gemma2_tensor_info(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('type', c_int32),
        ('n_dims', c_uint32),
        ('compressed', c_uint32),
        ('dims', c_uint64 * 4),
        ('n_bytes', c_uint64),
        ('stored_bytes', c_uint64),
        ('name', c_char_p),
        ('digest', c_uint8 * DIGEST_BYTES),
        ('file_type', c_int32),
        ('reserved', c_uint32),
    ]


class gemma2_feed_outputs(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('reserved', c_uint32),
        ('logits', POINTER(c_float)),
        ('logits_cap', c_uint64),
        ('hidden', POINTER(c_float)),
        ('hidden_cap', c_uint64),
    ]


class gemma2_step_result(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('token', c_int32),
        ('flags', c_uint32),
        ('reserved', c_uint32),
        ('text', c_void_p),  # const char *, text_len bytes (read with ctypes.string_at)
        ('text_len', c_uint64),
    ]


class gemma2_generate_options(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('max_tokens', c_uint32),
        ('stop', POINTER(c_char_p)),
        ('n_stop', c_uint32),
        ('reserved', c_uint32),
    ]


class gemma2_generate_result(Structure):
    _fields_ = [
        ('struct_size', c_uint32),
        ('stop_reason', c_uint32),
        ('n_tokens', c_uint64),
    ]


# int (*gemma2_text_callback)(void *user, int32_t token, const char *text, size_t len)
gemma2_text_callback = ctypes.CFUNCTYPE(c_int, c_void_p, c_int32, c_void_p, c_size_t)

# GEMMA2_STRUCT_* value -> the declaration it must match in size.
STRUCTS: Dict[int, Type[Structure]] = {
    STRUCT_MODEL_OPTIONS: gemma2_model_options,
    STRUCT_SAMPLER_OPTIONS: gemma2_sampler_options,
    STRUCT_SESSION_OPTIONS: gemma2_session_options,
    STRUCT_MODEL_INFO: gemma2_model_info,
    STRUCT_TENSOR_INFO: gemma2_tensor_info,
    STRUCT_FEED_OUTPUTS: gemma2_feed_outputs,
    STRUCT_STEP_RESULT: gemma2_step_result,
    STRUCT_GENERATE_OPTIONS: gemma2_generate_options,
    STRUCT_GENERATE_RESULT: gemma2_generate_result,
    STRUCT_LOGIT_BIAS: gemma2_logit_bias,
}

# ---- functions: name -> (restype, argtypes) ---------------------------------------------
_P = c_void_p  # every opaque handle (gemma2_model *, gemma2_session *, ...)
_PROTOTYPES: Dict[str, Tuple[object, List[object]]] = {
    'gemma2_version': (c_uint32, []),
    'gemma2_version_string': (c_char_p, []),
    'gemma2_abi_version': (c_uint32, []),
    'gemma2_status_string': (c_char_p, [c_int32]),
    'gemma2_last_error': (c_char_p, []),
    'gemma2_digest_bytes': (c_uint32, []),
    'gemma2_type_name': (c_char_p, [c_int32]),
    'gemma2_struct_size': (c_size_t, [c_int32]),
    # options
    'gemma2_model_options_init': (c_int32, [POINTER(gemma2_model_options), c_size_t]),
    'gemma2_sampler_options_init': (c_int32, [POINTER(gemma2_sampler_options), c_size_t]),
    'gemma2_session_options_init': (c_int32, [POINTER(gemma2_session_options), c_size_t]),
    # model
    'gemma2_model_open': (c_int32, [c_char_p, POINTER(gemma2_model_options), POINTER(_P)]),
    'gemma2_model_close': (None, [_P]),
    'gemma2_model_info_init': (c_int32, [POINTER(gemma2_model_info), c_size_t]),
    'gemma2_model_get_info': (c_int32, [_P, POINTER(gemma2_model_info)]),
    'gemma2_model_vocab_size': (c_uint32, [_P]),
    'gemma2_model_context_length': (c_uint32, [_P]),
    'gemma2_model_layer_kind': (c_int32, [_P, c_uint32, POINTER(c_int32)]),
    'gemma2_model_digest': (c_int32, [_P, POINTER(c_uint8), c_size_t]),
    'gemma2_tensor_info_init': (c_int32, [POINTER(gemma2_tensor_info), c_size_t]),
    'gemma2_model_tensor_info': (c_int32, [_P, c_uint32, POINTER(gemma2_tensor_info)]),
    'gemma2_model_verify_tensor': (c_int32, [_P, c_uint32]),
    'gemma2_model_verify': (c_int32, [_P, c_int32]),
    'gemma2_model_save': (c_int32, [_P, c_char_p, c_uint32]),
    # session
    'gemma2_session_new': (c_int32, [_P, POINTER(gemma2_session_options), POINTER(_P)]),
    'gemma2_session_free': (None, [_P]),
    'gemma2_session_reset': (c_int32, [_P]),
    'gemma2_session_position': (c_int32, [_P, POINTER(c_uint32)]),
    'gemma2_session_feed': (c_int32, [_P, POINTER(c_int32), c_size_t]),
    'gemma2_session_memory_bytes': (c_uint64, [_P]),
    'gemma2_session_tokens': (c_int32, [_P, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    'gemma2_session_rewind': (c_int32, [_P, c_uint32]),
    'gemma2_session_feed_prompt': (c_int32, [_P, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    'gemma2_feed_outputs_init': (c_int32, [POINTER(gemma2_feed_outputs), c_size_t]),
    'gemma2_session_feed_outputs': (c_int32, [_P, POINTER(c_int32), c_size_t, POINTER(gemma2_feed_outputs)]),
    'gemma2_step_result_init': (c_int32, [POINTER(gemma2_step_result), c_size_t]),
    'gemma2_session_step': (c_int32, [_P, POINTER(gemma2_step_result)]),
    'gemma2_generate_options_init': (c_int32, [POINTER(gemma2_generate_options), c_size_t]),
    'gemma2_generate_result_init': (c_int32, [POINTER(gemma2_generate_result), c_size_t]),
    'gemma2_session_generate': (c_int32, [_P, POINTER(gemma2_generate_options), gemma2_text_callback, c_void_p,
                                          POINTER(gemma2_generate_result)]),
    'gemma2_session_cancel': (None, [_P]),
    'gemma2_session_top_logprobs': (c_int32, [_P, c_size_t, POINTER(c_int32), POINTER(c_float),
                                              POINTER(c_size_t)]),
    'gemma2_session_set_sampler': (c_int32, [_P, POINTER(gemma2_sampler_options)]),
    'gemma2_session_save': (c_int32, [_P, POINTER(c_void_p), POINTER(c_size_t)]),
    'gemma2_session_load': (c_int32, [_P, c_void_p, c_size_t]),
    'gemma2_state_free': (None, [c_void_p]),
    'gemma2_session_save_file': (c_int32, [_P, c_char_p]),
    'gemma2_session_load_file': (c_int32, [_P, c_char_p]),
    'gemma2_session_logits': (c_int32, [_P, POINTER(POINTER(c_float)), POINTER(c_size_t)]),
    # tokenizer
    'gemma2_model_tokenizer': (c_int32, [_P, POINTER(_P)]),
    'gemma2_tokenizer_load': (c_int32, [c_void_p, c_size_t, POINTER(_P)]),
    'gemma2_tokenizer_free': (None, [_P]),
    'gemma2_tokenizer_vocab_size': (c_uint32, [_P]),
    'gemma2_tokenize': (c_int32, [_P, c_char_p, c_size_t, c_uint32, POINTER(c_int32), c_size_t,
                                  POINTER(c_size_t)]),
    'gemma2_detokenize': (c_int32, [_P, POINTER(c_int32), c_size_t, c_uint32, POINTER(c_char), c_size_t,
                                    POINTER(c_size_t)]),
    'gemma2_token_piece': (c_int32, [_P, c_int32, POINTER(c_void_p), POINTER(c_size_t)]),
    'gemma2_token_find': (c_int32, [_P, c_char_p, c_size_t, POINTER(c_int32)]),
    'gemma2_token_special': (c_int32, [_P, c_int32]),
    'gemma2_token_is_end_of_turn': (c_int32, [_P, c_int32]),
    # streaming text
    'gemma2_text_stream_new': (c_int32, [_P, c_uint32, POINTER(_P)]),
    'gemma2_text_stream_push': (c_int32, [_P, c_int32, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    'gemma2_text_stream_flush': (c_int32, [_P, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    'gemma2_text_stream_max_bytes': (c_size_t, [_P]),
    'gemma2_text_stream_free': (None, [_P]),
    # chat template
    'gemma2_chat_tokenize': (c_int32, [_P, POINTER(c_char_p), POINTER(c_char_p), POINTER(c_size_t), c_size_t,
                                       c_uint32, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    # CPU
    'gemma2_cpu_kernels': (c_char_p, []),
    'gemma2_cpu_describe': (c_int32, [POINTER(c_char), c_size_t, POINTER(c_size_t)]),
}


# ---- loading -------------------------------------------------------------------------------
def _repo_root() -> str:
    """The repository root if this package is bindings/python/gemma2 of a checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, os.pardir, os.pardir, os.pardir))


def _candidates() -> List[Tuple[str, str]]:
    """(what, name for ctypes.CDLL) in the order they are tried, after GEMMA2_LIBRARY."""
    out: List[Tuple[str, str]] = []
    found = ctypes.util.find_library('gemma2')
    if found:
        out.append(('ctypes.util.find_library(%r)' % 'gemma2', found))
    if sys.platform == 'darwin':
        out.append(('installed library', 'libgemma2.1.dylib'))
    else:
        out.append(('installed library', 'libgemma2.so.1'))
    build = os.path.join(_repo_root(), 'build')
    for name in ('libgemma2.so.1', 'libgemma2.so', 'libgemma2.1.dylib', 'libgemma2.dylib'):
        path = os.path.join(build, name)
        if os.path.exists(path):
            out.append(('build tree', path))
    if not any(what == 'build tree' for what, _ in out):
        out.append(('build tree', os.path.join(build, 'libgemma2.so')))
    return out


def _load() -> Tuple[ctypes.CDLL, str]:
    env = os.environ.get('GEMMA2_LIBRARY')
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise ImportError('gemma2: cannot load the library named by GEMMA2_LIBRARY=%s: %s' % (env, e)) from None
    tried = ['GEMMA2_LIBRARY: not set']
    for what, name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append('%s: %s (%s)' % (what, name, e))
    if not ctypes.util.find_library('gemma2'):
        tried.insert(1, "ctypes.util.find_library('gemma2'): not found")
    raise ImportError('gemma2: cannot find libgemma2. Tried:\n  ' + '\n  '.join(tried) +
                      '\nSet GEMMA2_LIBRARY to the path of libgemma2.so, or install the library.')


def _declare(cdll: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise ImportError('gemma2: the library has no function %s (older than this binding?)' % name) from None
        fn.restype = restype
        fn.argtypes = argtypes


def check_struct_sizes(cdll: ctypes.CDLL, structs: Optional[Dict[int, Type[Structure]]] = None) -> None:
    """Raises ImportError naming the first declaration whose ctypes.sizeof differs from the
    library's gemma2_struct_size (or that the library does not know)."""
    for which, cls in sorted((structs if structs is not None else STRUCTS).items()):
        theirs = cdll.gemma2_struct_size(which)
        ours = ctypes.sizeof(cls)
        if theirs != ours:
            raise ImportError('gemma2: struct %s is %d bytes in this binding but %d bytes in the library '
                              '(gemma2_struct_size(%d)): the declaration does not match include/gemma2.h'
                              % (cls.__name__, ours, theirs, which))


def check_abi(cdll: ctypes.CDLL) -> None:
    abi = cdll.gemma2_abi_version()
    if abi != ABI_VERSION:
        raise ImportError('gemma2: the library has ABI version %d; this binding needs %d' % (abi, ABI_VERSION))


def _open() -> Tuple[ctypes.CDLL, str]:
    cdll, path = _load()
    if not hasattr(cdll, 'gemma2_abi_version'):
        raise ImportError('gemma2: %s is not libgemma2 (no gemma2_abi_version)' % path)
    cdll.gemma2_abi_version.restype = c_uint32
    cdll.gemma2_abi_version.argtypes = []
    check_abi(cdll)
    _declare(cdll)
    check_struct_sizes(cdll)
    return cdll, path


lib, library_path = _open()


def int32_array(values: Iterable[int]) -> 'ctypes.Array[c_int32]':
    """A C int32_t array holding values (any iterable of ints); OverflowError for a value
    outside int32_t, TypeError for a non-integer."""
    arr = array.array('i', values) if not isinstance(values, array.array) else values
    if arr.typecode != 'i' or arr.itemsize != 4:
        arr = array.array('i', [int(v) for v in arr])
    return (c_int32 * len(arr)).from_buffer(arr)
