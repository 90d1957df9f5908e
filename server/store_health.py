"""Health that reflects the store: NOT_SERVING while the DuckDB file cannot be written.

A thread re-checks every ``interval`` seconds: a tiny write transaction (the probe) must
commit, and the last real transaction must not have failed (``Database.write_error``,
cleared when one commits again). Health used to be set once at start, so a server whose
every ingest failed still said SERVING.
"""

from __future__ import annotations

import logging
import threading

import duckdb
from grpc_health.v1 import health, health_pb2

from recsys.store import Database
from recsys.store.transactions import transaction

log = logging.getLogger("adaptune.server")

# A real change (an unchanged value would not reach the WAL), in a table nothing else reads.
_PROBE_SQL = "INSERT OR REPLACE INTO store_probe VALUES (1, now())"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def probe_store(db: Database, lock_timeout: float = 1.0) -> bool | None:
    """True when a write commits, False when it fails, None when writers kept the lock busy."""
    if not db.write_lock.acquire(timeout=lock_timeout):
        return None
    try:
        cursor = db.cursor()
        try:
            with transaction(cursor):
                cursor.execute(_PROBE_SQL)
            return True
        finally:
            cursor.close()
    except duckdb.Error as exc:
        log.warning("store probe failed: %s", exc)
        return False
    finally:
        db.write_lock.release()


class StoreHealthMonitor:
    def __init__(self, db: Database, servicer: health.HealthServicer, services: list[str], interval: float = 2.0):
        self._db = db
        self._servicer = servicer
        self._services = services
        self._interval = interval
        self._stop = threading.Event()
        self._probe_ok = True
        self.serving: bool | None = None  # nothing published yet
        self._thread = threading.Thread(target=self._run, name="adaptune-store-health", daemon=True)

    def start(self) -> None:
        self.check()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._interval + 5)

    def check(self) -> bool:
        """Probe now and publish the status; returns whether the store can write."""
        outcome = probe_store(self._db)
        if outcome is not None:
            self._probe_ok = outcome
        serving = self._probe_ok and self._db.write_error is None
        if serving != self.serving:  # publish changes only: Watch streams hear each one once
            if self.serving is not None or not serving:
                log.warning("store %s: health %s", self._db.path, "SERVING" if serving else "NOT_SERVING")
            for name in self._services:
                self._servicer.set(name, SERVING if serving else NOT_SERVING)
        self.serving = serving
        return serving

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the monitor must outlive one bad check
                log.exception("store health check failed")
