"""The one place training hyperparameters live; validated so a bad value fails early."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

MONITORS = ("loss", "accuracy")


@dataclass(frozen=True)
class TrainConfig:
    """LoRA and optimisation settings for one adapter.

    ``max_steps`` caps the steps (None: ``epochs`` full passes); 0 builds the adapter
    without training it. ``eval_every`` counts steps between validation passes
    (0: once per epoch); ``patience`` counts validation passes without improvement of
    ``monitor`` before stopping (0: never stop early). The best validation checkpoint
    is always restored at the end. ``cache_frozen_layers`` runs the frozen layers below
    the lowest adapted one once per example (in eval mode, so without dropout there) and
    trains on their cached output, instead of running them again on every step.
    """

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    lr: float = 1e-3
    head_lr: float | None = None
    weight_decay: float = 0.0
    batch_size: int = 16
    epochs: int = 3
    max_steps: int | None = None
    patience: int = 3
    eval_every: int = 0
    monitor: str = "loss"
    seed: int = 0
    max_length: int = 64
    head_scale: float = 20.0
    progress: bool = True
    cache_frozen_layers: bool = True
    # A warm-started head's rows for labels its parent lacks start from the child's
    # training examples (imprinting, ``tuner.inheritance``), not from the label names.
    imprint_new_labels: bool = True
    # A child warm-started from its parent trains its LoRA at ``lr`` x this (its head at the
    # full rate): the parent's encoder is already tuned, and a handful of examples at the
    # from-scratch rate can overwrite what it knew (``tuner.chains.child_config``).
    child_lr_scale: float = 0.1

    def __post_init__(self) -> None:
        _positive_int(self, "rank", "batch_size", "epochs", "max_length")
        _non_negative_int(self, "patience", "eval_every", "seed")
        if self.max_steps is not None:
            _non_negative_int(self, "max_steps")
        _positive_float(self, "alpha", "lr", "head_scale", "child_lr_scale")
        if self.child_lr_scale > 1:
            raise ValueError(f"child_lr_scale must be in (0, 1], got {self.child_lr_scale!r}")
        if self.head_lr is not None:
            _positive_float(self, "head_lr")
        _finite(self, "weight_decay")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {list(MONITORS)}, got {self.monitor!r}")
        for name in ("progress", "cache_frozen_layers", "imprint_new_labels"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a saved dict, refusing keys this version does not know."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**data)


def _positive_int(config: TrainConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _non_negative_int(config: TrainConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def _finite(config: TrainConfig, name: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _positive_float(config: TrainConfig, *names: str) -> None:
    for name in names:
        _finite(config, name)
        value = getattr(config, name)
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
