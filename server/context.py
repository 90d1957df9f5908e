"""What every servicer may depend on, built once by ``create_server``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from grpc_health.v1.health import HealthServicer

from recsys.store import Database
from server.config import ServerConfig
from server.store_health import StoreHealthMonitor

if TYPE_CHECKING:
    from server.metrics import ServerMetrics


@dataclass
class AppContext:
    """The server's shared parts; servicers take what they need from it in ``install``.

    Parts that hold resources (model pools, executors) register a callback in
    ``on_stop``; it runs after in-flight calls finished and before the store closes.
    """

    config: ServerConfig
    db: Database
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    # Set by create_server; stop_server turns it NOT_SERVING first.
    health: HealthServicer | None = None
    store_health: StoreHealthMonitor | None = None
    # Set by create_server; servicers record into it (server/metrics.py).
    metrics: "ServerMetrics | None" = None
    # Set by the installers that own them, for the dashboard and the scrape-time metrics:
    # the CycleService (tuning.install) and the lazily loaded serving engine (variants.install).
    cycles: Any = None
    engines: Any = None
    # The dashboard's bound port when config.http_port is set (server/http).
    http_port: int | None = None
