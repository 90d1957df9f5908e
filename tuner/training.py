"""Train one targeted LoRA adapter: a flat loop with validation, early stopping, progress.

Only the LoRA weights on the chosen (layer, module group) pairs and the classification
head require gradients; nothing below the lowest adapted layer does, so autograd's
backward pass stops there (no gradient checkpointing, no input-embedding grads) and
adapting only top layers is cheaper. The best validation checkpoint is restored.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from tuner.adapters import Adapter
from tuner.architectures import MODULE_GROUPS
from tuner.config import TrainConfig
from tuner.data import Example, check_labels, require_training_examples
from tuner.encoding import batched
from tuner.loading import BaseModel
from tuner.objectives import objective_for
from tuner.targeting import prepare_adapter

StepCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class EvalPoint:
    """One validation pass; ``train_loss`` is the mean step loss since the previous one."""

    step: int
    train_loss: float | None
    val_loss: float | None
    val_accuracy: float | None = None


@dataclass
class TrainResult:
    adapter: Adapter
    history: list[EvalPoint]
    step_losses: list[float]
    steps: int
    total_steps: int
    best_step: int
    stopped_early: bool
    # Seconds inside optimisation steps (forward, backward, update): what the targets change.
    train_seconds: float
    # Seconds in validation passes.
    eval_seconds: float
    # Seconds of each optimisation step (their median resists a busy machine's spikes).
    step_seconds: list[float]
    trainable_params: int
    lora_params: int
    warm_started_modules: int = 0
    best_metric: float | None = None


def _resolve_labels(base: BaseModel, train: Sequence[Example], validation: Sequence[Example], labels) -> list[str]:
    if base.task != "classification":
        return []
    chosen = list(dict.fromkeys(labels)) if labels else sorted({e.target for e in train})
    check_labels(chosen, train, "training set")
    check_labels({e.target for e in train}, validation, "validation set")
    return chosen


def _trainable(adapter: Adapter) -> list[tuple[str, torch.nn.Parameter]]:
    params = [(f"model.{n}", p) for n, p in adapter.model.named_parameters() if p.requires_grad]
    if adapter.head is not None:
        params += [(f"head.{n}", p) for n, p in adapter.head.named_parameters()]
    return params


def _optimizer(adapter: Adapter, config: TrainConfig) -> torch.optim.Optimizer:
    groups = [{"params": [p for p in adapter.model.parameters() if p.requires_grad], "lr": config.lr}]
    if adapter.head is not None:
        groups.append({"params": list(adapter.head.parameters()), "lr": config.head_lr or config.lr})
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def _set_mode(adapter: Adapter, training: bool) -> None:
    adapter.model.train(training)
    if adapter.head is not None:
        adapter.head.train(training)


def _validate(objective, adapter: Adapter, items: list, batch_size: int) -> tuple[float, float | None]:
    _set_mode(adapter, False)
    loss_sum, count, correct = 0.0, 0, 0
    for chunk in batched(range(len(items)), batch_size):
        score = objective.score(adapter, objective.batch([items[i] for i in chunk]))
        loss_sum, count, correct = loss_sum + score.loss_sum, count + score.count, correct + score.correct
    _set_mode(adapter, True)
    accuracy = correct / len(items) if adapter.head is not None else None
    return loss_sum / max(count, 1), accuracy


def train_adapter(
    base: BaseModel,
    train: Sequence[Example],
    validation: Sequence[Example],
    *,
    layers: Sequence[int],
    groups: Sequence[str] = MODULE_GROUPS,
    config: TrainConfig = TrainConfig(),
    labels: Sequence[str] | None = None,
    init_from: Path | None = None,
    on_step: StepCallback | None = None,
) -> TrainResult:
    """Train LoRA on ``layers`` x ``groups`` of ``base`` and return it with the best weights.

    ``labels`` fixes the head's label set (default: the training labels, sorted);
    ``init_from`` is a parent adapter folder to warm-start from; ``on_step(step, total,
    loss)`` is called after every step. With an empty validation set there is no early
    stopping and the last step's weights are kept. Raises EmptyTrainingSetError,
    UnseenLabelError, ValueError (layers/groups out of range) before any work.
    """
    require_training_examples(train)
    if config.monitor == "accuracy" and base.task != "classification":
        raise ValueError(f"monitor 'accuracy' needs task classification, not {base.task!r}")
    label_list = _resolve_labels(base, train, validation, labels)
    adapter, copied = prepare_adapter(
        base, layers=layers, groups=groups, config=config, labels=label_list, init_from=init_from
    )
    objective = objective_for(base, label_list, config.max_length)
    train_items, val_items = objective.encode(train), objective.encode(validation)
    trainable = _trainable(adapter)
    lora_params = sum(p.numel() for n, p in trainable if n.startswith("model."))
    optimizer = _optimizer(adapter, config)

    steps_per_epoch = math.ceil(len(train_items) / config.batch_size)
    total = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    eval_every = config.eval_every or steps_per_epoch
    sign = 1.0 if config.monitor == "loss" else -1.0  # lower is better after the sign

    def snapshot() -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in trainable}

    history: list[EvalPoint] = []
    step_losses: list[float] = []
    step_seconds: list[float] = []
    eval_seconds = 0.0
    best_step, best_value, best_state, bad_evals, stopped_early = 0, math.inf, snapshot(), 0, False

    def run_eval(step: int) -> None:
        nonlocal eval_seconds, best_step, best_value, best_state, bad_evals
        started = time.perf_counter()
        val_loss, val_acc = _validate(objective, adapter, val_items, config.batch_size)
        eval_seconds += time.perf_counter() - started
        recent = step_losses[history[-1].step if history else 0 :]
        history.append(EvalPoint(step, sum(recent) / len(recent) if recent else None, val_loss, val_acc))
        value = sign * (val_loss if config.monitor == "loss" else val_acc)
        if value < best_value:
            best_step, best_value, best_state, bad_evals = step, value, snapshot(), 0
        else:
            bad_evals += 1

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        shuffle = torch.Generator().manual_seed(config.seed)
        _set_mode(adapter, True)
        if val_items:
            run_eval(0)
        order: list[int] = []
        bar = tqdm(total=total, desc=f"tune {base.name} layers {list(adapter.info.layers)}", disable=not config.progress, leave=False)
        step = 0
        while step < total:
            if not order:
                order = torch.randperm(len(train_items), generator=shuffle).tolist()
            chunk, order = order[: config.batch_size], order[config.batch_size :]
            batch = objective.batch([train_items[i] for i in chunk])
            started = time.perf_counter()
            loss = objective.loss(adapter, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step_seconds.append(time.perf_counter() - started)
            step += 1
            step_losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{step_losses[-1]:.4f}")
            if on_step is not None:
                on_step(step, total, step_losses[-1])
            if val_items and (step % eval_every == 0 or step == total):
                run_eval(step)
                if config.patience and bad_evals >= config.patience:
                    stopped_early = step < total
                    break
        bar.close()
    if val_items:
        with torch.no_grad():
            for name, param in trainable:
                param.copy_(best_state[name])
    else:
        best_step = step
    adapter.eval()
    return TrainResult(
        adapter=adapter,
        history=history,
        step_losses=step_losses,
        steps=step,
        total_steps=total,
        best_step=best_step,
        stopped_early=stopped_early,
        train_seconds=sum(step_seconds),
        eval_seconds=eval_seconds,
        step_seconds=step_seconds,
        trainable_params=sum(p.numel() for _, p in trainable),
        lora_params=lora_params,
        warm_started_modules=copied,
        best_metric=None if not val_items else sign * best_value,
    )
