"""Jobs run in the calling thread, on the caller's loaded base: tests, tiny setups, the oracle.

The same runner and the same snapshot as the other kinds, so whatever differs between
an inline cycle and a process or Ray cycle is the executor, not the job.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from tuner.executors.base import DomainJob, Executor, Runner, check_picklable
from tuner.executors.config import ExecutorConfig

if TYPE_CHECKING:
    from tuner.loading import BaseModel


class InlineExecutor(Executor):
    kind = "inline"

    def __init__(self, config: ExecutorConfig, runner: Runner | None = None, base: "BaseModel | None" = None) -> None:
        super().__init__(config, runner)
        self.base = base

    def submit(self, job: DomainJob) -> Future:
        check_picklable(job, self.runner)
        future: Future = Future()
        try:
            future.set_result(self.runner(job, self.base))
        except Exception as error:  # noqa: BLE001 - handed to the dispatch like a remote failure
            future.set_exception(error)
        return future
