"""Many named LoRA adapters on one fork of the base model, gathered per row (``gathered.py``).

Adapters load on demand under their versioned name (``domain@version``), so a newly
promoted version is simply another name and the old one keeps serving the requests
that leased it. A lease pins its adapter: least-recently-used eviction (its slot
zeroed) only removes adapters nobody holds; the resident count never exceeds
``capacity`` and, with ``memory_bytes``, the resident adapters' LoRA and head bytes
(rank x (in + out) per targeted module, 4 bytes each) never exceed that budget. A
request that finds every slot pinned waits, then gives up.

Locks: ``model_lock`` serialises everything that touches the fork (forward passes set
the shared per-row index, loads and evictions fill and zero slots, so two must not
overlap); the state condition guards the bookkeeping. No code holds the state lock
while waiting for the model lock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError
from torch import nn

from tuner.adapters import check_compatible, read_adapter_info
from tuner.heads import ClassifierHead
from tuner.loading import BaseModel
from tuner.serving.errors import AdapterCapacityError, AdapterUnavailableError
from tuner.serving.gathered import GatheredLora, check_targets
from tuner.serving.lora_weights import LoraWeights, read_lora_weights
from tuner.serving.types import AdapterRef

log = logging.getLogger("adaptune.serving")


@dataclass
class LoadedAdapter:
    ref: AdapterRef
    head: ClassifierHead | None
    labels: tuple[str, ...]
    nbytes: int = 0
    refs: int = 0

    @property
    def key(self) -> str:
        return self.ref.key


@dataclass
class PoolStats:
    loads: int = 0
    hits: int = 0
    evictions: int = 0
    failed_loads: int = 0
    peak_resident: int = 0
    waits: int = 0
    # The latest "load key" / "evict key" events, oldest first (bounded: servers run for weeks).
    history: deque[str] = field(default_factory=lambda: deque(maxlen=1000))


class AdapterPool:
    def __init__(
        self,
        base: BaseModel,
        capacity: int,
        *,
        wait_seconds: float = 30.0,
        memory_bytes: int | None = None,
        verify: Callable[[AdapterRef, Path], None] | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        if memory_bytes is not None and (isinstance(memory_bytes, bool) or not isinstance(memory_bytes, int) or memory_bytes < 1):
            raise ValueError(f"memory_bytes must be a positive integer or None, got {memory_bytes!r}")
        self.base = base
        self.capacity = capacity
        self.memory_bytes = memory_bytes
        self.wait_seconds = wait_seconds
        self._verify = verify
        self.model_lock = threading.Lock()
        self.stats = PoolStats()
        self._state = threading.Condition()
        self._loaded: OrderedDict[str, LoadedAdapter] = OrderedDict()
        self._loading: set[str] = set()
        self._evicting: set[str] = set()
        self._bytes: dict[str, int] = {}  # every key loaded, loading or evicting
        self._gathered: GatheredLora | None = None

    # -- what is resident --------------------------------------------------------------

    @property
    def model(self) -> nn.Module:
        """The gathered fork once an adapter was loaded, else the bare base (hold ``model_lock``)."""
        return self._gathered.model if self._gathered is not None else self.base.model

    @property
    def adapters(self) -> GatheredLora | None:
        """The slots to pass to the forward (None until the first adapter loads)."""
        return self._gathered

    def loaded_keys(self) -> list[str]:
        """Resident adapters, least recently used first."""
        with self._state:
            return list(self._loaded)

    def resident_count(self) -> int:
        with self._state:
            return self._resident()

    def slot_names(self) -> list[str]:
        """What the gathered slots themselves hold (the ground truth the bookkeeping must match)."""
        with self.model_lock:
            return self._gathered.names if self._gathered is not None else []

    def resident_bytes(self) -> int:
        """LoRA + head bytes of the adapters loaded, loading or being evicted."""
        with self._state:
            return sum(self._bytes.values())

    def pinned(self) -> dict[str, int]:
        with self._state:
            return {key: entry.refs for key, entry in self._loaded.items() if entry.refs}

    # -- leases ------------------------------------------------------------------------

    def acquire(self, ref: AdapterRef, folder: Path) -> LoadedAdapter:
        """Pin ``ref``'s adapter (loading it, evicting an unpinned one if full); pair with ``release``.

        Raises AdapterUnavailableError when its files are missing or corrupt (nothing
        stays loaded; the files are read before any eviction, so requests for a broken
        adapter cannot push healthy ones out) and AdapterCapacityError when no slot
        frees up in time.
        """
        key = ref.key
        with self._state:
            entry = self._loaded.get(key)
            if entry is not None:
                entry.refs += 1
                self._loaded.move_to_end(key)
                self.stats.hits += 1
                return entry
        try:
            prepared = self._read(ref, Path(folder))
        except AdapterUnavailableError:
            with self._state:
                self.stats.failed_loads += 1
            raise
        nbytes = _adapter_bytes(prepared)
        if self.memory_bytes is not None and nbytes > self.memory_bytes:
            raise AdapterUnavailableError(
                f"adapter {ref.version} of domain {ref.domain!r} needs {nbytes} bytes, more than the whole adapter "
                f"memory budget of {self.memory_bytes} bytes (raise --adapter-memory)"
            )
        deadline = time.monotonic() + self.wait_seconds
        while True:
            with self._state:
                action, target = self._plan(key, deadline, nbytes)
                if action == "hit":
                    return target
            if action == "evict":
                self._evict(target)
                continue
            break  # action == "load": a slot is reserved for key
        try:
            entry = self._load(ref, Path(folder), prepared)
        except BaseException:
            with self._state:
                self._loading.discard(key)
                self._bytes.pop(key, None)
                self.stats.failed_loads += 1
                self._state.notify_all()
            raise
        with self._state:
            self._loading.discard(key)
            entry.refs = 1
            self._loaded[key] = entry
            self.stats.loads += 1
            self.stats.history.append(f"load {key}")
            self.stats.peak_resident = max(self.stats.peak_resident, self._resident())
            self._state.notify_all()
        return entry

    def release(self, key: str) -> None:
        with self._state:
            entry = self._loaded.get(key)
            if entry is None or entry.refs < 1:
                raise RuntimeError(f"adapter {key!r} released more often than acquired")
            entry.refs -= 1
            self._state.notify_all()

    def close(self) -> None:
        """Drop every adapter and the fork (the base is the caller's)."""
        with self.model_lock, self._state:
            self._loaded.clear()
            self._bytes.clear()
            self._gathered = None

    # -- internals ---------------------------------------------------------------------

    def _resident(self) -> int:
        return len(self._loaded) + len(self._loading) + len(self._evicting)

    def _fits(self, nbytes: int) -> bool:
        if self._resident() >= self.capacity:
            return False
        return self.memory_bytes is None or sum(self._bytes.values()) + nbytes <= self.memory_bytes

    def _plan(self, key: str, deadline: float, nbytes: int) -> tuple[str, object]:
        """Under the state lock: hit, reserve a slot to load, or pick a victim; waits when all are pinned."""
        while True:
            entry = self._loaded.get(key)
            if entry is not None:
                entry.refs += 1
                self._loaded.move_to_end(key)
                self.stats.hits += 1
                return "hit", entry
            busy = key in self._loading or key in self._evicting
            if not busy:
                if self._fits(nbytes):
                    self._loading.add(key)
                    self._bytes[key] = nbytes
                    return "load", None
                victim = next((k for k, e in self._loaded.items() if e.refs == 0), None)
                if victim is not None:
                    del self._loaded[victim]
                    self._evicting.add(victim)
                    return "evict", victim
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AdapterCapacityError(
                    f"the adapter slots ({self.capacity}) or memory budget ({self.memory_bytes} bytes) are held by "
                    f"requests in flight; {key!r} could not be loaded within {self.wait_seconds:g} s "
                    "(raise max_adapters / adapter_memory or retry)"
                )
            self.stats.waits += 1
            self._state.wait(remaining)

    def _evict(self, key: str) -> None:
        try:
            with self.model_lock:
                self._discard(key)
        finally:
            with self._state:
                self._evicting.discard(key)
                self._bytes.pop(key, None)
                self.stats.evictions += 1
                self.stats.history.append(f"evict {key}")
                self._state.notify_all()

    def _discard(self, key: str) -> None:
        """Zero ``key``'s slot if it holds one (model lock held)."""
        if self._gathered is not None and key in self._gathered.names:
            self._gathered.unload(key)

    def _read(self, ref: AdapterRef, folder: Path) -> tuple[ClassifierHead | None, tuple[str, ...], LoraWeights]:
        """Everything from disk, checked against the base: fails before the model is touched.

        ``verify`` (the registry's file hashes) runs first and raises its own error.
        """
        if self._verify is not None:
            self._verify(ref, folder)
        try:
            info = read_adapter_info(folder)
            check_compatible(self.base, info, str(folder))
            head, labels = None, ()
            if self.base.task == "classification":
                head, label_list = ClassifierHead.load(folder)
                labels = tuple(label_list)
                if labels != tuple(info.labels):
                    raise ValueError("labels.json disagrees with adaptune.json about the labels")
                if head.weight.shape[1] != self.base.hidden_size:
                    raise ValueError(f"head width {head.weight.shape[1]} != base hidden size {self.base.hidden_size}")
                head.eval().requires_grad_(False)
                head.to(self.base.device)
            weights = read_lora_weights(folder)
            check_targets(self.base.model, weights)
        except (OSError, ValueError, KeyError, TypeError, SafetensorError, json.JSONDecodeError) as error:
            raise AdapterUnavailableError(_unavailable(ref, folder, error)) from error
        return head, labels, weights

    def _load(self, ref: AdapterRef, folder: Path, prepared: tuple) -> LoadedAdapter:
        head, labels, weights = prepared
        key = ref.key
        with self.model_lock:
            try:
                if self._gathered is None:
                    self._gathered = GatheredLora(self.base.fork(), self.capacity, rank=max(weights.max_rank, 1))
                self._gathered.load(key, weights)
            except Exception as error:
                self._discard(key)
                raise AdapterUnavailableError(_unavailable(ref, folder, error)) from error
        return LoadedAdapter(ref, head, labels, _adapter_bytes(prepared))


def _adapter_bytes(prepared: tuple) -> int:
    """What an adapter costs resident: its LoRA pairs (rank x (in + out) per module) and its head."""
    head, _, weights = prepared
    head_bytes = sum(p.numel() * p.element_size() for p in head.parameters()) if head is not None else 0
    return weights.nbytes + head_bytes


def _unavailable(ref: AdapterRef, folder: Path, error: BaseException) -> str:
    """The client's message; the folder and the cause go to the server log only."""
    log.warning("adapter %s of %r cannot be loaded from %s: %r", ref.version, ref.domain, folder, error)
    return (
        f"adapter {ref.version} of domain {ref.domain!r} cannot be loaded: "
        "its files are missing or corrupt (roll back or retrain it)"
    )
