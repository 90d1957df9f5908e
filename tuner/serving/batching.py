"""Concurrent requests share one forward pass, with no batching thread and no added wait.

Each request queues its rows and takes the model lock; whoever gets it runs every
queued request's rows together (up to ``max_rows``), so under load requests for many
adapters ride one mixed batch, and an idle server answers at once. A failing batch is
retried request by request, so one bad request cannot fail the others.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

R = TypeVar("R")  # a row
A = TypeVar("A")  # an answer per row


@dataclass
class _Job(Generic[R, A]):
    rows: Sequence[R]
    answers: list[A] | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class BatchStats:
    passes: int = 0
    rows: int = 0
    requests: int = 0
    largest: int = 0
    retries: int = 0

    @property
    def mean_rows(self) -> float:
        return self.rows / self.passes if self.passes else 0.0


class SharedBatcher(Generic[R, A]):
    """``run(rows) -> answers`` is called under ``lock`` with the rows of one or more requests."""

    def __init__(self, run: Callable[[list[R]], list[A]], lock: threading.Lock, max_rows: int) -> None:
        self._run = run
        self._lock = lock
        self._max_rows = max_rows
        self._pending: deque[_Job[R, A]] = deque()
        self._pending_lock = threading.Lock()
        self.stats = BatchStats()

    @property
    def pending(self) -> int:
        """Requests queued and not yet taken into a forward pass."""
        with self._pending_lock:
            return len(self._pending)

    def submit(self, rows: Sequence[R]) -> list[A]:
        job: _Job[R, A] = _Job(rows)
        with self._pending_lock:
            self._pending.append(job)
        while True:
            with self._lock:
                if job.done:
                    break
                self._execute(self._take())
        if job.error is not None:
            raise job.error
        return job.answers  # type: ignore[return-value]

    def _take(self) -> list[_Job[R, A]]:
        with self._pending_lock:
            jobs = [self._pending.popleft()]
            count = len(jobs[0].rows)
            while self._pending and count + len(self._pending[0].rows) <= self._max_rows:
                count += len(self._pending[0].rows)
                jobs.append(self._pending.popleft())
        return jobs

    def _execute(self, jobs: list[_Job[R, A]]) -> None:
        rows = [row for job in jobs for row in job.rows]
        try:
            answers = self._run(rows)
            self._record(len(rows), len(jobs))
            start = 0
            for job in jobs:
                job.answers = answers[start : start + len(job.rows)]
                start += len(job.rows)
        except Exception as error:  # noqa: BLE001 - isolate the request that failed
            if len(jobs) == 1:
                jobs[0].error = error
            else:
                self.stats.retries += 1
                for job in jobs:
                    try:
                        job.answers = self._run(list(job.rows))
                        self._record(len(job.rows), 1)
                    except Exception as own:  # noqa: BLE001
                        job.error = own
        finally:
            for job in jobs:
                if job.answers is None and job.error is None:
                    job.error = RuntimeError("the shared forward pass was interrupted")
                job.done = True

    def _record(self, rows: int, requests: int) -> None:
        self.stats.passes += 1
        self.stats.rows += rows
        self.stats.requests += requests
        self.stats.largest = max(self.stats.largest, rows)
