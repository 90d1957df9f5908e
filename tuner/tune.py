"""Tune one domain end to end: check inputs, warm-start, train, evaluate, register.

Every input is checked before training starts, so a bad request writes nothing.
The cycle (gating, promotion) and the CLI both call ``tune_domain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from recsys.domains import check_domain_name, described, domain_labels
from tuner.architectures import MODULE_GROUPS, validate_targets
from tuner.config import TrainConfig
from tuner.data import DataSplit, check_labels, require_training_examples
from tuner.errors import TuningError
from tuner.evaluation import Metrics, evaluate
from tuner.chains import child_config, parent_champion
from tuner.loading import BaseModel
from tuner.registry import AdapterRecord, AdapterRegistry
from tuner.reports.learning_curve import plot_learning_curve
from tuner.training import StepCallback, TrainResult, train_adapter

CURVE_FILE = "learning_curve.png"


@dataclass
class TuneOutcome:
    record: AdapterRecord
    result: TrainResult
    metrics: Metrics
    baseline: Metrics
    curve: Path


def summary_metrics(metrics: Metrics, baseline: Metrics, result: TrainResult) -> dict:
    """What the registry stores: test metrics at the top level, details nested."""
    return {
        **{k: v for k, v in metrics.overall.items() if k != "n"},
        "n_test": metrics.n,
        "baseline": baseline.overall,
        "groups": metrics.groups,
        "train": {
            "steps": result.steps,
            "best_step": result.best_step,
            "stopped_early": result.stopped_early,
            "train_seconds": result.train_seconds,
            "trainable_params": result.trainable_params,
            "warm_started_modules": result.warm_started_modules,
        },
    }


def tune_domain(
    base: BaseModel,
    registry: AdapterRegistry,
    split: DataSplit,
    *,
    domain: str,
    layers: Sequence[int],
    groups: Sequence[str] = MODULE_GROUPS,
    config: TrainConfig = TrainConfig(),
    warm_start: bool = True,
    group_by: Sequence[str] = ("domain",),
    on_step: StepCallback | None = None,
) -> TuneOutcome:
    """Train an adapter for ``domain`` on ``split`` and register it as a candidate.

    With ``warm_start`` a child domain starts from its parent's champion (an error when
    the parent has none); a root domain starts fresh. Metrics are on ``split.test``,
    against the base model (zero-shot for classification) on the same examples.
    """
    check_domain_name(domain)
    require_training_examples(split.train)
    if not split.test:
        raise TuningError(f"the test split of domain {domain!r} is empty; more labelled examples are needed")
    validate_targets(base.model, list(layers), list(groups))
    labels = None
    declared = domain_labels(registry.db, domain)  # read once: the head's labels and their descriptions
    descriptions = described(declared)
    if base.task == "classification":  # what training shows plus the domain's declared labels
        labels = sorted({e.target for e in split.train} | {label.name for label in declared})
    if labels is not None:
        check_labels(labels, split.validation, "validation set")
        check_labels(labels, split.test, "test set")
    parent = parent_champion(registry, domain) if warm_start else None
    result = train_adapter(
        base,
        split.train,
        split.validation,
        layers=layers,
        groups=groups,
        config=child_config(config) if parent else config,
        labels=labels,
        init_from=parent.path if parent else None,
        on_step=on_step,
        label_descriptions=descriptions,
    )
    max_length = config.max_length
    metrics = evaluate(base, split.test, result.adapter, group_by=group_by, batch_size=config.batch_size, max_length=max_length)
    baseline = evaluate(base, split.test, None, labels=labels, group_by=group_by, batch_size=config.batch_size,
                        max_length=max_length, descriptions=descriptions)
    record = registry.register(
        result.adapter,
        domain=domain,
        metrics=summary_metrics(metrics, baseline, result),
        parent=parent,
        data_window=split.data_window,
    )
    curve = plot_learning_curve(
        result.step_losses, result.history, record.path / CURVE_FILE, title=f"{domain} {record.version} layers {list(record.layers)}"
    )
    return TuneOutcome(record=record, result=result, metrics=metrics, baseline=baseline, curve=curve)
