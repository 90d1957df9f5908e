"""The worker side of a domain job: load the snapshot and the base, then ``train_domain``.

The per-domain work itself (warm start, training, gate, staging the adapter folder)
stays in ``tuner.cycle.running.train_domain``; this module only gives it a Workspace
whose database is the job's snapshot, and hands the outcome and its events back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tuner.executors.base import DomainJob, JobResult, worker_label
from tuner.executors.snapshot import load_snapshot

if TYPE_CHECKING:
    from tuner.loading import BaseModel

# A worker keeps the base models it loaded: Ray and the process pool reuse workers across jobs.
_BASES: dict[tuple[str, str], "BaseModel"] = {}
# Where a worker sends progress events as they happen (the process executor's queue); None: with the result.
_LIVE: Callable[[object], None] | None = None


def stream_events_to(sink: Callable[[object], None] | None) -> None:
    """Send this worker's progress events to ``sink`` as they happen instead of with the result."""
    global _LIVE
    _LIVE = sink


def worker_base(name: str, task: str) -> "BaseModel":
    """The base model for this worker, loaded on its first job."""
    key = (name, task)
    if key not in _BASES:
        from tuner.loading import load_base

        _BASES[key] = load_base(name, task)
    return _BASES[key]


def set_torch_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def run_domain_job(job: DomainJob, base: "BaseModel | None" = None) -> JobResult:
    """Train, gate and stage one domain's candidate; nothing is written but its adapter folder."""
    from tuner.cycle.planning import PlanContext
    from tuner.cycle.running import Workspace, train_domain
    from tuner.registry import AdapterRegistry

    started = time.perf_counter()
    base = base if base is not None else worker_base(job.config.base_model, job.config.task)
    db = load_snapshot(job.snapshot)
    events: list = []
    try:
        # Jobs write no report (the server does, after the commit).
        ws = Workspace(db, AdapterRegistry(db, job.adapters_root), base, Path(job.snapshot))
        ctx = PlanContext(db, base, job.config, job.cycle_id, job.window, _LIVE or events.append)
        outcome = train_domain(ws, job.plan, job.config, ctx, dict(job.promoted_here))
    finally:
        db.close()
    return JobResult(outcome, events, worker_label(), time.perf_counter() - started)
