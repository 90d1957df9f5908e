"""Many named LoRA adapters on one PEFT-wrapped fork of the base model.

Adapters load on demand under their versioned name (``domain@version``), so a newly
promoted version is simply another name and the old one keeps serving the requests
that leased it. A lease pins its adapter: least-recently-used eviction (PEFT
``delete_adapter``) only removes adapters nobody holds, and the resident count never
exceeds ``capacity``; a request that finds every slot pinned waits, then gives up.

Locks: ``model_lock`` serialises everything that touches the PEFT model (forward
passes, loads, deletes: PEFT injects ``adapter_names`` through module hooks, so two
forward passes must not overlap); the state condition guards the bookkeeping. No code
holds the state lock while waiting for the model lock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from typing import Callable
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

from peft import PeftModel, get_peft_model_state_dict
from safetensors import SafetensorError, safe_open
from torch import nn

from tuner.adapters import LORA_WEIGHTS_FILE, check_compatible, quiet_peft, read_adapter_info
from tuner.heads import ClassifierHead
from tuner.loading import BaseModel
from tuner.serving.errors import AdapterCapacityError, AdapterUnavailableError
from tuner.serving.types import AdapterRef

log = logging.getLogger("adaptune.serving")


@dataclass
class LoadedAdapter:
    ref: AdapterRef
    head: ClassifierHead | None
    labels: tuple[str, ...]
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
        verify: Callable[[AdapterRef, Path], None] | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.base = base
        self.capacity = capacity
        self.wait_seconds = wait_seconds
        self._verify = verify
        self.model_lock = threading.Lock()
        self.stats = PoolStats()
        self._state = threading.Condition()
        self._loaded: OrderedDict[str, LoadedAdapter] = OrderedDict()
        self._loading: set[str] = set()
        self._evicting: set[str] = set()
        self._peft: PeftModel | None = None

    # -- what is resident --------------------------------------------------------------

    @property
    def model(self) -> nn.Module:
        """The PEFT model once an adapter was loaded, else the bare base (hold ``model_lock``)."""
        return self._peft if self._peft is not None else self.base.model

    @property
    def wraps_adapters(self) -> bool:
        return self._peft is not None

    def loaded_keys(self) -> list[str]:
        """Resident adapters, least recently used first."""
        with self._state:
            return list(self._loaded)

    def resident_count(self) -> int:
        with self._state:
            return self._resident()

    def peft_adapter_names(self) -> list[str]:
        """What the PEFT model itself holds (the ground truth the bookkeeping must match)."""
        with self.model_lock:
            return sorted(self._peft.peft_config) if self._peft is not None else []

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
        deadline = time.monotonic() + self.wait_seconds
        while True:
            with self._state:
                action, target = self._plan(key, deadline)
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
        """Drop every adapter and the PEFT model (the base is the caller's)."""
        with self.model_lock, self._state:
            self._loaded.clear()
            self._peft = None

    # -- internals ---------------------------------------------------------------------

    def _resident(self) -> int:
        return len(self._loaded) + len(self._loading) + len(self._evicting)

    def _plan(self, key: str, deadline: float) -> tuple[str, object]:
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
                if self._resident() < self.capacity:
                    self._loading.add(key)
                    return "load", None
                victim = next((k for k, e in self._loaded.items() if e.refs == 0), None)
                if victim is not None:
                    del self._loaded[victim]
                    self._evicting.add(victim)
                    return "evict", victim
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AdapterCapacityError(
                    f"all {self.capacity} adapter slots are held by requests in flight; {key!r} could not be loaded "
                    f"within {self.wait_seconds:g} s (raise max_adapters or retry)"
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
                self.stats.evictions += 1
                self.stats.history.append(f"evict {key}")
                self._state.notify_all()

    def _discard(self, key: str) -> None:
        """Delete ``key`` from the PEFT model if present and keep a valid active adapter (model lock held)."""
        peft = self._peft
        if peft is None or key not in peft.peft_config:
            return
        with quiet_peft(), warnings.catch_warnings():
            # "Adapter X was active which is now deleted": expected, the next line picks one.
            warnings.filterwarnings("ignore", message=".*was active which is now deleted.*", category=UserWarning)
            peft.delete_adapter(key)
            remaining = list(peft.peft_config)
            if remaining and peft.active_adapter not in remaining:
                peft.set_adapter(remaining[0], inference_mode=True)

    def _read(self, ref: AdapterRef, folder: Path) -> tuple[ClassifierHead | None, tuple[str, ...], set[str]]:
        """Everything from disk except the LoRA weights' injection: fails before the model is touched.

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
            with safe_open(str(folder / LORA_WEIGHTS_FILE), framework="pt") as weights:
                keys = set(weights.keys())
        except (OSError, ValueError, KeyError, TypeError, SafetensorError, json.JSONDecodeError) as error:
            raise AdapterUnavailableError(_unavailable(ref, folder, error)) from error
        return head, labels, keys

    def _load(self, ref: AdapterRef, folder: Path, prepared: tuple) -> LoadedAdapter:
        head, labels, saved_keys = prepared
        key = ref.key
        with self.model_lock:
            try:
                with quiet_peft():
                    if self._peft is None:
                        self._peft = PeftModel.from_pretrained(self.base.fork(), str(folder), adapter_name=key, is_trainable=False)
                    else:
                        self._peft.load_adapter(str(folder), adapter_name=key, is_trainable=False)
                        if self._peft.active_adapter not in self._peft.peft_config:
                            self._peft.set_adapter(key, inference_mode=True)
                loaded = set(get_peft_model_state_dict(self._peft, adapter_name=key))
                if loaded != saved_keys:
                    missing = sorted(saved_keys - loaded) or sorted(loaded - saved_keys)
                    raise ValueError(f"the saved LoRA weights do not match the model's modules (e.g. {missing[:2]})")
                self._peft.eval()
            except Exception as error:
                self._discard(key)
                raise AdapterUnavailableError(_unavailable(ref, folder, error)) from error
        return LoadedAdapter(ref, head, labels)


def _unavailable(ref: AdapterRef, folder: Path, error: BaseException) -> str:
    """The client's message; the folder and the cause go to the server log only."""
    log.warning("adapter %s of %r cannot be loaded from %s: %r", ref.version, ref.domain, folder, error)
    return (
        f"adapter {ref.version} of domain {ref.domain!r} cannot be loaded: "
        "its files are missing or corrupt (roll back or retrain it)"
    )
