"""One cycle at a time, in a worker thread, with its progress as a stream of events.

The server (``RunCycle``), the nightly scheduler and the demo all go through
``CycleService.start``: it refuses a second cycle while one runs (CycleBusyError naming
it), inserts the ``running`` row synchronously (so the caller knows the cycle id), and
runs the cycle in a thread whose events the caller iterates. ``stop`` cancels the
running cycle (nothing commits) and waits for it.

Torch, transformers and PEFT are imported when the first cycle runs, not when the
server starts (they take seconds to import on a small machine).
"""

from __future__ import annotations

import importlib.util
import functools
import logging
import queue
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from recsys.cycles import CycleRecord, interrupt_stale_cycles, running_cycle, start_cycle
from recsys.domains import get_domain
from recsys.store import Database
from tuner.cycle.config import CycleConfig, CycleRequest
from tuner.cycle.errors import CycleBusyError
from tuner.cycle.progress import CycleEvent
from tuner.public_errors import describe_failure
from tuner.executors.config import RAY_INSTALL_HINT, ExecutorConfig

if TYPE_CHECKING:
    from tuner.cycle.running import CycleResult
    from tuner.loading import BaseModel
    from tuner.registry import AdapterRegistry

log = logging.getLogger("adaptune.cycle")

_END = object()


class CycleHandle:
    """A started cycle: its id, its events as they happen, and its outcome."""

    def __init__(self, record: CycleRecord, config: CycleConfig) -> None:
        self.record = record
        self.config = config
        self.cancel = threading.Event()
        self._events: queue.Queue = queue.Queue()
        self._done = threading.Event()
        self.result: CycleResult | None = None
        # Where its jobs run (the service sets it when it starts the cycle).
        self.executor: ExecutorConfig = ExecutorConfig()
        self.error: BaseException | None = None
        # The newest event, for watchers that are not the one consumer of ``events`` (the dashboard).
        self.latest: CycleEvent | None = None

    @property
    def cycle_id(self) -> str:
        return self.record.cycle_id

    def emit(self, event: CycleEvent) -> None:
        self.latest = event
        self._events.put(event)

    def _finish(self, result: "CycleResult | None", error: BaseException | None) -> None:
        self.result, self.error = result, error
        self._done.set()
        self._events.put(_END)

    def events(self) -> Iterator[CycleEvent]:
        """Every event of the cycle, in order, until it finished or failed (one consumer)."""
        while True:
            item = self._events.get()
            if item is _END:
                return
            yield item

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> "CycleResult":
        """The result; re-raises the cycle's error. TimeoutError when still running."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"cycle {self.cycle_id!r} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class CycleService:
    """Runs cycles on one database for one base model, never two at once."""

    def __init__(
        self,
        db: Database,
        config: CycleConfig,
        adapters_dir: str | Path,
        reports_dir: str | Path,
        *,
        load_base: Callable[[str, str], "BaseModel"] | None = None,
        executor: ExecutorConfig | None = None,
    ) -> None:
        self.db = db
        # Where the per-domain jobs run; a worker process unless told otherwise.
        self.executor = executor or ExecutorConfig()
        self.config = config
        self.adapters_dir = Path(adapters_dir)
        self.reports_dir = Path(reports_dir)
        self._load_base = load_base
        self._lock = threading.Lock()
        self._current: CycleHandle | None = None
        self._thread: threading.Thread | None = None
        self._base: BaseModel | None = None
        self._registry: AdapterRegistry | None = None

    # -- parts loaded on first use ------------------------------------------------------

    @property
    def registry(self) -> "AdapterRegistry":
        if self._registry is None:
            from tuner.registry import AdapterRegistry

            self._registry = AdapterRegistry(self.db, self.adapters_dir)
        return self._registry

    def base(self) -> "BaseModel":
        """The base model, loaded once (in the worker thread of the first cycle)."""
        if self._base is None:
            if self._load_base is None:
                from tuner.loading import load_base

                self._load_base = functools.partial(load_base, device=self.config.device)
            self._base = self._load_base(self.config.base_model, self.config.task)
        return self._base

    # -- lifecycle ----------------------------------------------------------------------

    def recover(self) -> list[str]:
        """At startup: mark cycles left running by a killed process as interrupted."""
        stale = [record.cycle_id for record in interrupt_stale_cycles(self.db)]
        if stale:
            log.warning("cycles %s were interrupted (the server stopped while they ran); nothing of them committed", stale)
        return stale

    def running(self) -> str | None:
        """The id of the cycle running now, if any."""
        handle = self.current()
        return handle.cycle_id if handle is not None else None

    def current(self) -> CycleHandle | None:
        """The handle of the cycle running now, if any (its ``latest`` event is its progress)."""
        with self._lock:
            return self._current if self._current is not None and not self._current.done() else None

    def check_request(self, request: CycleRequest) -> CycleConfig:
        """The config this request runs with; ValueError naming an unknown domain, nothing changed."""
        config = self.config.merged(request)
        unknown = [name for name in config.domains if get_domain(self.db, name) is None]
        if unknown:
            raise ValueError(f"domains {unknown} are not known domains (no interactions name them)")
        return config

    def executor_for(self, request: CycleRequest) -> ExecutorConfig:
        """The server's executor, or the one this run asks for; ValueError naming the field."""
        if request.executor is None:
            return self.executor
        same_kind = request.executor == self.executor.kind
        address = request.ray_address if request.ray_address is not None else (self.executor.ray_address if same_kind else "")
        config = replace(self.executor, kind=request.executor, ray_address=address)
        if config.kind == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError(f"executor 'ray' needs Ray, which is not installed on the server: {RAY_INSTALL_HINT}")
        return config

    def start(self, request: CycleRequest = CycleRequest()) -> CycleHandle:
        """Start a cycle in a worker thread; CycleBusyError (naming it) while one runs."""
        config = self.check_request(request)
        with self._lock:
            if self._current is not None and not self._current.done():
                raise CycleBusyError(self._current.cycle_id)
            stale = running_cycle(self.db)
            if stale is not None:  # a row another process left (recover() was not run)
                raise CycleBusyError(stale.cycle_id)
            executor = self.executor_for(request)
            record = start_cycle(self.db, {"request": request.to_json(), "config": config.to_json()})
            handle = CycleHandle(record, config)
            handle.executor = executor
            self._current = handle
            self._thread = threading.Thread(target=self._run, args=(handle,), name=f"adaptune-{record.cycle_id}", daemon=True)
            self._thread.start()
        return handle

    def run(self, request: CycleRequest = CycleRequest(), on_event: Callable[[CycleEvent], None] | None = None) -> "CycleResult":
        """Start a cycle and wait for it (the scheduler and scripts); events go to ``on_event``."""
        handle = self.start(request)
        for event in handle.events():
            if on_event is not None:
                on_event(event)
        return handle.wait()

    def stop(self, timeout: float = 60.0) -> None:
        """Cancel the running cycle (nothing of it commits) and wait for its thread."""
        with self._lock:
            handle, thread = self._current, self._thread
        if handle is None or thread is None:
            return
        handle.cancel.set()
        thread.join(timeout)
        if thread.is_alive():
            log.error("cycle %s did not stop within %s s", handle.cycle_id, timeout)

    def _run(self, handle: CycleHandle) -> None:
        from recsys.cycles import fail_cycle
        from tuner.cycle.running import Workspace, remove_interrupted_folders, run_started_cycle

        result, error = None, None
        try:
            try:
                base = self.base()
                removed = remove_interrupted_folders(self.db, self.registry)
                if removed:
                    log.info("removed %d adapter folders staged by interrupted cycles: %s", len(removed), removed)
            except BaseException as exc:  # the cycle never started its work: close its row here
                message = describe_failure(log, f"cycle {handle.cycle_id} could not start", exc)
                fail_cycle(self.db, handle.cycle_id, message)
                handle.emit(CycleEvent(handle.cycle_id, "failed", message=message))
                raise
            workspace = Workspace(self.db, self.registry, base, self.reports_dir)
            result = run_started_cycle(workspace, handle.config, handle.record, emit=handle.emit, cancel=handle.cancel,
                                       executor=handle.executor)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the handle
            error = exc
            log.info("cycle %s ended with %s", handle.cycle_id, type(exc).__name__)
        finally:
            handle._finish(result, error)
