"""The one place training hyperparameters live; validated so a bad value fails early."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

# What checkpoint choice and early stopping watch; "auto" is the gate's own metric
# (accuracy for classification, token F1 for generation). Direction is explicit
# (cf. transformers' metric_for_best_model + greater_is_better).
MONITORS = ("auto", "loss", "accuracy", "token_f1")
GREATER_IS_BETTER = {"loss": False, "accuracy": True, "token_f1": True}
SCHEDULES = ("constant", "linear", "cosine")
# Tokens an input keeps, in training, evaluation and serving alike (batches are padded to
# their longest row, so short queries cost no more). all-MiniLM-L6-v2 was trained on inputs
# of up to 128 tokens; a cut tuned to CLINC150's queries (at most 33 tokens) would drop the
# end of a longer message (a greeting before the question, a ticket) without a word.
DEFAULT_MAX_LENGTH = 128


def resolve_monitor(monitor: str, task: str) -> str:
    """The metric ``monitor`` means for ``task`` ("auto": what the gate compares)."""
    if monitor == "auto":
        return "accuracy" if task == "classification" else "token_f1"
    needs = {"accuracy": "classification", "token_f1": "generation"}.get(monitor)
    if needs is not None and needs != task:
        raise ValueError(f"monitor {monitor!r} needs task {needs}, not {task!r}")
    return monitor


@dataclass(frozen=True)
class TrainConfig:
    """LoRA and optimisation settings for one adapter.

    ``max_steps`` caps the steps (None: ``epochs`` full passes); 0 builds the adapter
    without training it. ``eval_every`` counts steps between validation passes
    (0: scaled to the data, a pass after every ``eval_examples`` training examples and
    at least one per epoch, so a large set is checked several times an epoch and a
    small one once; stretched so the validation rows scored stay at most ``eval_share``
    times the training rows seen, so a validation set grown with the history does not
    cost more than the training it selects from); ``patience`` counts validation passes without
    improvement of ``monitor`` on training's best pass before stopping (0: never stop early;
    the start may be kept but does not run the clock, ``tuner.selection``), and only once
    ``patience_epochs`` passes over the training set have gone by since that pass (a
    large night is checked every few hundred examples, so three passes can span less than an
    epoch: the stop would then rest on a few noisy passes before every example was seen
    again), and never before ``min_epochs`` passes over the training set: a large night
    would otherwise stop before it had seen all its new examples once, while the warmed-up
    rate still has the weights away from the start, and keep step 0. ``monitor``
    "auto" watches the gate's metric (accuracy, or token F1 for generation), with the
    validation loss only breaking ties; the best validation checkpoint is always
    restored at the end. ``schedule`` shapes the learning rate: linear warmup over
    ``warmup`` (a fraction of the steps), then constant, linear or cosine decay to 0;
    ``label_smoothing`` (classification) keeps the head from runaway confidence when
    training continues from an already-trained adapter. ``select_start`` lets the start (step 0,
    scored before any training) be the checkpoint kept; a candidate continuing an adapter that
    was itself selected on the same validation rows turns it off: that start's score is the
    best of its own run's passes on those rows, so it is biased upward and beats every honest
    pass (150 intents: two nights in a row kept step 0, the champion itself), and the gate's
    held-out rows, not validation, decide between the start and what training made of it.
    ``cache_frozen_layers`` runs the frozen layers below
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
    patience_epochs: float = 1.0
    min_epochs: float = 1.0
    eval_every: int = 0
    eval_examples: int = 512
    eval_share: float = 0.5
    monitor: str = "auto"
    schedule: str = "constant"
    warmup: float = 0.0
    label_smoothing: float = 0.0
    seed: int = 0
    max_length: int = DEFAULT_MAX_LENGTH
    head_scale: float = 20.0
    progress: bool = True
    select_start: bool = True
    cache_frozen_layers: bool = True
    # A new head row starts from its label's training examples (imprinting,
    # ``tuner.inheritance``), the name one more member, not from the name alone: every row
    # of a cold start, and a warm-started head's rows for labels its parent lacks.
    imprint_new_labels: bool = True
    # A child warm-started from its parent trains its LoRA and its head at their rates x this:
    # the parent's encoder and rows are already tuned, and a handful of examples at the
    # from-scratch rate can overwrite what it knew (``tuner.chains.child_config``).
    child_lr_scale: float = 0.1

    def __post_init__(self) -> None:
        _positive_int(self, "rank", "batch_size", "epochs", "max_length", "eval_examples")
        _non_negative_int(self, "patience", "eval_every", "seed")
        if self.max_steps is not None:
            _non_negative_int(self, "max_steps")
        _positive_float(self, "alpha", "lr", "head_scale", "child_lr_scale", "eval_share")
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
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        for name in ("min_epochs", "patience_epochs"):
            _finite(self, name)
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("warmup", "label_smoothing"):
            _finite(self, name)
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        for name in ("progress", "select_start", "cache_frozen_layers", "imprint_new_labels"):
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
