"""What the adapter pool holds, for metrics: counts from ``PoolStats`` and the bytes of LoRA weights.

Read-only and cheap: it walks the PEFT model's parameters under the model lock (the
same lock a forward pass holds), so a scrape never sees a half-loaded adapter.
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
    """Counts and weight bytes of the adapters resident in ``pool`` (a ``tuner.serving.pool.AdapterPool``)."""
    keys = set(pool.loaded_keys())
    total = 0
    if keys:
        with pool.model_lock:
            for name, parameter in pool.model.named_parameters():
                parts = name.split(".")
                if any(part in keys for part in parts):
                    total += parameter.numel() * parameter.element_size()
    return ServingSnapshot(resident=len(keys), resident_bytes=total, evictions=pool.stats.evictions, loads=pool.stats.loads)
