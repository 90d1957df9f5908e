"""The ``--device`` values, checked without importing torch (configs and ``--help`` stay light)."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


def check_device_name(value: object, field: str = "device") -> str:
    """``value`` if it is one of DEVICES, else a ValueError naming ``field``."""
    if not isinstance(value, str) or value not in DEVICES:
        raise ValueError(f"{field} must be one of {list(DEVICES)}, got {value!r}")
    return value
