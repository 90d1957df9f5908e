"""Where a cycle's per-domain jobs run: one validated dataclass, free of torch and Ray.

The server's settings and the CLI import it, so it names the kinds as strings; the
factory (``tuner.executors.factory``) turns it into an executor, importing Ray only
for ``kind="ray"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("inline", "process", "ray")
RAY_INSTALL_HINT = "pip install adaptune[ray]"
# "auto" (join the cluster this machine belongs to), "" (start a local Ray), or HOST:PORT / ray://HOST:PORT.
_HOST_PORT = re.compile(r"^(ray://)?[A-Za-z0-9_.\-]+:(\d{1,5})$")


def check_ray_address(address: str) -> str:
    """``auto``, empty (a local instance) or ``HOST:PORT``; ValueError naming ``ray_address`` otherwise."""
    if not isinstance(address, str):
        raise ValueError(f"ray_address must be 'auto' or HOST:PORT, got {address!r}")
    if address in ("", "auto", "local"):
        return address
    match = _HOST_PORT.match(address)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError(f"ray_address must be 'auto' or HOST:PORT (port 1-65535), got {address!r}")
    return address


@dataclass(frozen=True)
class ExecutorConfig:
    """How the cycle runs its per-domain jobs (probe-selected train, evaluate, stage).

    ``process`` (the server's default) runs them in one spawned worker process beside
    the server, so the server's threads stay free for ingestion and Predict; ``inline``
    runs them in the calling thread (tests, tiny setups, the oracle of the others);
    ``ray`` makes each job a Ray task with ``cpus_per_job`` CPUs (and ``gpus_per_job``
    GPUs) on the cluster at ``ray_address``. A job that raises or whose worker dies is
    run again up to ``max_retries`` times, then reported as failed for its domain.
    ``torch_threads`` caps the worker's torch threads (0: ``cpus_per_job``). ``worker_nice``
    lowers the ``process`` worker's CPU priority (0-19), so on a machine with few cores the
    server's ingestion and Predict threads win the CPU while a cycle trains;
    ``worker_idle_priority`` goes further where the OS has it (Linux ``SCHED_IDLE``): the
    worker only gets CPU time the server leaves idle, since a night's training can wait a
    little but a backend's ingestion call cannot.
    """

    kind: str = "process"
    ray_address: str = ""
    max_retries: int = 1
    cpus_per_job: int = 1
    gpus_per_job: float = 0.0
    torch_threads: int = 0
    worker_nice: int = 10
    worker_idle_priority: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"executor must be one of {list(KINDS)}, got {self.kind!r}")
        check_ray_address(self.ray_address)
        if self.ray_address and self.kind != "ray":
            raise ValueError(f"ray_address is only used with executor 'ray', got executor {self.kind!r}")
        _int_at_least(self, "max_retries", 0)
        _int_at_least(self, "cpus_per_job", 1)
        _int_at_least(self, "torch_threads", 0)
        _int_at_least(self, "worker_nice", 0)
        if self.worker_nice > 19:
            raise ValueError(f"worker_nice must be an integer in 0..19, got {self.worker_nice!r}")
        if not isinstance(self.worker_idle_priority, bool):
            raise ValueError(f"worker_idle_priority must be a bool, got {self.worker_idle_priority!r}")
        gpus = self.gpus_per_job
        if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not math.isfinite(gpus) or gpus < 0:
            raise ValueError(f"gpus_per_job must be a number >= 0, got {gpus!r}")

    @property
    def threads(self) -> int:
        """Torch threads a worker uses."""
        return self.torch_threads or self.cpus_per_job

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _int_at_least(owner: object, name: str, low: int) -> None:
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
