"""The cycle's dispatch loop: each planned domain a job on an executor, parents before children.

A child job is submitted once its chain's planned ancestors are done, because it
warm-starts from the candidate the cycle promotes for its parent; independent domains
run side by side when the executor has room (Ray). A job that raises or whose worker
dies is submitted again up to ``max_retries`` times (Ray retries its tasks itself), then
reported as failed for its domain: its folders are removed and nothing of it is
promoted. Only the server (the caller) records progress, writes the registry and moves
the watermark.
"""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from recsys.domains import chain
from tuner.cycle.config import CycleConfig
from tuner.cycle.planning import DomainPlan, PlanContext
from tuner.executors.base import DomainJob, Executor, JobResult
from tuner.executors.snapshot import write_snapshot
from tuner.public_errors import describe_failure
from tuner.registry import VERSION_PATTERN, StagedAdapter
from tuner.review.holding import apply_review_policy

if TYPE_CHECKING:
    from tuner.cycle.running import DomainOutcome, Workspace

log = logging.getLogger("adaptune.cycle")

SNAPSHOTS_FOLDER = "cycle-snapshots"
# How often the loop wakes to notice a cancelled cycle while jobs run.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class JobFailure:
    """A domain whose job failed on every attempt: reported in the summary, nothing promoted."""

    domain: str
    error: str
    attempts: int

    def to_json(self) -> dict:
        return {"domain": self.domain, "error": self.error, "attempts": self.attempts}


@dataclass
class _Running:
    plan: DomainPlan
    attempt: int
    # Version folders of the domain before the job started (any new one is the job's).
    before: frozenset[str]
    errors: tuple[str, ...] = ()


def snapshot_folder(ws: "Workspace", cycle_id: str) -> Path:
    """Beside the adapter root, so workers that share the adapter root share it too."""
    return ws.registry.root.parent / SNAPSHOTS_FOLDER / cycle_id


class Dispatch:
    """Runs one cycle's jobs; outcomes go to ``on_outcome``, failures and job records stay here."""

    def __init__(self, ws: "Workspace", config: CycleConfig, ctx: PlanContext, executor: Executor) -> None:
        self.ws, self.config, self.ctx, self.executor = ws, config, ctx, executor
        self.promoted_here: dict[str, StagedAdapter] = {}
        self.failures: list[JobFailure] = []
        # Where and how long each finished job ran (the summary's ``jobs``).
        self.jobs: list[dict] = []
        self._running: dict[Future, _Running] = {}
        self._snapshot = snapshot_folder(ws, ctx.cycle_id)

    def run(self, plans: list[DomainPlan], on_outcome: Callable[["DomainOutcome"], None]) -> "Dispatch":
        planned = {p.domain for p in plans}
        waits_for = {p.domain: {d for d in chain(self.ws.db, p.domain)[:-1] if d in planned} for p in plans}
        pending, finished = list(plans), set()
        write_snapshot(self.ws.db, self._snapshot, self.ctx.window[1])
        try:
            while pending or self._running:
                self.ctx.check()
                for plan in [p for p in pending if waits_for[p.domain] <= finished]:
                    pending.remove(plan)
                    self._submit(plan, 1, ())
                done, _ = wait(list(self._running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = self._collect(future, self._running.pop(future))
                    if outcome is not None:
                        finished.add(outcome.domain)
                        on_outcome(outcome)
                    finished |= {f.domain for f in self.failures}
        except BaseException:
            self.executor.cancel()
            for job in self._running.values():
                self._remove_new_folders(job, keep=None)
            raise
        finally:
            shutil.rmtree(self._snapshot, ignore_errors=True)
        return self

    def _submit(self, plan: DomainPlan, attempt: int, errors: tuple[str, ...]) -> None:
        ancestors = {d: s for d, s in self.promoted_here.items() if d in chain(self.ws.db, plan.domain)}
        job = DomainJob(self.ctx.cycle_id, self.ctx.window, self.config, plan, ancestors,
                        str(self.ws.registry.root), str(self._snapshot))  # fmt: skip
        before = frozenset(self._version_folders(plan.domain))
        self._running[self.executor.submit(job)] = _Running(plan, attempt, before, errors)

    def _collect(self, future: Future, job: _Running) -> "DomainOutcome | None":
        """The job's outcome; on failure a retry (None) or, at the last attempt, a JobFailure (None)."""
        domain = job.plan.domain
        try:
            result: JobResult = future.result()
        except Exception as error:  # noqa: BLE001 - whatever the job raised, or its worker's death
            self._remove_new_folders(job, keep=None)
            message = describe_failure(log, f"cycle {self.ctx.cycle_id}: job for {domain}", error)
            attempts = 1 + self.config_retries if self.executor.retries_itself else job.attempt
            if not self.executor.retries_itself and job.attempt <= self.config_retries:
                log.warning("cycle %s: job for %s failed (attempt %d), retrying: %s", self.ctx.cycle_id, domain, job.attempt, message)
                self._submit(job.plan, job.attempt + 1, (*job.errors, message))
                return None
            self.failures.append(JobFailure(domain, message, attempts))
            self.ctx.event("skipped", domain, f"job failed after {attempts} attempt(s), nothing of it is promoted: {message}")
            return None
        outcome = result.outcome
        self._remove_new_folders(job, keep=outcome.staged.path)
        for event in result.events:
            self.ctx.emit(event)
        self.jobs.append({"domain": domain, "worker": result.worker, "seconds": result.seconds, "attempt": job.attempt})
        if job.errors:
            outcome.notes.append(f"succeeded at attempt {job.attempt} after: {'; '.join(job.errors)}")
        apply_review_policy(self.ws.db, outcome)
        if outcome.promoted:  # a held parent is no warm start for its children (tuner.review.holding)
            self.promoted_here[domain] = outcome.staged
        return outcome

    @property
    def config_retries(self) -> int:
        return self.executor.config.max_retries

    def _version_folders(self, domain: str) -> set[str]:
        folder = self.ws.registry.root / domain
        return {p.name for p in folder.iterdir() if VERSION_PATTERN.match(p.name)} if folder.is_dir() else set()

    def _remove_new_folders(self, job: _Running, keep: Path | None) -> None:
        """Folders a failed attempt left (never a registered version, never the kept one)."""
        domain = job.plan.domain
        registered = {r.version for r in self.ws.registry.list(domain)}
        for name in self._version_folders(domain) - job.before - registered:
            path = self.ws.registry.root / domain / name
            if keep is None or path.resolve() != Path(keep).resolve():
                shutil.rmtree(path, ignore_errors=True)
