"""Checks of what a Predict request carries, before any model work.

Every error names the field (and the index of a bad input) and the limit, so the
gRPC answer is INVALID_ARGUMENT with a message a client can act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from tuner.serving.config import ServingConfig

MAX_USER_ID_CHARS = 128


def check_inputs(inputs: Sequence[str], config: ServingConfig) -> list[str]:
    """The inputs as a list; refuses none, too many, a non-text, an empty or an over-long one."""
    if isinstance(inputs, str):
        raise ValueError("inputs must be a list of texts, got a single string")
    items = list(inputs)
    if not items:
        raise ValueError("inputs is empty: send at least one text")
    if len(items) > config.max_inputs:
        raise ValueError(f"inputs has {len(items)} texts; at most {config.max_inputs} per request")
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise ValueError(f"inputs[{index}] must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"inputs[{index}] is empty")
        if len(text) > config.max_input_chars:
            raise ValueError(f"inputs[{index}] has {len(text)} characters; at most {config.max_input_chars}")
    return items


def check_user_id(user_id: str) -> str:
    """An empty user id is allowed (anonymous: served like an unknown user)."""
    if not isinstance(user_id, str):
        raise ValueError(f"user_id must be a string, got {type(user_id).__name__}")
    if len(user_id) > MAX_USER_ID_CHARS:
        raise ValueError(f"user_id has {len(user_id)} characters; at most {MAX_USER_ID_CHARS}")
    return user_id


@dataclass(frozen=True)
class GenerationOptions:
    """How a generation variant decodes: greedy, or sampling with a seed (reproducible)."""

    max_new_tokens: int = 32
    sample: bool = False
    seed: int = 0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        tokens = self.max_new_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {tokens!r}")
        if not isinstance(self.sample, bool):
            raise ValueError(f"sample must be a bool, got {self.sample!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {t!r}")

    def check(self, config: ServingConfig) -> "GenerationOptions":
        if self.max_new_tokens > config.max_new_tokens:
            raise ValueError(f"max_new_tokens is {self.max_new_tokens}; at most {config.max_new_tokens}")
        return self
