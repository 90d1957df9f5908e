"""Streams cannot take the server's threads: a cap on concurrent streams and an idle timeout.

Each gRPC call holds a worker thread for as long as it runs. A stream that a client opens
and never finishes would hold one forever; ``--workers`` of them made the server deaf,
health checks included. ``StreamGuard`` refuses streams beyond ``max_streams`` (below the
pool size, so unary calls and health always find a thread) with RESOURCE_EXHAUSTED, and
cancels a client stream that sends nothing for ``idle_seconds`` (what it sent before was
already committed).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator

import grpc

from server.handlers import Behavior, replace_behavior

log = logging.getLogger("adaptune.server")

HEALTH_PREFIX = "/grpc.health.v1.Health/"


class IdleWatchdog:
    """One thread cancels the calls whose client stream has been silent past its deadline."""

    def __init__(self, idle_seconds: float, tick: float = 0.2) -> None:
        self.idle_seconds = idle_seconds
        self._deadlines: dict[int, tuple[float, grpc.ServicerContext]] = {}
        self._lock = threading.Lock()
        self._tick = tick
        self._thread: threading.Thread | None = None

    def watch(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        """``requests`` with the clock running only while the server waits for the client."""
        key = id(context)
        iterator = iter(requests)
        try:
            while True:
                self._arm(key, context)
                try:
                    request = next(iterator)
                except StopIteration:
                    return
                finally:
                    self._disarm(key)
                yield request
        finally:
            self._disarm(key)

    def _arm(self, key: int, context: grpc.ServicerContext) -> None:
        with self._lock:
            self._deadlines[key] = (time.monotonic() + self.idle_seconds, context)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="adaptune-stream-idle", daemon=True)
                self._thread.start()

    def _disarm(self, key: int) -> None:
        with self._lock:
            self._deadlines.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                expired = [(k, c) for k, (deadline, c) in self._deadlines.items() if deadline <= now]
                for key, _ in expired:
                    del self._deadlines[key]
                if not self._deadlines:  # nothing left to watch: the next armed stream starts a new thread
                    self._thread = None
                    stop = True
                else:
                    stop = False
            for _, context in expired:
                log.info("cancelling a stream from %s: idle for %g s", context.peer(), self.idle_seconds)
                context.cancel()
            if stop:
                return


class StreamGuard(grpc.ServerInterceptor):
    def __init__(self, max_streams: int, idle_seconds: float, exempt_prefixes: tuple[str, ...] = (HEALTH_PREFIX,)):
        self.max_streams = max_streams
        self._slots = threading.BoundedSemaphore(max_streams)
        self._watchdog = IdleWatchdog(idle_seconds)
        self._exempt = exempt_prefixes

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._exempt):
            return handler
        if not (handler.request_streaming or handler.response_streaming):
            return handler
        return replace_behavior(handler, self._guarded)

    def _enter(self, context: grpc.ServicerContext) -> None:
        if not self._slots.acquire(blocking=False):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many open streams (the server allows {self.max_streams} at once); retry later",
            )

    def _guarded(self, behavior: Behavior, handler: grpc.RpcMethodHandler) -> Behavior:
        watch = self._watchdog.watch if handler.request_streaming else (lambda requests, context: requests)

        if handler.response_streaming:

            def streaming(request, context):
                self._enter(context)
                try:
                    yield from behavior(watch(request, context), context)
                finally:
                    self._slots.release()

            return streaming

        def unary(request, context):
            self._enter(context)
            try:
                return behavior(watch(request, context), context)
            finally:
                self._slots.release()

        return unary
