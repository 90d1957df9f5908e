"""Where models run: ``auto`` takes CUDA when present; bf16 autocast on CUDA, float32 elsewhere.

Weights stay float32 everywhere (LoRA, heads, the base): on CUDA the forward runs
under bf16 autocast, so matrix products use bf16 while trainable parameters, their
gradients and saved adapters keep the exact format a CPU run gives.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, TypeVar

import torch
from torch import nn

from tuner.device_names import DEVICES, check_device_name

__all__ = ["DEVICES", "DeviceUnavailableError", "autocast", "device_of", "resolve_device", "to_device"]

T = TypeVar("T")


class DeviceUnavailableError(ValueError):
    """``cuda`` was asked for on a machine without a usable CUDA device."""


def resolve_device(value: str | torch.device = "auto", field: str = "device") -> torch.device:
    """``auto`` -> cuda when available else cpu; ``cuda`` without CUDA raises naming ``field``."""
    if isinstance(value, torch.device):
        value = value.type
    check_device_name(value, field)
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if value == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(f"{field} is 'cuda' but torch sees no CUDA device (use 'cpu' or 'auto')")
    return torch.device(value)


def device_of(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (cpu for a module without any)."""
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def to_device(batch: T, module: nn.Module) -> T:
    """A dataclass batch with every tensor field moved to ``module``'s device (as is when already there)."""
    device = device_of(module)
    moved = {
        f.name: value.to(device)
        for f in dataclasses.fields(batch)  # type: ignore[arg-type]
        if isinstance(value := getattr(batch, f.name), torch.Tensor) and value.device != device
    }
    return dataclasses.replace(batch, **moved) if moved else batch  # type: ignore[type-var]


@contextlib.contextmanager
def autocast(module: nn.Module) -> Iterator[None]:
    """bf16 autocast when ``module`` lives on CUDA; nothing on the CPU (float32 there, as always)."""
    device = device_of(module)
    if device.type != "cuda":
        yield
        return
    with torch.autocast("cuda", dtype=torch.bfloat16):
        yield
