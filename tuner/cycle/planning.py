"""Plan a cycle: new events -> ranked domains -> the ones that qualify -> probes -> layers.

Ranking sees only the events after the watermark (what changed since the last cycle);
a domain qualifies when it ranks among the top ``max_domains`` and has at least
``min_examples`` labeled events its adapters have not seen. Its data is every labeled
event of the domain up to the cycle's upper watermark, split by event id hash, so the
held-out rows are the same for the candidate and the champion and stay held out in
later cycles; it trains on the training rows its champion has not seen plus a
class-balanced replay of the rest (``tuner.replay``). Layers come from gradient probes on the domain's corrected examples,
completed by collaborative filtering and selected under the layer budget.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from recsys.cycles import new_labeled_counts
from recsys.domains import described, domain_labels
from recsys.events.model import Feedback
from recsys.events.query import fetch_interactions
from recsys.layers import LayerCostModel, LayerImportance, LayerSelection, Target, build_layer_importance, select_layers
from recsys.matrices import ConfidenceConfig
from recsys.probes import write_probes
from recsys.ranking import DomainRanker, DomainScore, EmptyLogError, RankerConfig
from recsys.store import Database
from tuner.cycle.config import CycleConfig
from tuner.cycle.continuation import Continuation, continuation, learned_seq, tried_seq
from tuner.cycle.errors import CycleCancelledError
from tuner.cycle.escalation import domain_escalation
from tuner.cycle.probing import probe_domain
from tuner.cycle.progress import CycleEvent, EventSink
from tuner.cycle.reweighting import CorrectionWeights
from tuner.data import DataSplit, Example, example_from, rejected_example, split_examples
from tuner.replay import ReplayPolicy, class_balanced_sample
from tuner.loading import BaseModel
from tuner.probe import to_probe_records


@dataclass(frozen=True)
class RankedDomain:
    """A domain of the new events, its ranking evidence, and why it was (not) tuned."""

    score: DomainScore
    new_examples: int
    selected: bool
    reason: str

    def to_json(self) -> dict:
        s = self.score
        return {
            "domain": s.domain, "score": s.score, "affinity": s.affinity, "need": s.need,
            "error_rate": s.error_rate, "events": s.event_count, "negative": s.negative_count,
            "corrected": s.corrected_count, "users": s.user_count, "new_examples": self.new_examples,
            "selected": self.selected, "reason": self.reason,
        }  # fmt: skip


@dataclass(frozen=True)
class DomainData:
    split: DataSplit
    # Event ids of corrected interactions (what the probe measures on).
    corrected: frozenset[str]
    # Training examples the champion has not seen, and how many older ones were replayed.
    new_train: int = 0
    replayed: int = 0
    # Training examples of the whole history (what training on everything would cost).
    history_train: int = 0
    # Training rows up to this seq are the replayed ones (what the candidate's start learned).
    seen_seq: int = 0
    # Rows up to this seq were trained on by an earlier candidate of the domain (``tried_seq``).
    tried_seq: int = 0
    # The kept candidate the next one continues (decided here once; the worker starts from it).
    line: Continuation | None = None
    # Wrong answers users only rejected, with no correction (``tuner.cycle.reweighting``).
    rejected: int = 0
    # The new ones in the training share, as examples whose target is the rejected answer.
    rejected_train: tuple[Example, ...] = ()

    def correction_weights(self, max_weight: float) -> CorrectionWeights:
        """How much a corrected held-out row counts for, given the wrong answers left uncorrected."""
        return CorrectionWeights(self.corrected, self.rejected, max_weight)

    def pass_rows(self) -> tuple[list[Example], list[Example]]:
        """The training rows split into those no candidate trained on yet (every pass of a
        continued candidate) and the rest, trained once: the replayed ones, and those an
        earlier candidate trained on whose line broke (``retried``). Without rows of the first
        kind, every row gets every pass."""
        fresh = max(self.seen_seq, self.tried_seq)
        every_pass = [e for e in self.split.train if (e.seq or 0) > fresh]
        if not every_pass:
            return list(self.split.train), []
        return every_pass, [e for e in self.split.train if (e.seq or 0) <= fresh]

    @property
    def retried(self) -> int:
        """Training rows the start has not learned that an earlier candidate already trained on."""
        return sum(self.seen_seq < (e.seq or 0) <= self.tried_seq for e in self.split.train)

    def probe_examples(self, limit: int) -> list[Example]:
        """The newest corrected training examples (all training examples when none was corrected)."""
        pool = [e for e in self.split.train if e.event_id in self.corrected] or list(self.split.train)
        return sorted(pool, key=lambda e: e.seq or 0, reverse=True)[:limit]


@dataclass(frozen=True)
class DomainPlan:
    domain: str
    rank: int
    data: DomainData
    layers: tuple[int, ...]
    groups: tuple[str, ...]
    layer_cost: float
    # Share of the domain's layer importance the selection keeps (1.0 for all layers).
    captured: float
    probe_id: str = ""
    # Plateau escalation: level, the layer budget it gave, and why (see recsys.escalation).
    escalation: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "domain": self.domain, "rank": self.rank, "layers": list(self.layers), "groups": list(self.groups),
            "layer_cost": self.layer_cost, "captured": self.captured, "probe_id": self.probe_id,
            "escalation": self.escalation,
            "data": self.data.split.sizes(), "data_window": list(self.data.split.data_window or ()),
            "replay": {"new": self.data.new_train, "replayed": self.data.replayed, "history": self.data.history_train},
        }  # fmt: skip


@dataclass(frozen=True)
class CyclePlan:
    strategy: str
    window: tuple[int, int]
    new_events: int
    ranked: tuple[RankedDomain, ...]
    domains: tuple[DomainPlan, ...]
    # Requested domains that have no new events in the window.
    missing: tuple[str, ...] = ()
    importance: LayerImportance | None = None
    selections: dict[str, LayerSelection] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "strategy": self.strategy,
            "window": list(self.window),
            "new_events": self.new_events,
            "ranked": [r.to_json() for r in self.ranked],
            "planned": [d.to_json() for d in self.domains],
            "missing": list(self.missing),
        }


@dataclass
class PlanContext:
    """What a planner works with; ``check()`` raises when the cycle was cancelled."""

    db: Database
    base: BaseModel
    config: CycleConfig
    cycle_id: str
    window: tuple[int, int]
    emit: EventSink
    cancel: threading.Event | None = None
    cost_model: LayerCostModel = field(default_factory=LayerCostModel)

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise CycleCancelledError(f"cycle {self.cycle_id!r} was cancelled before it committed; nothing changed")

    def event(self, stage: str, domain: str = "", message: str = "", **values) -> None:
        self.emit(CycleEvent(self.cycle_id, stage, domain, message, **values))


Planner = Callable[[PlanContext], CyclePlan]


# -- building blocks (the benchmark's other strategies reuse them) ------------------------


def probe_model_key(base_name: str) -> str:
    """The probes table's name for a base model: catalog names as they are, a checkpoint
    folder's path without its leading slash (and characters the table refuses replaced)."""
    key = re.sub(r"[^A-Za-z0-9_.\-/:]", "_", base_name).lstrip("/._-:")
    return key[-200:] or "model"


def rank_window(db: Database, window: tuple[int, int]) -> tuple[DomainRanker | None, list[DomainScore]]:
    """ALS ranking of the domains over the window's events only (None when it is empty)."""
    low, high = window
    if high <= low:
        return None, []
    confidence = ConfidenceConfig(min_seq=low + 1, max_seq=high)
    try:
        ranker = DomainRanker(RankerConfig(confidence=confidence)).fit(db)
    except EmptyLogError:
        return None, []
    return ranker, ranker.rank_domains(top_k=len(ranker.domains))


def count_new_events(db: Database, window: tuple[int, int]) -> int:
    low, high = window
    row = db.cursor().execute("SELECT count(*) FROM interactions WHERE seq > ? AND seq <= ?", [low, high]).fetchone()
    return int(row[0])


def bounded_split(split: DataSplit, seen_seq: int, config: CycleConfig) -> tuple[DataSplit, int, int]:
    """Train on the rows after ``seen_seq`` plus a replay of the older ones; validation and
    test stay drawn from the whole history (class-balanced, capped), so the checkpoint is
    selected on the distribution the gate judges and forgetting is caught.

    (Validation drawn like training, new plus a replay, was tried: with users repeating
    queries its ~120 rows saturated at accuracy 1.0 and stopped telling checkpoints apart,
    for 1.5 s saved on a 24 s cycle in ``bench/days.py``.) Returns the split, the new and
    the replayed training counts."""
    new = [e for e in split.train if (e.seq or 0) > seen_seq]
    history = [e for e in split.train if (e.seq or 0) <= seen_seq]
    policy = ReplayPolicy(config.replay_ratio, config.replay_min, config.train.seed)
    train = policy.training_set(new, history) if new else list(split.train)
    validation = class_balanced_sample(split.validation, config.max_validation, config.train.seed)
    test = class_balanced_sample(split.test, config.max_test, config.train.seed)
    return DataSplit(train, validation, test), len(new), len(train) - len(new)


def load_domain_data(
    db: Database, domain: str, until_seq: int, config: CycleConfig, seen_seq: int = 0, tried: int = 0,
    line: Continuation | None = None,
) -> DomainData | str:
    """The domain's labeled events up to ``until_seq``, split by event id; a reason when unusable.

    Training rows after ``seen_seq`` (what the next candidate's start learned, ``learned_seq``) are
    new; the older ones are replayed as ``bounded_split`` says. ``tried``: the last seq an earlier
    candidate trained on (``tried_seq``; see ``DomainData.pass_rows``); ``line``: the kept candidate
    the next one continues.
    """
    interactions = fetch_interactions(db, domain=domain, until_seq=until_seq)
    examples = [e for e in map(example_from, interactions) if e is not None]
    corrected = frozenset(i.event_id for i in interactions if i.feedback is Feedback.CORRECTED and i.correction)
    rejected = sum(i.feedback is Feedback.NEGATIVE for i in interactions)
    refused = [rejected_example(i) for i in interactions if i.feedback is Feedback.NEGATIVE and i.model_output
               and (i.seq or 0) > seen_seq]
    rejected_train = tuple(split_examples(refused, validation=config.validation, test=config.test).train)
    whole = split_examples(examples, validation=config.validation, test=config.test)
    split, new_train, replayed = bounded_split(whole, seen_seq, config)
    if not split.train:
        return "no labeled examples fall in the training split"
    if not split.test:
        return f"no labeled examples fall in the held-out split ({config.test:g} of {len(examples)})"
    if config.task == "classification" and len({e.target for e in split.train}) < 2:
        return "its training examples have fewer than 2 distinct labels"
    return DomainData(split, corrected, new_train, replayed, len(whole.train), seen_seq, tried, line, rejected,
                      rejected_train)


def qualify(
    ctx: PlanContext, scores: Sequence[DomainScore], limit: int
) -> tuple[list[RankedDomain], list[tuple[int, DomainScore, DomainData]]]:
    """Walk the ranking: the first ``limit`` domains with enough new data (and usable splits)."""
    config = ctx.config
    counts = new_labeled_counts(ctx.db, ctx.window[1], [s.domain for s in scores])
    ranked: list[RankedDomain] = []
    chosen: list[tuple[int, DomainScore, DomainData]] = []
    for rank, score in enumerate(scores, start=1):
        new = counts.get(score.domain, 0)
        selected = False
        if config.domains and score.domain not in config.domains:
            reason = "not among the requested domains"
        elif new < config.min_examples:
            reason = f"{new} new labeled examples, fewer than min_examples {config.min_examples}"
        elif len(chosen) >= limit:
            reason = f"ranked below the {limit} domain(s) this cycle tunes"
        else:
            line = continuation(ctx.db, score.domain, config.significance)
            learned = learned_seq(ctx.db, score.domain, config.significance, line)
            data = load_domain_data(ctx.db, score.domain, ctx.window[1], config, learned,
                                    tried_seq(ctx.db, score.domain), line)
            if isinstance(data, str):
                reason = data
            else:
                chosen.append((rank, score, data))
                selected = True
                reason = f"rank {rank}: score {score.score:.4f} (affinity {score.affinity:.3f} x need {score.need:.3f}), {new} new labeled examples"
        ranked.append(RankedDomain(score, new, selected, reason))
    return ranked, chosen


def probe(ctx: PlanContext, domain: str, data: DomainData) -> str:
    """Gradient probe of the domain's corrected examples, stored with the cycle id; returns its id."""
    ctx.check()
    examples = data.probe_examples(ctx.config.probe_examples)
    ctx.event("probing", domain, f"gradient probe on {len(examples)} corrected examples")
    # The declared labels too, with their descriptions: the zero-shot head Predict serves.
    declared = domain_labels(ctx.db, domain)
    labels = sorted({e.target for e in data.split.train} | {label.name for label in declared})
    observations = probe_domain(ctx.base, examples, ctx.config, labels, described(declared))
    records = to_probe_records(observations, domain, probe_model_key(ctx.base.name), cycle_id=ctx.cycle_id)
    write_probes(ctx.db, records)
    return records[0].probe_id


def select_targets(
    ctx: PlanContext, ranker: DomainRanker, domains: Sequence[str], budget: float,
    budgets: dict[str, float] | None = None,
) -> tuple[LayerImportance, dict[str, LayerSelection]]:
    """Probe-measured importance completed by CF, and the best targets of each domain under
    ``budget`` (or its own entry in ``budgets``)."""
    importance = build_layer_importance(
        ctx.db, probe_model_key(ctx.base.name), list(domains), ranker.domain_similarity(), ranker.domains
    )
    selections = {
        domain: select_layers(importance.row(domain), importance.num_layers, (budgets or {}).get(domain, budget),
                              ctx.cost_model)
        for domain in domains
    }
    return importance, selections


def domain_plan(rank: int, domain: str, data: DomainData, targets: Sequence[Target], cost: float,
                captured: float, probe_id: str = "") -> DomainPlan:
    """LoRA covers the selected layers x the selected groups (PEFT targets a cross product)."""
    layers = tuple(sorted({layer for layer, _ in targets}))
    groups = tuple(sorted({group for _, group in targets}))
    return DomainPlan(domain, rank, data, layers, groups, cost, captured, probe_id)


def empty_plan(ctx: PlanContext, strategy: str, new_events: int, ranked=(), missing=()) -> CyclePlan:
    return CyclePlan(strategy, ctx.window, new_events, tuple(ranked), (), tuple(missing))


# -- the targeted planner -------------------------------------------------------------------


def plan_cycle(ctx: PlanContext) -> CyclePlan:
    """The CF-targeted plan: rank the new events, qualify, probe, select layers under the budget."""
    ctx.check()
    new_events = count_new_events(ctx.db, ctx.window)
    ranker, scores = rank_window(ctx.db, ctx.window)
    missing = tuple(d for d in ctx.config.domains if d not in {s.domain for s in scores})
    if ranker is None:
        ctx.event("ranked", message=f"no new events after seq {ctx.window[0]}: nothing to rank")
        return empty_plan(ctx, "targeted", new_events, missing=missing)
    ranked, chosen = qualify(ctx, scores, ctx.config.max_domains)
    ctx.event(
        "ranked",
        message=f"{len(scores)} domains in {new_events} new events (seq {ctx.window[0] + 1}..{ctx.window[1]}); "
        f"tuning {[s.domain for _, s, _ in chosen] or 'none'}",
        metrics={r.score.domain: r.score.score for r in ranked},
    )
    for entry in ranked:
        if not entry.selected:
            ctx.event("skipped", entry.score.domain, entry.reason)
    if not chosen:
        return empty_plan(ctx, "targeted", new_events, ranked, missing)
    probe_ids = {score.domain: probe(ctx, score.domain, data) for _, score, data in chosen}
    ctx.check()
    policy, budget = ctx.config.escalation, ctx.config.layer_budget
    levels = {domain: domain_escalation(ctx.db, domain, policy) for domain in probe_ids}
    budgets = {domain: level.budget(budget, policy) for domain, level in levels.items()}
    importance, selections = select_targets(ctx, ranker, list(probe_ids), budget, budgets)
    plans = []
    for rank, score, data in chosen:
        selection, level = selections[score.domain], levels[score.domain]
        plan = domain_plan(rank, score.domain, data, selection.targets, selection.cost, selection.captured,
                           probe_ids[score.domain])
        plan = replace(plan, escalation={"level": level.level, "streak": level.streak, "retreats": level.retreats,
                                         "budget": budgets[score.domain], "reason": level.reason})
        plans.append(plan)
        widened = f"; escalated: budget {budgets[score.domain]:.2f}, {level.reason}" if level.level else ""
        ctx.event(
            "planned", score.domain,
            f"layers {list(plan.layers)} x {','.join(plan.groups)} (cost {plan.layer_cost:.2f} of all layers, "
            f"{plan.captured:.0%} of the importance); {len(data.split.train)} train examples "
            f"({data.new_train} new, {data.replayed} replayed){widened}",
        )  # fmt: skip
    return CyclePlan("targeted", ctx.window, new_events, tuple(ranked), tuple(plans), missing, importance, selections)
