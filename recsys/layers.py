"""Which layers to adapt per domain: probe measurements completed by CF, then a budgeted pick.

Rows are domains, columns (layer, module group) targets, values the share of
gradient norm each target drew in the domain's probes (scaled so the most
sensitive target of a domain is 1). A domain with few or no probes borrows
from domains that the same users use (cosine similarity of ALS domain
factors): a similarity-weighted average of the probed rows. Every cell says
whether it was measured or completed.

Cost model of a LoRA target set S on a model with L layers (``LayerCostModel``):

    cost(S) = fixed + (L - min_layer(S)) / L + per_target * |S|

The backward pass runs from the output down to the lowest adapted layer and
stops there, and training runs the frozen layers below it once per example
rather than every step (``tuner.frozen_prefix``), so the forward pass scales with
depth too: depth is what costs; each adapted module adds a little (its LoRA
matmuls and optimizer state). Budgets are fractions of cost(all targets).
With the defaults (fixed 0) a budget of 0.5 buys roughly the top half of the
model; the default ``DEFAULT_LAYER_BUDGET`` (0.35) about the top third, which
leaves room for what every cycle pays whatever it adapts (probing, caching the
frozen layers' output, validation, the gate's evaluation). Measured on MiniLM-L6
(table 3 of bench/targeted_tuning.py, 2 threads, median step): layers 3-5 take 0.50x
the step time of all six, layers 4-5 0.33x, layer 5 0.17x. Without that cache, DESIGN.md's
measurement on SmolLM2-135M (top 8 of 30 layers, both groups: 0.6x the step time
of all 30; bottom 8: 0.95x) is matched by fixed=0.95, per_target=0.0024.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recsys.domains import UnknownDomainError
from recsys.probes import summarize_probes
from recsys.store import Database

Target = tuple[int, str]


class NoProbesError(LookupError):
    """No probe observations exist for this base model: layers cannot be ranked yet."""


@dataclass(frozen=True)
class LayerScore:
    layer: int
    module_group: str
    score: float
    # "probe" when the domain's own probes measured it, "cf" when completed.
    source: str


@dataclass(frozen=True)
class LayerImportance:
    """Domains x targets importance; ``probed[i, j]`` is True where domain i measured target j."""

    base_model: str
    domains: tuple[str, ...]
    targets: tuple[Target, ...]
    values: np.ndarray
    probed: np.ndarray
    probe_counts: tuple[int, ...]
    num_layers: int

    def index(self, domain: str) -> int:
        try:
            return self.domains.index(domain)
        except ValueError:
            raise UnknownDomainError(
                f"domain {domain!r} has neither probes nor interactions; known: {list(self.domains)}"
            ) from None

    def ranked(self, domain: str) -> list[LayerScore]:
        """All targets of a domain, most important first (ties: deeper layer first, then group)."""
        i = self.index(domain)
        order = sorted(
            range(len(self.targets)),
            key=lambda j: (-round(float(self.values[i, j]), 12), -self.targets[j][0], self.targets[j][1]),
        )
        return [
            LayerScore(
                layer=self.targets[j][0],
                module_group=self.targets[j][1],
                score=float(self.values[i, j]),
                source="probe" if self.probed[i, j] else "cf",
            )
            for j in order
        ]

    def row(self, domain: str) -> dict[Target, float]:
        i = self.index(domain)
        return {target: float(self.values[i, j]) for j, target in enumerate(self.targets)}


def _scale_rows(values: np.ndarray) -> np.ndarray:
    peak = values.max(axis=1, keepdims=True) if values.size else values
    return np.divide(values, peak, out=np.zeros_like(values), where=peak > 0)


def build_layer_importance(
    db: Database,
    base_model: str,
    domains: Sequence[str] = (),
    similarity: np.ndarray | None = None,
    similarity_domains: Sequence[str] = (),
    *,
    min_probes: int = 2,
) -> LayerImportance:
    """Importance for ``domains`` plus every probed domain of ``base_model``.

    ``similarity`` is a domains x domains matrix over ``similarity_domains``
    (e.g. ``DomainRanker.domain_similarity()`` and ``DomainRanker.domains``);
    without it, or where a domain has no positive similarity to a probed one,
    completion uses the plain mean of the probed rows. A domain with
    n < ``min_probes`` probe runs blends its own row with the completed one in
    the proportion n / min_probes.
    """
    if not isinstance(min_probes, int) or isinstance(min_probes, bool) or min_probes < 1:
        raise ValueError(f"min_probes must be an int >= 1, got {min_probes!r}")
    if similarity is not None:
        similarity = np.asarray(similarity, dtype=np.float64)
        n = len(similarity_domains)
        if similarity.shape != (n, n):
            raise ValueError(f"similarity has shape {similarity.shape}, expected ({n}, {n}) for similarity_domains")
    summaries = summarize_probes(db, base_model)
    if not summaries:
        raise NoProbesError(f"no layer probes recorded for base_model {base_model!r}; run a probe first")

    rows = tuple(sorted(set(domains) | {s.domain for s in summaries}))
    layers = max(s.layer for s in summaries) + 1
    groups = sorted({s.module_group for s in summaries})
    targets = tuple((layer, group) for layer in range(layers) for group in groups)
    row_of = {d: i for i, d in enumerate(rows)}
    col_of = {t: j for j, t in enumerate(targets)}

    own = np.zeros((len(rows), len(targets)))
    measured = np.zeros_like(own, dtype=bool)
    counts = np.zeros(len(rows), dtype=np.int64)
    for s in summaries:
        i, j = row_of[s.domain], col_of[(s.layer, s.module_group)]
        own[i, j], measured[i, j] = s.share, True
        counts[i] = max(counts[i], s.probes)
    own = _scale_rows(own)
    trust = np.minimum(counts / min_probes, 1.0)

    weights = _similarity_weights(rows, similarity, similarity_domains)
    values = np.zeros_like(own)
    for i in range(len(rows)):
        donors = [e for e in range(len(rows)) if e != i and counts[e] > 0]
        completed = _complete(own, measured, donors, weights[i], trust) if donors else None
        if completed is None:
            values[i] = own[i]
        else:
            blended = trust[i] * own[i] + (1.0 - trust[i]) * completed
            values[i] = np.where(measured[i], blended, completed)
    return LayerImportance(
        base_model=base_model,
        domains=rows,
        targets=targets,
        values=_scale_rows(values),
        probed=measured,
        probe_counts=tuple(int(c) for c in counts),
        num_layers=layers,
    )


def _similarity_weights(rows: tuple[str, ...], similarity: np.ndarray | None, names: Sequence[str]) -> np.ndarray:
    """rows x rows non-negative similarity; 0 where a domain is missing from the factors."""
    weights = np.zeros((len(rows), len(rows)))
    if similarity is None:
        return weights
    where = {d: k for k, d in enumerate(names)}
    for i, a in enumerate(rows):
        for e, b in enumerate(rows):
            if a in where and b in where:
                weights[i, e] = max(float(similarity[where[a], where[b]]), 0.0)
    return weights


def _complete(own: np.ndarray, measured: np.ndarray, donors: list[int], weights: np.ndarray, trust: np.ndarray) -> np.ndarray:
    """Similarity-and-trust weighted mean of donor rows, per target over donors that measured it."""
    w = weights[donors] * trust[donors]
    if not np.any(w > 0):
        w = trust[donors].astype(np.float64)
    mask = measured[donors].astype(np.float64) * w[:, None]
    total = mask.sum(axis=0)
    return np.divide((own[donors] * mask).sum(axis=0), total, out=np.zeros(own.shape[1]), where=total > 0)


# -- selection ------------------------------------------------------------------------


# The compute budget a cycle or a ranking uses when none is given (see the module docstring).
DEFAULT_LAYER_BUDGET = 0.35


@dataclass(frozen=True)
class LayerCostModel:
    """cost(S) = fixed + (L - min_layer(S)) / L + per_target * |S| (see the module docstring)."""

    per_target: float = 0.01
    fixed: float = 0.0

    def __post_init__(self) -> None:
        for name in ("per_target", "fixed"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def absolute(self, min_layer: int, n_targets: int, num_layers: int) -> float:
        return self.fixed + (num_layers - min_layer) / num_layers + self.per_target * n_targets

    def relative(self, targets: Sequence[Target], num_layers: int, n_all: int) -> float:
        """Cost of ``targets`` as a fraction of adapting all ``n_all`` targets."""
        if not targets:
            return 0.0
        full = self.absolute(0, n_all, num_layers)
        return self.absolute(min(layer for layer, _ in targets), len(targets), num_layers) / full


@dataclass(frozen=True)
class LayerSelection:
    targets: tuple[Target, ...]
    # Relative cost (1.0 = every target) and share of the domain's total importance kept.
    cost: float
    captured: float

    @property
    def layers(self) -> list[int]:
        return sorted({layer for layer, _ in self.targets})

    @property
    def module_groups(self) -> list[str]:
        return sorted({group for _, group in self.targets})


def select_layers(
    importance: Mapping[Target, float],
    num_layers: int,
    budget: float,
    cost_model: LayerCostModel | None = None,
) -> LayerSelection:
    """The most important targets whose relative cost stays within ``budget`` (0, 1].

    Exact under the cost model: for every candidate lowest layer m, the depth
    cost is fixed, so the rest of the budget buys the k best targets at layers
    >= m; the best of those L candidate sets wins (ties: the cheaper). A budget
    below the cheapest target's cost buys that one target (the most important of
    the top layer), so a cycle on a small model still trains; ``cost`` then shows
    the overrun.
    """
    cost_model = cost_model or LayerCostModel()
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
    if not isinstance(budget, (int, float)) or not math.isfinite(budget) or not 0 < budget <= 1:
        raise ValueError(f"budget must be in (0, 1], got {budget!r}")
    if not importance:
        raise ValueError("importance is empty: nothing to select from")
    bad = {t: s for t, s in importance.items() if not 0 <= t[0] < num_layers or not math.isfinite(s) or s < 0}
    if bad:
        raise ValueError(f"importance has targets outside layers 0..{num_layers - 1} or scores not finite >= 0: {bad}")

    groups = {group for _, group in importance}
    n_all = num_layers * len(groups)
    full = cost_model.absolute(0, n_all, num_layers)
    allowed = budget * full
    total = sum(importance.values())
    ranked = sorted(importance.items(), key=lambda item: (-item[1], -item[0][0], item[0][1]))

    best: tuple[float, float, tuple[Target, ...]] | None = None
    for lowest in range(num_layers - 1, -1, -1):
        # The depth cost of this lowest layer; the rest of the budget buys targets.
        spare = allowed - cost_model.absolute(lowest, 0, num_layers)
        if spare < 0:
            break
        affordable = int(math.floor(spare / cost_model.per_target + 1e-9)) if cost_model.per_target > 0 else n_all
        if affordable < 1:
            continue
        pool = [(t, s) for t, s in ranked if t[0] >= lowest]
        chosen = [t for t, s in pool[:affordable] if s > 0] or [pool[0][0]]
        value = sum(importance[t] for t in chosen)
        cost = cost_model.relative(chosen, num_layers, n_all)
        if best is None or value > best[0] + 1e-12 or (abs(value - best[0]) <= 1e-12 and cost < best[1]):
            best = (value, cost, tuple(sorted(chosen)))
    if best is None:
        # Nothing fits (a small model's top layer alone can cost more): buy the least there is.
        top = max(layer for layer, _ in importance)
        chosen = (next(t for t, _ in ranked if t[0] == top),)
        best = (importance[chosen[0]], cost_model.relative(chosen, num_layers, n_all), chosen)
    value, cost, chosen = best
    return LayerSelection(targets=chosen, cost=cost, captured=value / total if total > 0 else 0.0)


def importance_from_rows(
    base_model: str,
    rows: Mapping[str, Sequence[LayerScore]],
    probe_counts: Mapping[str, int],
    num_layers: int,
) -> LayerImportance:
    """Rebuild a (partial) importance matrix from per-domain scores, e.g. as a client received them."""
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
    groups = sorted({s.module_group for scores in rows.values() for s in scores})
    if not groups:
        raise ValueError("rows hold no layer scores: nothing to rebuild")
    targets = tuple((layer, group) for layer in range(num_layers) for group in groups)
    col_of = {t: j for j, t in enumerate(targets)}
    domains = tuple(rows)
    values = np.zeros((len(domains), len(targets)))
    probed = np.zeros_like(values, dtype=bool)
    for i, domain in enumerate(domains):
        for s in rows[domain]:
            j = col_of.get((s.layer, s.module_group))
            if j is None:
                raise ValueError(f"row {domain!r} has layer {s.layer} outside 0..{num_layers - 1}")
            values[i, j], probed[i, j] = s.score, s.source == "probe"
    return LayerImportance(
        base_model=base_model,
        domains=domains,
        targets=targets,
        values=values,
        probed=probed,
        probe_counts=tuple(int(probe_counts.get(d, 0)) for d in domains),
        num_layers=num_layers,
    )
