"""Server settings: one dataclass, validated on construction, shared by CLI, app and tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from recsys.events.validate import EventLimits
from tuner.cycle.config import CycleConfig
from tuner.executors.config import ExecutorConfig
from tuner.serving.config import ServingConfig

DEFAULT_DB_PATH = Path("var/adaptune.duckdb")
DEFAULT_ADAPTERS_DIR = Path("var/adapters")
DEFAULT_REPORTS_DIR = Path("var/reports")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
TOKEN_ENV = "ADAPTUNE_TOKEN"


@dataclass(frozen=True)
class ServerConfig:
    """Where the server listens, what it stores, and the limits it enforces."""

    db_path: Path = DEFAULT_DB_PATH
    host: str = DEFAULT_HOST
    # 0 picks a free port (tests); the bound port is returned by create_server.
    port: int = DEFAULT_PORT
    # When set, every RPC except health checks needs "authorization: Bearer <token>".
    token: str | None = None
    # Scoped tokens per tenant (JSON, see server.scopes); may be combined with ``token``.
    token_file: Path | None = None
    # Largest request or response message; gRPC answers RESOURCE_EXHAUSTED above it.
    max_message_bytes: int = 16 * 1024 * 1024
    # Largest InteractionBatch, in events; bigger batches get RESOURCE_EXHAUSTED.
    max_events_per_batch: int = 10_000
    # On SIGTERM, in-flight calls get this long to finish before they are cancelled.
    grace_seconds: float = 10.0
    workers: int = 8
    # Streams open at once (default workers - 2, at least 1): the rest of the pool stays free
    # for unary calls and health checks. A client stream silent this long is cancelled.
    max_streams: int | None = None
    stream_idle_seconds: float = 120.0
    # TLS on the port (PEM files); with tls_client_ca, clients must present a certificate
    # signed by it (mutual TLS). None: a plain port.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # Health re-checks that the store can write this often (NOT_SERVING when it cannot).
    health_interval_seconds: float = 2.0
    adapters_dir: Path = DEFAULT_ADAPTERS_DIR
    limits: EventLimits = field(default_factory=EventLimits)
    # What a tuning cycle does, on which base model (RunCycle and the nightly schedule).
    cycle: CycleConfig = field(default_factory=CycleConfig)
    # Where a cycle's per-domain jobs run (default: a spawned worker process beside the server).
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    # Run a cycle every day at this local time, "HH:MM"; None: only on request.
    nightly_at: str | None = None
    # Cycle reports (Markdown + PNGs) go to <reports_dir>/<cycle_id>/.
    reports_dir: Path = DEFAULT_REPORTS_DIR
    # VariantService: base model, task, adapter cache size, Predict limits.
    serving: ServingConfig = field(default_factory=ServingConfig)
    # Dashboard and /metrics over HTTP (server/http): off when None, 0 picks a free port.
    http_port: int | None = None
    http_host: str = DEFAULT_HOST

    def __post_init__(self) -> None:
        object.__setattr__(self, "db_path", Path(self.db_path))
        object.__setattr__(self, "adapters_dir", Path(self.adapters_dir))
        object.__setattr__(self, "reports_dir", Path(self.reports_dir))
        if self.token_file is not None:
            object.__setattr__(self, "token_file", Path(self.token_file))
            self.token_table()  # a malformed file is refused here, naming the entry and field
        for name in ("tls_cert", "tls_key", "tls_client_ca"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        from server.tls import check_tls_files

        check_tls_files(self.tls_cert, self.tls_key, self.tls_client_ca)
        if not isinstance(self.host, str) or not self.host.strip():
            raise ValueError(f"host must be a non-empty address, got {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be an integer in 0-65535, got {self.port!r}")
        if self.token is not None and (not isinstance(self.token, str) or not self.token or self.token != self.token.strip()
                                       or any(c.isspace() for c in self.token)):
            # The value is a secret: the message names the field, never the token.
            raise ValueError("token must be a non-empty string without whitespace (value not shown)")
        _positive_int("max_message_bytes", self.max_message_bytes, minimum=1024, maximum=2**31 - 1)
        _positive_int("max_events_per_batch", self.max_events_per_batch)
        _positive_int("workers", self.workers)
        if self.max_streams is not None:
            _positive_int("max_streams", self.max_streams, maximum=max(1, self.workers - 1))
        _positive_number("stream_idle_seconds", self.stream_idle_seconds)
        _positive_number("health_interval_seconds", self.health_interval_seconds)
        grace = self.grace_seconds
        if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not 0 <= grace < float("inf"):
            raise ValueError(f"grace_seconds must be a finite number >= 0, got {grace!r}")
        if not isinstance(self.limits, EventLimits):
            raise ValueError(f"limits must be an EventLimits, got {type(self.limits).__name__}")
        if not isinstance(self.cycle, CycleConfig):
            raise ValueError(f"cycle must be a CycleConfig, got {type(self.cycle).__name__}")
        if not isinstance(self.executor, ExecutorConfig):
            raise ValueError(f"executor must be an ExecutorConfig, got {type(self.executor).__name__}")
        if self.nightly_at is not None:
            from server.scheduler import parse_time_of_day

            parse_time_of_day(self.nightly_at)
        if self.http_port is not None and (isinstance(self.http_port, bool) or not isinstance(self.http_port, int)
                                           or not 0 <= self.http_port <= 65535):
            raise ValueError(f"http_port must be None (off) or an integer in 0-65535, got {self.http_port!r}")
        if not isinstance(self.http_host, str) or not self.http_host.strip():
            raise ValueError(f"http_host must be a non-empty address, got {self.http_host!r}")
        if not isinstance(self.serving, ServingConfig):
            raise ValueError(f"serving must be a ServingConfig, got {type(self.serving).__name__}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def token_table(self):
        """Who may call: the token file's principals plus ``token`` as an all-powerful one; None: no auth."""
        from server.scopes import TokenTable

        tables = [TokenTable.load(self.token_file)] if self.token_file else []
        tables += [TokenTable.single(self.token)] if self.token else []
        if not tables:
            return None
        return tables[0].merged(tables[1]) if len(tables) == 2 else tables[0]

    @property
    def stream_limit(self) -> int:
        return self.max_streams or max(1, self.workers - 2)

    @property
    def event_limits(self) -> EventLimits:
        """The event limits with this server's batch size."""
        if self.limits.max_batch_events == self.max_events_per_batch:
            return self.limits
        return replace(self.limits, max_batch_events=self.max_events_per_batch)


def _positive_int(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        bound = f"{minimum}-{maximum}" if maximum else f">= {minimum}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def _positive_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def resolve_token(flag: str | None) -> str | None:
    """The bearer token: the command-line flag, else $ADAPTUNE_TOKEN, else none (auth off)."""
    return flag or os.environ.get(TOKEN_ENV) or None
