"""What the adapter pool holds, for metrics: counts from ``PoolStats`` and resident bytes.

Read-only and cheap: the pool keeps each resident adapter's bytes (its LoRA weights and
its head, as the ``--adapter-memory`` budget counts them), so a scrape reads a sum under
the pool's state lock and never touches the model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServingSnapshot:
    resident: int = 0
    resident_bytes: int = 0
    evictions: int = 0
    loads: int = 0


def serving_snapshot(pool) -> ServingSnapshot:
    """Counts and bytes of the adapters resident in ``pool`` (a ``tuner.serving.pool.AdapterPool``)."""
    keys = set(pool.loaded_keys())
    return ServingSnapshot(
        resident=len(keys), resident_bytes=pool.resident_bytes() if keys else 0,
        evictions=pool.stats.evictions, loads=pool.stats.loads,
    )  # fmt: skip
