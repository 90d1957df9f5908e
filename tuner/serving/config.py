"""What a serving process is started with: its base model, adapter cache and request limits.

Kept free of torch so the server's configuration (and ``adaptune serve --help``) can
import it without loading a model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tuner.config import DEFAULT_MAX_LENGTH
from tuner.device_names import check_device_name

TASKS = ("classification", "generation")
_BYTE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_byte_size(text: str, field: str = "adapter_memory") -> int:
    """``"256MB"`` / ``"1.5GiB"`` / ``"4096"`` -> bytes; a ValueError naming ``field`` otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _BYTE_UNITS:
        raise ValueError(f"{field} must be a size like 256MB, 1GiB or 4096 (bytes), got {text!r}")
    value = int(float(match.group(1)) * _BYTE_UNITS[unit])
    if value < 1:
        raise ValueError(f"{field} must be at least 1 byte, got {text!r}")
    return value


@dataclass(frozen=True)
class ServingConfig:
    """One base model per process; at most ``max_adapters`` adapters resident on it.

    ``max_batch_rows`` caps the inputs of concurrent requests that share one forward
    pass. ``lease_timeout_s`` is how long a request waits for an adapter slot when every
    resident adapter is in use by requests in flight. The ranker that routes users
    without a domain is refitted when the log grew by ``refresh_events`` events, or by
    any event once ``refresh_seconds`` passed since the last fit. ``adapter_memory_bytes``
    (None: no limit) bounds the resident adapters' LoRA and head bytes, evicting the
    least recently used; ``device`` is where the base model and adapters run.
    """

    base_model: str = "minilm-l6"
    task: str = "classification"
    max_adapters: int = 8
    max_inputs: int = 64
    max_input_chars: int = 2_000
    max_new_tokens: int = 256
    default_new_tokens: int = 32
    max_length: int = DEFAULT_MAX_LENGTH
    max_batch_rows: int = 64
    lease_timeout_s: float = 30.0
    refresh_events: int = 200
    refresh_seconds: float = 10.0
    adapter_memory_bytes: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.base_model, str) or not self.base_model.strip():
            raise ValueError(f"base_model must be a catalog name or a checkpoint folder, got {self.base_model!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}")
        for name in (
            "max_adapters", "max_inputs", "max_input_chars", "max_new_tokens",
            "default_new_tokens", "max_length", "max_batch_rows", "refresh_events",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.default_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"default_new_tokens ({self.default_new_tokens}) must be <= max_new_tokens ({self.max_new_tokens})"
            )
        for name in ("lease_timeout_s", "refresh_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        memory = self.adapter_memory_bytes
        if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int) or memory < 1):
            raise ValueError(f"adapter_memory_bytes must be a positive integer or None, got {memory!r}")
        check_device_name(self.device, "device")
