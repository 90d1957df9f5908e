"""Learning-rate schedules: linear warmup, then constant, linear or cosine decay to zero.

Continuing from a trained adapter with the full rate at once throws it out of its
optimum before Adam's moment estimates settle (the first evaluation after step 0 is
worse, so step 0 stays best); a warmup lets it start gently and the decay lets late
steps refine instead of jumping around (cf. transformers' ``get_cosine_schedule_with_warmup``).
"""

from __future__ import annotations

import math

import torch

from tuner.config import SCHEDULES


def lr_factor(step: int, total_steps: int, schedule: str, warmup: float) -> float:
    """The multiplier of the base rate for optimisation step ``step`` (0-based) of ``total_steps``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup must be in [0, 1), got {warmup!r}")
    if total_steps < 1 or not 0 <= step < total_steps:
        raise ValueError(f"step must be in 0..{total_steps - 1}, got {step!r}")
    warmup_steps = math.ceil(warmup * total_steps)
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def scheduler(optimizer: torch.optim.Optimizer, total_steps: int, schedule: str, warmup: float):
    """A LambdaLR applying ``lr_factor`` to every parameter group (step it after each update)."""
    lr_factor(0, max(total_steps, 1), schedule, warmup)  # validates the arguments up front
    total = max(total_steps, 1)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(min(step, total - 1), total, schedule, warmup)
    )
