"""Run a planned cycle: train each candidate, gate it, then commit everything at once.

While the cycle runs only adapter FILES are written (each version folder atomically).
The registry rows (champion or rejected, with metrics and the reason) and the cycle's
``finished`` row, which moves the watermark, commit in one transaction at the end,
guarded against a champion that changed meanwhile. Any failure or cancellation before
that removes the folders this cycle staged and marks the cycle failed: the registry and
the watermark stay as they were and the next cycle redoes the work. A process killed
outright leaves the row ``running`` and maybe orphan folders; ``recover`` (at the next
start) marks it interrupted and removes them.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from recsys.cycles import (
    CycleRecord,
    Guard,
    fail_cycle,
    finish_cycle,
    note_progress,
    staged_by_interrupted,
    start_cycle,
)
from recsys.domains import chain, described, domain_labels
from recsys.store import Database
from tuner.adapters import Adapter, load_adapter
from tuner.chains import child_config, parent_of
from tuner.cycle.anchor import anchor_version, compare_with_anchor, worth_anchoring
from tuner.cycle.config import CycleConfig
from tuner.cycle.continuation import Continuation
from tuner.cycle.gate import GateResult, gate
from tuner.cycle.planning import CyclePlan, DomainPlan, PlanContext, Planner, plan_cycle
from tuner.cycle.progress import CycleEvent, EventSink, ignore
from tuner.cycle.remembered import FILE as REMEMBERED_FILE, predictions_json, remembered_predictions
from tuner.data import Example, drop_unseen
from tuner.executors.base import Executor
from tuner.executors.config import ExecutorConfig
from tuner.errors import IncompatibleAdapterError
from tuner.public_errors import describe_failure
from tuner.loading import BaseModel
from tuner.registry import AdapterRecord, AdapterRegistry, StagedAdapter
from tuner.review.decisions import expire
from tuner.review.holding import review_statements
from tuner.review.policy import Hold
from tuner.targeting import check_parent
from tuner.training import EvalPoint, train_adapter

log = logging.getLogger("adaptune.cycle")

REPORT_FILE = "report.md"
# At most this often a training step becomes a progress event (plus the first and last).
STEP_EVENT_SECONDS = 0.25


@dataclass
class Workspace:
    """What a cycle reads and writes: the store, the registry, the base model, where reports go."""

    db: Database
    registry: AdapterRegistry
    base: BaseModel
    reports_dir: Path


@dataclass
class DomainOutcome:
    plan: DomainPlan
    staged: StagedAdapter
    # What the candidate started from ("domain/version"), or None for a fresh adapter.
    warm_start: str | None
    notes: list[str]
    train: dict
    step_losses: list[float]
    history: list[EvalPoint]
    gate: GateResult
    # The champion the gate compared against (re-checked at commit).
    champion_version: str | None
    seconds: float
    # Set when the domain's review policy holds a passing candidate for a person (tuner.review).
    review: Hold | None = None
    evidence: dict | None = None

    @property
    def domain(self) -> str:
        return self.plan.domain

    @property
    def promoted(self) -> bool:
        """Passed the gate and no review holds it: it becomes the champion when the cycle commits."""
        return self.gate.promote and self.review is None

    @property
    def registry_status(self) -> str:
        return "awaiting_review" if self.review is not None else "champion" if self.gate.promote else "rejected"

    def registry_metrics(self, cycle_id: str) -> dict:
        """What the adapter's row stores: headline numbers on top, the evidence nested."""
        overall = {k: v for k, v in self.gate.candidate.overall.items() if k != "n"}
        return {**overall, "n_test": self.gate.candidate.n, "cycle_id": cycle_id, "gate": self.gate.to_json(),
                "train": self.train, "groups": self.gate.candidate.groups}

    def to_json(self) -> dict:
        return {
            **self.plan.to_json(),
            "version": self.staged.version,
            "warm_start": self.warm_start,
            "notes": self.notes,
            "train": self.train,
            "gate": self.gate.to_json(),
            "review": {"policy": self.review.policy, "reason": self.review.reason,
                       "change_rate": self.review.change_rate} if self.review else None,
            "seconds": self.seconds,
        }


@dataclass
class CycleResult:
    record: CycleRecord
    plan: CyclePlan
    outcomes: list[DomainOutcome] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    report: Path | None = None

    @property
    def cycle_id(self) -> str:
        return self.record.cycle_id

    def promoted(self) -> list[DomainOutcome]:
        return [o for o in self.outcomes if o.promoted]


# -- one domain ---------------------------------------------------------------------------


WarmSource = AdapterRecord | StagedAdapter


def _warm_source(
    ws: Workspace, domain: str, line: Continuation | None, config: CycleConfig, notes: list[str],
    promoted_here: dict[str, StagedAdapter],
) -> WarmSource | None:
    """The domain's kept candidate it continues, else its champion, else its parent's newest
    adapter: the first that fits this base and rank.

    ``line``: the kept candidate to continue, as the planner found it (``tuner.cycle.continuation``,
    decided once so the rows counted as learned and the start agree). The parent's newest
    is the candidate this cycle promotes for it (``promoted_here``, committed with the
    child in one transaction), else its champion: so a chain whose parent and child both
    train in one cycle runs base, then parent, then child.
    """
    own = ws.registry.champion(domain)
    parent = parent_of(ws.registry, domain)
    candidates: list[WarmSource | None] = [own] if own else []
    if line is not None:
        candidates.insert(0, ws.registry.get(domain, line.version))
        notes.append(f"continues {line.version}, kept by the gate at {line.gain:+.4f} against champion "
                     f"{line.champion_version}: its rows count as learned")
    if parent and not own:
        candidates.append(promoted_here.get(parent) or ws.registry.champion(parent))
    for record in filter(None, candidates):
        try:
            check_parent(ws.base, record.path, config.train)
            return record
        except (IncompatibleAdapterError, LookupError) as error:
            notes.append(f"no warm start from {record.domain}/{record.version}: {error}")
    return None


def continues(source: WarmSource | None, line: Continuation | None, domain: str, champion_version: str | None) -> bool:
    """The candidate was trained from the domain's champion, or from the kept line that started at it."""
    if source is None or source.domain != domain or champion_version is None:
        return False
    if source.version == champion_version:
        return True
    return line is not None and source.version == line.version and line.champion_version == champion_version


def _load_champion(ws: Workspace, domain: str, notes: list[str]) -> tuple[Adapter | None, str | None, Path | None]:
    """The champion (None when it cannot be evaluated on this base), its version, its folder."""
    record = ws.registry.champion(domain)
    if record is None:
        return None, None, None
    try:
        return ws.registry.load(ws.base, domain, record.version), record.version, Path(record.path)
    except (IncompatibleAdapterError, LookupError) as error:
        notes.append(f"champion {record.version} cannot be evaluated on this base ({error}); compared with the base")
        return None, record.version, None


def _against_anchor(ws: Workspace, domain: str, test: Sequence[Example], verdict: GateResult, champion_version: str | None,
                    config: CycleConfig, notes: list[str]) -> GateResult:
    """The verdict judged again against the champion line's last proven version, when there is one."""
    version = anchor_version(ws.registry, domain, champion_version)
    if version is None:
        return verdict
    try:
        record = ws.registry.get(domain, version)
        anchor = load_adapter(ws.base, record.path)
    except (IncompatibleAdapterError, LookupError) as error:
        notes.append(f"anchor {version} cannot be evaluated on this base ({error}); judged against the champion only")
        return verdict
    known = remembered_predictions(Path(record.path), ws.base.name, config.train.max_length)
    return compare_with_anchor(ws.base, test, verdict, anchor, version, config, anchor_known=known)


def train_domain(
    ws: Workspace, plan: DomainPlan, config: CycleConfig, ctx: PlanContext, promoted_here: dict[str, StagedAdapter]
) -> DomainOutcome:
    """Train the candidate on the plan's layers, gate it, stage its folder (no registry row).

    ``promoted_here``: candidates this cycle already staged and the gate promoted, by domain.
    """
    started = time.perf_counter()
    domain, split = plan.domain, plan.data.split
    notes: list[str] = []
    source = _warm_source(ws, domain, plan.data.line, config, notes, promoted_here)
    labels = None
    validation = split.validation
    declared = domain_labels(ws.registry.db, domain)  # read once: the head's labels and their descriptions
    descriptions = described(declared)
    if ws.base.task == "classification":
        trained_on = {e.target for e in split.train}
        own = source.labels if source is not None and source.domain == domain else ()
        # The declared schema too: the head covers labels traffic has not shown yet.
        labels = sorted(trained_on | set(own) | {label.name for label in declared})
        validation, dropped = drop_unseen(trained_on, split.validation)
        if dropped:
            notes.append(f"{dropped} validation examples have labels unseen in training and were left out")
    last_event = [0.0]

    def on_step(step: int, total: int, loss: float) -> None:
        ctx.check()
        now = time.perf_counter()
        if step in (1, total) or now - last_event[0] >= STEP_EVENT_SECONDS:
            last_event[0] = now
            ctx.event("training", domain, f"step {step}/{total} loss {loss:.4f}", step=step, total_steps=total, loss=loss)

    ctx.event("training", domain, f"layers {list(plan.layers)} x {','.join(plan.groups)}, "
              f"warm start {f'{source.domain}/{source.version}' if source else 'none'}, {len(split.train)} examples")
    from_parent = source is not None and source.domain != domain
    train_config = config.train_config(source is not None, from_parent)  # a warm start gets the continuing schedule
    # Continuing its own adapter, only rows no candidate trained on yet get every pass (spread_replay).
    continues_own = source is not None and not from_parent
    train_rows, replay = plan.data.pass_rows() if config.spread_replay and continues_own else (split.train, [])
    rejected = plan.data.rejected_train if config.learn_from_rejections else ()
    retried = plan.data.retried if replay else 0
    if retried:
        notes.append(f"{retried} rows an earlier candidate trained on (its line broke) are trained once")
    result = train_adapter(
        ws.base, train_rows, validation, layers=plan.layers, groups=plan.groups,
        config=child_config(train_config) if from_parent else train_config,
        labels=labels, init_from=source.path if source else None, on_step=on_step, replay=replay,
        label_descriptions=descriptions, rejected=rejected,
    )  # fmt: skip
    ctx.check()
    gate_started = time.perf_counter()
    champion, champion_version, champion_folder = _load_champion(ws, domain, notes)
    max_length = config.train.max_length
    remembered = remembered_predictions(champion_folder, ws.base.name, max_length)
    verdict = gate(ws.base, split.test, result.adapter, champion, champion_version, config, champion_known=remembered,
                   descriptions=descriptions,
                   continues_champion=continues(source, plan.data.line, domain, champion_version),
                   weighting=plan.data.correction_weights(config.max_correction_weight))
    if worth_anchoring(verdict, config):
        verdict = _against_anchor(ws, domain, split.test, verdict, champion_version, config, notes)
    gate_seconds = time.perf_counter() - gate_started
    extra = {}
    if ws.base.task == "classification":  # the gate of a later cycle reuses these if this one becomes champion
        extra[REMEMBERED_FILE] = predictions_json(ws.base.name, max_length, split.test, verdict.candidate.predictions)
    staged = ws.registry.stage(result.adapter, domain=domain, parent=source, data_window=split.data_window,
                               extra_files=extra)
    train = {
        "steps": result.steps, "total_steps": result.total_steps, "best_step": result.best_step,
        "stopped_early": result.stopped_early, "train_seconds": result.train_seconds,
        "trainable_params": result.trainable_params, "lora_params": result.lora_params,
        "warm_started_modules": result.warm_started_modules,
        "cached_layers": result.cached_layers, "cache_seconds": result.cache_seconds,
        "final_loss": result.step_losses[-1] if result.step_losses else None,
        "examples": len(split.train), "replayed_once": len(replay), "rejected": len(rejected), "monitor": result.monitor, "best_metric": result.best_metric,
        "evals": len(result.history), "eval_every": result.eval_every, "stop_reason": result.stop_reason,
        "start_not_kept": result.start_not_kept, "why_stopped": result.why_stopped(), "eval_seconds": result.eval_seconds, "gate_seconds": gate_seconds,
    }  # fmt: skip
    return DomainOutcome(
        plan, staged, f"{source.domain}/{source.version}" if source else None, notes, train,
        list(result.step_losses), list(result.history), verdict, champion_version, time.perf_counter() - started,
    )


# -- the whole cycle ------------------------------------------------------------------------


def run_jobs(ws: Workspace, ordered: list[DomainPlan], config: CycleConfig, ctx: PlanContext,
             executor: ExecutorConfig | Executor | None, on_outcome):
    """Every planned domain's job on the executor (inline unless given); the finished Dispatch."""
    from tuner.cycle.dispatch import Dispatch
    from tuner.executors.factory import make_executor

    if not isinstance(executor, Executor):
        executor = make_executor(executor or ExecutorConfig(kind="inline"), base=ws.base)
    executor.on_event = ctx.emit
    with executor:
        return Dispatch(ws, config, ctx, executor).run(ordered, on_outcome)


def parents_first(ws: Workspace, plans: tuple[DomainPlan, ...]) -> list[DomainPlan]:
    """The plans with every chain's parent before its children (else ranked order)."""
    return sorted(plans, key=lambda p: len(chain(ws.db, p.domain)))


def summarize(record: CycleRecord, config: CycleConfig, ws: Workspace, plan: CyclePlan,
              outcomes: list[DomainOutcome], seconds: float, report: Path | None) -> dict:
    """The cycle's summary row: what was ranked and why, what trained, metrics, decisions."""
    return {
        "cycle_id": record.cycle_id,
        "base_model": ws.base.name,
        "task": ws.base.task,
        "dry_run": config.dry_run,
        "config": config.to_json(),
        **plan.to_json(),
        "domains": [o.to_json() for o in outcomes],
        "promoted": [o.domain for o in outcomes if o.promoted],
        "awaiting_review": [o.domain for o in outcomes if o.review is not None],
        "kept": [o.domain for o in outcomes if not o.gate.promote],
        "seconds": seconds,
        "report": str(report) if report else None,
    }


def commit(ws: Workspace, record: CycleRecord, outcomes: list[DomainOutcome], summary: dict) -> CycleRecord:
    """Registry rows and the finished cycle row in one transaction, if no champion changed meanwhile."""
    statements, guards = [], []
    for outcome in outcomes:
        statements += review_statements(outcome, record.cycle_id)
        statements += ws.registry.row_statements(
            outcome.staged, status=outcome.registry_status, metrics=outcome.registry_metrics(record.cycle_id)
        )
        sql, params = ws.registry.champion_query(outcome.domain)
        expected = ((outcome.champion_version,),) if outcome.champion_version else ()
        guards.append(Guard(sql, tuple(params), expected,
                            f"the champion of {outcome.domain!r} changed while the cycle ran (was {outcome.champion_version or 'none'})"))
    return finish_cycle(ws.db, record.cycle_id, summary, statements=statements, guards=guards)


def run_started_cycle(
    ws: Workspace,
    config: CycleConfig,
    record: CycleRecord,
    *,
    emit: EventSink = ignore,
    cancel: threading.Event | None = None,
    planner: Planner = plan_cycle,
    executor: ExecutorConfig | Executor | None = None,
) -> CycleResult:
    """Plan, train, gate and commit the cycle whose ``running`` row is ``record``.

    The per-domain jobs run on ``executor`` (default inline). Raises what went wrong
    after marking the cycle failed (nothing of it committed).
    """
    from tuner.cycle.report import write_report  # matplotlib only when a cycle runs

    started = time.perf_counter()
    window = (record.watermark_from, record.watermark_to)
    ctx = PlanContext(ws.db, ws.base, config, record.cycle_id, window, emit, cancel)
    outcomes: list[DomainOutcome] = []
    report_path = ws.reports_dir / record.cycle_id / REPORT_FILE
    try:
        ctx.event("started", message=f"{ws.base.name}: events after seq {window[0]} up to {window[1]}"
                  + (" (dry run: plan only)" if config.dry_run else ""))
        for review in [] if config.dry_run else expire(ws.db, config.review_max_age_hours):
            ctx.event("expired", review.domain, f"{review.version}: {review.reason}", adapter_version=review.version)
        plan = planner(ctx)
        ordered = [] if config.dry_run else parents_first(ws, plan.domains)

        def record_outcome(outcome: DomainOutcome) -> None:
            outcomes.append(outcome)
            # Recorded before anyone hears of it, so a restart after a kill can remove the folder.
            note_progress(ws.db, record.cycle_id, {"staged": [str(o.staged.path) for o in outcomes]})
            verdict = outcome.gate
            ctx.event(
                "evaluated", outcome.domain, f"{'promote' if verdict.promote else 'keep'}: {verdict.reason}",
                metrics={"candidate": verdict.candidate[verdict.metric],
                         "reference": verdict.reference[verdict.metric], "gain": verdict.gain},
                adapter_version=outcome.staged.version,
            )  # fmt: skip

        jobs = run_jobs(ws, ordered, config, ctx, executor, record_outcome) if ordered else None
        outcomes.sort(key=lambda o: [p.domain for p in ordered].index(o.domain))
        ctx.check()
        summary = summarize(record, config, ws, plan, outcomes, time.perf_counter() - started, report_path)
        summary["failed"] = [f.to_json() for f in jobs.failures] if jobs else []
        summary["jobs"] = jobs.jobs if jobs else []
        if config.dry_run:
            closed = finish_cycle(ws.db, record.cycle_id, summary, status="planned")
        else:
            closed = commit(ws, record, outcomes, summary)
    except BaseException as error:
        for outcome in outcomes:
            shutil.rmtree(outcome.staged.path, ignore_errors=True)
        message = describe_failure(log, f"cycle {record.cycle_id} failed", error)
        try:
            fail_cycle(ws.db, record.cycle_id, message)
        except Exception:  # noqa: BLE001 - the original error matters more
            log.exception("could not mark cycle %s failed", record.cycle_id)
        emit(CycleEvent(record.cycle_id, "failed", message=message))
        raise
    result = CycleResult(closed, plan, outcomes, summary)
    for outcome in outcomes:
        stage = "awaiting_review" if outcome.review else "promoted" if outcome.gate.promote else "kept"
        what = {"promoted": f"{outcome.staged.version} is the champion", "kept": f"{outcome.staged.version} rejected",
                "awaiting_review": f"{outcome.staged.version} awaits expert review ({outcome.review and outcome.review.reason})"}[stage]
        emit(CycleEvent(record.cycle_id, stage, outcome.domain, f"{what}: {outcome.gate.reason}",
                        metrics={"candidate": outcome.gate.candidate[outcome.gate.metric],
                                 "reference": outcome.gate.reference[outcome.gate.metric]},
                        adapter_version=outcome.staged.version))
    try:
        result.report = write_report(result, report_path)
    except Exception:  # noqa: BLE001 - the cycle committed; a plot failing must not undo that
        log.exception("cycle %s: the report could not be written", record.cycle_id)
    emit(CycleEvent(record.cycle_id, "finished", message=_headline(result), summary=summary,
                    report_path=str(result.report or "")))
    return result


def _headline(result: CycleResult) -> str:
    if result.summary.get("dry_run"):
        return f"planned {[d.domain for d in result.plan.domains]} (dry run: nothing trained, watermark unchanged)"
    promoted = [o.domain for o in result.outcomes if o.promoted]
    held = [o.domain for o in result.outcomes if o.review is not None]
    kept = [o.domain for o in result.outcomes if not o.gate.promote]
    return (f"promoted {promoted or 'none'}, kept the current model (champion or base) of {kept or 'none'}; "
            + (f"awaiting expert review: {held}; " if held else "") +
            f"watermark now seq {result.record.watermark_to}")


def run_cycle(
    ws: Workspace,
    config: CycleConfig,
    *,
    emit: EventSink = ignore,
    cancel: threading.Event | None = None,
    planner: Planner = plan_cycle,
    executor: ExecutorConfig | Executor | None = None,
) -> CycleResult:
    """Start a cycle over the events after the watermark and run it (the synchronous path)."""
    record = start_cycle(ws.db, {"config": config.to_json(), "strategy": getattr(planner, "__name__", "planner")})
    return run_started_cycle(ws, config, record, emit=emit, cancel=cancel, planner=planner, executor=executor)


def remove_interrupted_folders(db: Database, registry: AdapterRegistry) -> list[Path]:
    """Remove the folders that interrupted cycles staged and that never got a registry row.

    Only folders such a cycle recorded are touched (another database may share the
    adapters folder); any other orphan just keeps its version number reserved.
    """
    staged = {Path(p).resolve() for p in staged_by_interrupted(db)}
    removed = [folder for folder in registry.orphan_folders() if folder.resolve() in staged]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
