"""Bias audit: the largest gap of a metric between the groups of one attribute."""

from __future__ import annotations

from dataclasses import dataclass

from tuner.evaluation import Metrics


@dataclass(frozen=True)
class AuditResult:
    metric: str
    attribute: str
    gap: float
    bound: float
    passed: bool
    per_group: dict[str, float]
    # Groups left out for having fewer than min_group_size examples.
    skipped: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {**self.__dict__, "skipped": list(self.skipped)}


def bias_audit(
    metrics: Metrics, attribute: str, *, metric: str = "accuracy", bound: float = 0.1, min_group_size: int = 1
) -> AuditResult:
    """Pass when max - min of ``metric`` over the attribute's groups is at most ``bound``.

    Groups smaller than ``min_group_size`` are skipped (their metric is noise); with
    fewer than two groups left the gap is 0 and the audit passes.
    """
    if not bound >= 0:
        raise ValueError(f"bound must be >= 0, got {bound!r}")
    if min_group_size < 1:
        raise ValueError(f"min_group_size must be >= 1, got {min_group_size!r}")
    if attribute not in metrics.groups:
        raise ValueError(f"attribute {attribute!r} was not evaluated; evaluated: {sorted(metrics.groups)}")
    groups = metrics.groups[attribute]
    per_group: dict[str, float] = {}
    skipped = []
    for value, scores in groups.items():
        if scores.get("n", 0) < min_group_size:
            skipped.append(value)
            continue
        if metric not in scores:
            raise ValueError(f"metric {metric!r} is not among {sorted(k for k in scores if k != 'n')}")
        per_group[value] = float(scores[metric])
    gap = max(per_group.values()) - min(per_group.values()) if len(per_group) >= 2 else 0.0
    return AuditResult(metric, attribute, gap, bound, gap <= bound, per_group, tuple(skipped))
