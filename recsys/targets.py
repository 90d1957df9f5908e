"""The full ranking answer: top domains with their evidence and the layers chosen for each.

This is what ``RankTargets`` and ``adaptune rank`` return, assembled in one place
so the servicer only converts. The fitted ranker is reused until the log changes.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from recsys.domains import check_domain_name
from recsys.layers import DEFAULT_LAYER_BUDGET, LayerCostModel, LayerImportance, LayerScore, LayerSelection, build_layer_importance, select_layers
from recsys.probes import check_base_model, probed_base_models
from recsys.ranking import DomainRanker, DomainScore, RankerConfig
from recsys.store import Database

MAX_TOP_K = 100


@dataclass(frozen=True)
class TargetRequest:
    """``user_id`` empty: the global ranking; ``domain``: that domain only;
    ``base_model`` empty: the base model with the most probes."""

    user_id: str = ""
    top_k: int = 3
    layer_budget: float = DEFAULT_LAYER_BUDGET
    domain: str = ""
    base_model: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.user_id, str) or len(self.user_id) > 256:
            raise ValueError(f"user_id must be a string of at most 256 characters, got {self.user_id!r:.60}")
        if not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or not 1 <= self.top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be an int in 1..{MAX_TOP_K}, got {self.top_k!r}")
        budget = self.layer_budget
        if not isinstance(budget, (int, float)) or isinstance(budget, bool) or not math.isfinite(budget) or not 0 < budget <= 1:
            raise ValueError(f"layer_budget must be in (0, 1], got {budget!r}")
        if self.domain:
            check_domain_name(self.domain)
        if self.base_model:
            check_base_model(self.base_model)


@dataclass(frozen=True)
class DomainTargets:
    """One ranked domain, its evidence, and the (layer, group) targets chosen under the budget."""

    score: DomainScore
    probe_count: int
    layers: tuple[LayerScore, ...]
    layer_cost: float
    # Every target's importance (for heatmaps); filled only when asked for.
    importance: tuple[LayerScore, ...] = ()


@dataclass(frozen=True)
class TargetRanking:
    domains: tuple[DomainTargets, ...]
    cold_start: bool
    method: str
    events_used: int
    # "" when no probes exist yet: domains then come without layers.
    base_model: str
    layer_budget: float
    user_id: str = ""
    # Layers of the probed model (0 without probes).
    num_layers: int = 0
    importance: LayerImportance | None = None
    selections: dict[str, LayerSelection] = field(default_factory=dict)


class TargetRanker:
    """Ranks targets on a database; refits only when the interaction log changed.

    Thread-safe: RPC threads share one instance.
    """

    def __init__(
        self,
        config: RankerConfig | None = None,
        cost_model: LayerCostModel | None = None,
        min_probes: int = 2,
    ) -> None:
        self.config = config or RankerConfig()
        self.cost_model = cost_model or LayerCostModel()
        self.min_probes = min_probes
        self._lock = threading.Lock()
        self._fitted: tuple[tuple[int, int], DomainRanker] | None = None

    def ranker(self, db: Database) -> DomainRanker:
        """The fitted ranker for the log as it is now (raises EmptyLogError on an empty log)."""
        count, newest = db.cursor().execute("SELECT count(*), coalesce(max(seq), 0) FROM interactions").fetchone()
        version = (int(count), int(newest))
        with self._lock:
            if self._fitted is None or self._fitted[0] != version:
                self._fitted = (version, DomainRanker(self.config).fit(db))
            return self._fitted[1]

    def rank(self, db: Database, request: TargetRequest, include_importance: bool = False) -> TargetRanking:
        ranker = self.ranker(db)
        user = request.user_id
        cold_start = False
        if request.domain:
            scores = [ranker.domain_score(request.domain, user or None)]
            cold_start = bool(user) and not ranker.knows_user(user)
        elif user:
            recommendation = ranker.recommend(user, request.top_k)
            scores, cold_start = recommendation.domains, recommendation.cold_start
        else:
            scores = ranker.rank_domains(request.top_k)

        base_model = request.base_model or next(iter(probed_base_models(db)), "")
        importance = None
        if base_model:
            importance = build_layer_importance(
                db, base_model, ranker.domains, ranker.domain_similarity(), ranker.domains, min_probes=self.min_probes
            )
        selections: dict[str, LayerSelection] = {}
        domains = []
        for score in scores:
            if importance is None:
                domains.append(DomainTargets(score=score, probe_count=0, layers=(), layer_cost=0.0))
                continue
            selection = self._select(importance, score.domain, request.layer_budget)
            selections[score.domain] = selection
            ranked = importance.ranked(score.domain)
            chosen = set(selection.targets)
            domains.append(
                DomainTargets(
                    score=score,
                    probe_count=importance.probe_counts[importance.index(score.domain)],
                    layers=tuple(s for s in ranked if (s.layer, s.module_group) in chosen),
                    layer_cost=selection.cost,
                    importance=tuple(ranked) if include_importance else (),
                )
            )
        return TargetRanking(
            domains=tuple(domains),
            cold_start=cold_start,
            method=self.config.method,
            events_used=ranker.events_used,
            base_model=base_model,
            layer_budget=request.layer_budget,
            user_id=user,
            num_layers=importance.num_layers if importance is not None else 0,
            importance=importance,
            selections=selections,
        )

    def _select(self, importance: LayerImportance, domain: str, budget: float) -> LayerSelection:
        try:
            return select_layers(importance.row(domain), importance.num_layers, budget, self.cost_model)
        except ValueError as error:
            raise ValueError(f"layer_budget: {error}") from error
