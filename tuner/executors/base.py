"""The executor interface: submit picklable per-domain jobs, get futures of their results.

Modelled on hamilton's ``TaskExecutor`` (init / submit / finalize) and kedro's habit of
pickling every job spec before it leaves the process. One module per kind
(``inline``, ``process``, ``ray``); a fourth (Spark, Kubernetes jobs) is one new file
and a line in ``factory``. Executors only run jobs: the server builds the specs,
decides what to promote and writes the registry.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

from tuner.executors.config import ExecutorConfig

if TYPE_CHECKING:
    from tuner.cycle.config import CycleConfig
    from tuner.cycle.planning import DomainPlan
    from tuner.cycle.progress import CycleEvent
    from tuner.cycle.running import DomainOutcome
    from tuner.loading import BaseModel
    from tuner.registry import StagedAdapter


class JobSpecError(ValueError):
    """A job spec that cannot leave the process (not picklable); names the field."""


class ExecutorUnavailableError(RuntimeError):
    """The executor cannot run here (Ray not installed, cluster unreachable); says how to fix it."""


@dataclass(frozen=True)
class DomainJob:
    """Everything one domain's job needs, by value: no database handle, no live model.

    ``snapshot`` is a folder of Parquet files (``domains``, ``adapters``, ``interactions``
    up to the cycle's upper watermark) that the job loads into its own in-memory
    database; ``promoted_here`` holds the candidates this cycle promotes for the domain's
    ancestors (a child warm-starts from them). Adapter folders go under ``adapters_root``.
    """

    cycle_id: str
    window: tuple[int, int]
    config: "CycleConfig"
    plan: "DomainPlan"
    promoted_here: dict[str, "StagedAdapter"]
    adapters_root: str
    snapshot: str

    @property
    def domain(self) -> str:
        return self.plan.domain


@dataclass
class JobResult:
    """What a job hands back: the staged, gated outcome and the events it would have streamed."""

    outcome: "DomainOutcome"
    events: list["CycleEvent"] = field(default_factory=list)
    # Where it ran ("host:pid") and how long the job took inside the worker.
    worker: str = ""
    seconds: float = 0.0

    @property
    def domain(self) -> str:
        return self.outcome.domain


# runner(job, base) -> JobResult; base is the caller's loaded model (inline) or None (load it).
Runner = Callable[[DomainJob, "BaseModel | None"], JobResult]


def default_runner() -> Runner:
    from tuner.executors.job import run_domain_job

    return run_domain_job


def check_picklable(job: DomainJob, runner: Runner) -> None:
    """Refuse a spec that cannot be sent to another process, naming the field, before submitting."""
    try:
        pickle.dumps(runner)
    except Exception as error:  # noqa: BLE001 - any pickling failure is the same refusal
        raise JobSpecError(f"job runner {runner!r} cannot be pickled: {error}") from None
    for spec_field in fields(job):
        try:
            pickle.dumps(getattr(job, spec_field.name))
        except Exception as error:  # noqa: BLE001
            raise JobSpecError(f"job for {job.domain!r}: field {spec_field.name} cannot be pickled: {error}") from None


class Executor(ABC):
    """Runs DomainJobs. ``init()`` before the first ``submit``, ``finalize()`` in a ``finally``."""

    kind: ClassVar[str]
    # True when the executor retries failed jobs itself (Ray task retries); else the dispatch does.
    retries_itself: ClassVar[bool] = False

    def __init__(self, config: ExecutorConfig, runner: Runner | None = None) -> None:
        self.config = config
        self.runner = runner or default_runner()
        # Progress events a worker streams while its job runs (set before ``init``); kinds that
        # cannot stream hand them back with the result instead.
        self.on_event: Callable[[CycleEvent], None] | None = None

    def init(self) -> None:
        """Acquire what jobs need (a worker process, a Ray connection)."""

    @abstractmethod
    def submit(self, job: DomainJob) -> Future:
        """Start ``job``; the future's result is a JobResult, its exception the job's failure."""

    def cancel(self) -> None:
        """Stop every job still running (the cycle was cancelled); nothing of them is used."""

    def finalize(self) -> None:
        """Release what ``init`` acquired."""

    def __enter__(self) -> "Executor":
        self.init()
        return self

    def __exit__(self, *exc) -> None:
        self.finalize()


def worker_label() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def snapshot_path(folder: str | Path, table: str) -> Path:
    return Path(folder) / f"{table}.parquet"
