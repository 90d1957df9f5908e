"""Each job a Ray task with its resources: the cycle fanned out over a cluster.

``ray_address`` ``auto`` joins the cluster this machine belongs to, ``HOST:PORT`` a
given one, empty starts a local instance (or uses the one this process already
started, as the tests do). Ray retries a task that raised or whose worker died
(``max_retries``, ``retry_exceptions``) before the dispatch hears of a failure. Workers
need the adapter root and the cycle's snapshot folder on shared storage.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from tuner.executors.base import DomainJob, Executor, ExecutorUnavailableError, Runner, check_picklable
from tuner.executors.config import RAY_INSTALL_HINT


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailableError(f"executor 'ray' needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def _run_in_ray(runner: Runner, job: DomainJob, threads: int):
    from tuner.executors.job import set_torch_threads

    set_torch_threads(threads)
    return runner(job, None)


class RayExecutor(Executor):
    kind = "ray"
    retries_itself = True

    def init(self) -> None:
        ray = self._ray = import_ray()
        self._started_here = False
        if not ray.is_initialized():
            address = self.config.ray_address or None
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ExecutorUnavailableError(
                    f"ray_address {self.config.ray_address or '(local)'!r}: cannot start or join a Ray cluster: {error}"
                ) from error
            self._started_here = True
        self._task = ray.remote(_run_in_ray).options(
            num_cpus=self.config.cpus_per_job, num_gpus=self.config.gpus_per_job,
            max_retries=self.config.max_retries, retry_exceptions=True,
        )  # fmt: skip
        self._refs: list = []

    def submit(self, job: DomainJob) -> Future:
        check_picklable(job, self.runner)
        ref = self._task.remote(self.runner, job, self.config.threads)
        self._refs.append(ref)
        return ref.future()

    def cancel(self) -> None:
        for ref in self._refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - a finished task cannot be cancelled; nothing to do
                pass

    def finalize(self) -> None:
        if getattr(self, "_started_here", False):
            self._ray.shutdown()
