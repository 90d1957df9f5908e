"""Assemble the gRPC server (``create_server``) and run it until a signal (``serve``).

Building and running are separate so tests start the real server on 127.0.0.1:0 in
process. Every service is added by one installer in ``SERVICE_INSTALLERS``; health and
reflection cover whatever the installers return.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from recsys.store import Database
from server.auth import AuthInterceptor
from server.config import ServerConfig
from server.context import AppContext
from server.handlers import UndecodableRequestGuard
from server.store_health import StoreHealthMonitor
from server.streams import StreamGuard
from server.metrics import MetricsSources, ServerMetrics
from server.metrics_interceptor import RpcMetricsInterceptor
from server.tls import http_ssl_context, server_credentials
from server.servicers import interactions, ranking, tuning, variants
from server.storage import open_store

log = logging.getLogger("adaptune.server")

# Adds one service to the server and returns its full name (for health and reflection).
ServiceInstaller = Callable[[grpc.Server, AppContext], str]

SERVICE_INSTALLERS: list[ServiceInstaller] = [
    interactions.install,
    ranking.install,
    variants.install,
    tuning.install,
    # Later work adds one line each: ranking.install, tuning.install, variants.install.
]


def create_server(
    config: ServerConfig, *, db: Database | None = None, http_ssl: ssl.SSLContext | None = None
) -> tuple[grpc.Server, int, AppContext]:
    """Build (not start) the server: services, health, reflection, auth, limits; bind the port.

    Opens the store at ``config.db_path`` unless ``db`` is given; raises
    ``StoreLockedError`` when another process holds the file. With ``config.http_port``
    set, the dashboard and /metrics listen too (``context.http_port``; TLS with ``http_ssl``).
    """
    opened = db is None
    db = open_store(config.db_path) if db is None else db
    try:
        server, context = _build(config, db)
        credentials = server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)
        port = server.add_secure_port(config.address, credentials) if credentials else server.add_insecure_port(config.address)
        context.store_health.start()
        context.on_stop.insert(0, context.store_health.stop)
        if config.http_port is not None:
            from server.http import start_http

            if http_ssl is None:  # the same certificate (and client CA) as the gRPC port
                http_ssl = http_ssl_context(config.tls_cert, config.tls_key, config.tls_client_ca)
            start_http(context, ssl_context=http_ssl)
    except RuntimeError as exc:
        if opened:
            db.close()
        raise OSError(f"cannot listen on {config.address}: {exc}") from exc
    except BaseException:
        if opened:
            db.close()
        raise
    return server, port, context


def _build(config: ServerConfig, db: Database) -> tuple[grpc.Server, AppContext]:
    context = AppContext(config=config, db=db)
    context.metrics = ServerMetrics(MetricsSources(db, serving=lambda: _serving_snapshot(context)))
    # Metrics first, so refused calls (auth, stream cap, undecodable bytes) are counted too.
    interceptors: list[grpc.ServerInterceptor] = [RpcMetricsInterceptor(context.metrics)]
    tokens = config.token_table()
    if tokens is not None:
        interceptors.append(AuthInterceptor(tokens))
    interceptors += [StreamGuard(config.stream_limit, config.stream_idle_seconds), UndecodableRequestGuard()]
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # Two servers must not share a port silently.
        ("grpc.so_reuseport", 0),
    ]
    pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="adaptune-rpc")
    server = grpc.server(pool, interceptors=interceptors, options=options)
    names = [install(server, context) for install in SERVICE_INSTALLERS]

    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # SERVING while the store can write, re-checked (server.store_health).
    context.store_health = StoreHealthMonitor(db, health_servicer, ["", *names], config.health_interval_seconds)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    context.health = health_servicer
    return server, context


# After ``grace``, how long stopping may still wait for gRPC and for the store's write lock.
STOP_MARGIN_S = 5.0


def _serving_snapshot(context: AppContext):
    """The adapter pool's counts once the serving engine loaded, else None (nothing resident)."""
    engine = context.engines.loaded() if context.engines is not None else None
    if engine is None:
        return None
    from tuner.serving.residency import serving_snapshot

    return serving_snapshot(engine.pool)


def stop_server(server: grpc.Server, context: AppContext, grace: float | None = None) -> bool:
    """Graceful stop: health goes NOT_SERVING, new calls are refused, in-flight calls get
    ``grace`` seconds, then resources are released and the store is closed.

    Every wait is bounded (``--grace`` is enforced): the store closes under its write lock
    when a batch being committed finishes within the margin, and without it otherwise (an
    uncommitted batch is rolled back). Returns False when something did not stop in time.
    """
    grace = context.config.grace_seconds if grace is None else grace
    if context.health is not None:
        context.health.enter_graceful_shutdown()  # NOT_SERVING before calls are refused
    clean = server.stop(grace).wait(grace + STOP_MARGIN_S)
    if not clean:
        log.error("gRPC did not finish stopping within %g s; closing anyway", grace + STOP_MARGIN_S)
    for callback in context.on_stop:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one part failing to clean up must not keep the store open
            log.exception("stop callback %r failed", callback)
    locked = context.db.write_lock.acquire(timeout=STOP_MARGIN_S)
    try:
        if not locked:
            log.error("a call still held the store's write lock %g s after the grace period; closing the store", STOP_MARGIN_S)
        context.db.close()
    finally:
        if locked:
            context.db.write_lock.release()
    return clean and locked


def serve(config: ServerConfig, *, port_file: Path | None = None) -> int:
    """Run until SIGTERM or SIGINT, then stop gracefully; returns the exit code.

    The signal handlers are installed before the port is announced, so a SIGTERM that
    follows the port file closely still stops gracefully instead of killing the process.
    """
    stop_requested = threading.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda number, frame: stop_requested.set()) for sig in signals}
    try:
        server, port, context = create_server(config)
        server.start()
        try:
            # Everything alive now (modules, descriptors, the store) lives as long as the process:
            # moving it out of the collector's generations keeps full collections during ingestion cheap.
            gc.freeze()
            auth = "scoped tokens" if config.token_file else "bearer token required" if config.token else "no auth"
            auth += ", mutual TLS" if config.tls_client_ca else ", TLS" if config.tls_cert else ", plain TCP"
            print(f"adaptune serving on {config.host}:{port} (db {config.db_path}, {auth}, pid {os.getpid()})", flush=True)
            if context.http_port is not None:
                scheme = "https" if config.tls_cert else "http"
                print(f"dashboard and /metrics on {scheme}://{config.http_host}:{context.http_port}/", flush=True)
            if port_file is not None:
                _write_port_file(Path(port_file), port)
            while not stop_requested.wait(0.5):
                pass
            print(f"stopping: finishing in-flight calls (grace {config.grace_seconds:g} s)", flush=True)
        finally:
            clean = stop_server(server, context)
            if port_file is not None:
                Path(port_file).unlink(missing_ok=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not clean:
        # A call thread ignored cancellation: the interpreter would wait for it at exit forever.
        print("stopped (some calls did not finish within the grace period)", flush=True)
        os._exit(0)
    print("stopped", flush=True)
    return 0


def _write_port_file(path: Path, port: int) -> None:
    """Written after the server started, atomically, so a reader never sees a partial port."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n")
    tmp.replace(path)
