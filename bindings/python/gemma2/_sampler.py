# SPDX-License-Identifier: Apache-2.0
"""Sampler: the sampling settings of a session (gemma2_sampler_options)."""
from __future__ import annotations

import ctypes
from ctypes import byref
from dataclasses import dataclass, field
from typing import Mapping, Tuple

from . import _ffi
from ._common import lib
from ._errors import check, fail

__all__ = ['Sampler']


@dataclass(frozen=True)
class Sampler:
    """gemma2_sampler_options (docs/sampling.md). temperature 0 = greedy (the default).
    logit_bias: {token id: bias added to its logit} (-inf bans a token)."""
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    penalty_last_n: int = 64
    seed: int = 0
    logit_bias: Mapping[int, float] = field(default_factory=dict)

    def _to_c(self) -> Tuple[_ffi.gemma2_sampler_options, object]:
        """The C options and what must stay alive while they are used."""
        o = _ffi.gemma2_sampler_options()
        check(lib.gemma2_sampler_options_init(byref(o), ctypes.sizeof(o)))
        o.temperature = self.temperature
        o.top_k = self._int('top_k', self.top_k, -0x80000000, 0x7FFFFFFF)
        o.top_p = self.top_p
        o.min_p = self.min_p
        o.repeat_penalty = self.repeat_penalty
        o.presence_penalty = self.presence_penalty
        o.frequency_penalty = self.frequency_penalty
        o.penalty_last_n = self._int('penalty_last_n', self.penalty_last_n, 0, 0xFFFFFFFF)
        o.seed = self._int('seed', self.seed, 0, 0xFFFFFFFFFFFFFFFF)
        items = list(self.logit_bias.items())
        bias = (_ffi.gemma2_logit_bias * max(len(items), 1))()
        for i, (token, b) in enumerate(items):
            bias[i].token = self._int('logit_bias token', token, -0x80000000, 0x7FFFFFFF)
            bias[i].bias = float(b)
        o.n_logit_bias = len(items)
        o.logit_bias = ctypes.cast(bias, ctypes.POINTER(_ffi.gemma2_logit_bias)) if items else None
        return o, bias

    @staticmethod
    def _int(name: str, v: int, lo: int, hi: int) -> int:
        v = int(v)
        if not lo <= v <= hi:
            fail(_ffi.ERR_INVALID_ARGUMENT, '%s %d is out of range' % (name, v))
        return v

