"""Jobs run in one worker process spawned beside the server (the server's default).

The server's threads stay free for ingestion and Predict while the worker trains with
its own torch threads. Spawned, never forked: forking a process that already runs
gRPC, DuckDB and torch threads can hang (kedro PR 4801). A worker that dies (killed,
out of memory) breaks the pool: the job fails with BrokenProcessPool, the dispatch
retries it, and the next submit starts a fresh worker.
"""

from __future__ import annotations

import multiprocessing
import logging
import multiprocessing.queues
import os
import queue
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tuner.executors.base import DomainJob, Executor, check_picklable

PARENT_POLL_SECONDS = 1.0
EVENT_POLL_SECONDS = 0.1
SPAWN = multiprocessing.get_context("spawn")


def _init_worker(threads: int, nice: int, idle: bool, events: multiprocessing.queues.Queue) -> None:
    from tuner.executors.job import set_torch_threads, stream_events_to

    if nice:
        os.nice(nice)
    if idle:
        lower_to_idle_priority()
    set_torch_threads(threads)
    events.cancel_join_thread()  # exiting never waits on the queue (a killed sibling may hold its lock)
    stream_events_to(events.put)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="adaptune-parent-watch", daemon=True).start()


def lower_to_idle_priority() -> bool:
    """Linux ``SCHED_IDLE`` for this process (threads started later inherit it); False where unavailable."""
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_IDLE"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError as error:
        log.warning("the worker keeps its nice level only: SCHED_IDLE was refused (%s)", error)
        return False
    return True


def _exit_with_parent(parent: int) -> None:
    """A server killed outright must not leave its worker training and staging folders later."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


log = logging.getLogger("adaptune.executors")


class ProcessExecutor(Executor):
    kind = "process"

    def init(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_count = 0
        self._events = SPAWN.Queue()  # replaced with the pool: a killed worker may leave it locked
        self._draining = threading.Event()
        self._drainer = threading.Thread(target=self._drain, name="adaptune-job-events", daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        """Hand the worker's progress events to ``on_event`` as they come (training steps live)."""
        while not self._draining.is_set():
            try:
                event = self._events.get(timeout=EVENT_POLL_SECONDS)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                if self._draining.is_set():
                    return
                time.sleep(EVENT_POLL_SECONDS)  # the queue was replaced with a fresh worker: read the new one
                continue
            except Exception:  # noqa: BLE001 - one unreadable event must not silence the rest
                log.exception("a worker's progress event could not be read; skipping it")
                continue
            if self.on_event is not None:
                try:
                    self.on_event(event)
                except Exception:  # noqa: BLE001 - progress is best effort; the job's result still counts
                    log.exception("a worker's progress event could not be delivered; skipping it")

    def _live_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                if self._pool_count:
                    self._events = SPAWN.Queue()
                self._pool_count += 1
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=SPAWN,
                    initializer=_init_worker, initargs=(self.config.threads, self.config.worker_nice, self.config.worker_idle_priority, self._events),
                )  # fmt: skip
            return self._pool

    def _drop_pool(self, pool: ProcessPoolExecutor, *, kill: bool = False) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if kill:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, job: DomainJob) -> Future:
        check_picklable(job, self.runner)
        pool = self._live_pool()
        try:
            future = pool.submit(self.runner, job, None)
        except BrokenProcessPool:  # the worker died after the last job: start a fresh one
            self._drop_pool(pool)
            pool = self._live_pool()
            future = pool.submit(self.runner, job, None)

        def forget_broken(done: Future) -> None:
            if isinstance(done.exception(), BrokenProcessPool):
                self._drop_pool(pool)

        future.add_done_callback(forget_broken)
        return future

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker(s): what an operator (or a test) would kill."""
        with self._lock:
            pool = self._pool
        return [p.pid for p in (getattr(pool, "_processes", None) or {}).values() if p.pid] if pool else []

    def cancel(self) -> None:
        with self._lock:
            pool = self._pool
        if pool is not None:
            self._drop_pool(pool, kill=True)

    def finalize(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._draining.set()
        self._drainer.join()
        self._events.close()
