"""ServingEngine: resolve a user's variant and run it on the shared base model.

One base model per process (``BaseModel``), one fork of it holding every resident
adapter in gathered slots (``AdapterPool``), concurrent classification requests joined into
mixed-adapter forward passes (``SharedBatcher``). A request resolves its variant,
leases its adapter version, runs, and releases: a promotion in between changes what
the next request resolves, never what a running one uses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from recsys.store import Database
from tuner.encoding import encode_prompts, encode_texts
from tuner.heads import ClassifierHead
from tuner.integrity import refuse_non_finite, verify_folder
from tuner.loading import BaseModel, load_base
from tuner.registry import AdapterRegistry
from tuner.serving.batching import SharedBatcher
from tuner.serving.config import ServingConfig
from tuner.serving.errors import BaseModelUnavailableError
from tuner.serving.forward import Row, classify_rows, generate_rows
from tuner.serving.pool import AdapterPool
from tuner.serving.requests import GenerationOptions, check_inputs
from tuner.serving.routing import UserRouter
from tuner.serving.types import BASE_ADAPTER, Prediction, PredictResult, Variant
from tuner.serving.variants import ResolvedVariant, VariantResolver
from tuner.serving.zero_shot import ZeroShotHeads


@dataclass
class Lease:
    """A resolved variant pinned for one request: its adapter cannot be evicted until released."""

    resolved: ResolvedVariant
    adapter_name: str
    head: ClassifierHead | None
    labels: tuple[str, ...]
    _pool: AdapterPool | None = None
    released: bool = False

    @property
    def variant(self) -> Variant:
        return self.resolved.variant

    def release(self) -> None:
        """Unpin the adapter (idempotent); the lease cannot run anything afterwards."""
        if not self.released:
            self.released = True
            if self._pool is not None:
                self._pool.release(self.adapter_name)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class ServingEngine:
    def __init__(
        self, base: BaseModel, registry: AdapterRegistry, config: ServingConfig, *, router: UserRouter | None = None
    ) -> None:
        if base.task != config.task:
            raise ValueError(f"base model {base.name!r} was loaded for {base.task!r}; config.task is {config.task!r}")
        self.base = base
        self.config = config
        self.registry = registry
        self.router = router or UserRouter(
            registry.db, refresh_events=config.refresh_events, refresh_seconds=config.refresh_seconds
        )
        self.resolver = VariantResolver(registry, base.name, base.task, self.router)
        self.pool = AdapterPool(
            base,
            config.max_adapters,
            wait_seconds=config.lease_timeout_s,
            memory_bytes=config.adapter_memory_bytes,
            verify=lambda ref, folder: verify_folder(registry.db, ref.domain, ref.version, folder),
        )
        self._tokenizer_lock = threading.Lock()
        self.zero_shot = ZeroShotHeads(base, max_length=config.max_length, tokenizer_lock=self._tokenizer_lock)
        self.batcher: SharedBatcher[Row, Prediction] = SharedBatcher(self._classify, self.pool.model_lock, config.max_batch_rows)

    @classmethod
    def open(cls, db: Database, adapters_dir: str | Path, config: ServingConfig) -> "ServingEngine":
        """Load the configured base model; BaseModelUnavailableError names it when that fails."""
        try:
            base = load_base(config.base_model, config.task, device=config.device)
        except (ValueError, OSError) as error:
            raise BaseModelUnavailableError(
                f"base model {config.base_model!r} ({config.task}) cannot be loaded: {error}"
            ) from error
        return cls(base, AdapterRegistry(db, adapters_dir), config)

    # -- what clients call -------------------------------------------------------------

    def get_variant(self, user_id: str, domain: str | None = None, *, base_only: bool = False) -> Variant:
        return self.resolver.resolve(user_id, domain, base_only=base_only).variant

    def predict(
        self,
        user_id: str,
        domain: str | None,
        inputs: Sequence[str],
        options: GenerationOptions | None = None,
        *,
        base_only: bool = False,
    ) -> PredictResult:
        """Check the inputs, resolve the variant, run it; the answer names the variant.

        ``base_only`` answers with the bare base model for the same domain and labels.
        """
        texts = check_inputs(inputs, self.config)
        options = self._options(options)
        resolved = self.resolver.resolve(user_id, domain, base_only=base_only)
        with self.lease(resolved) as lease:
            return PredictResult(lease.variant, self.run(lease, texts, options))

    # -- the parts, for callers that hold a variant across calls -----------------------

    def lease(self, resolved: ResolvedVariant) -> Lease:
        """Pin the variant's adapter (loading it on demand); release it when done."""
        variant = resolved.variant
        if variant.adapter is None:
            head = self.zero_shot.get(resolved.labels, resolved.descriptions) if self.base.task == "classification" else None
            return Lease(resolved, BASE_ADAPTER, head, resolved.labels)
        entry = self.pool.acquire(variant.adapter, resolved.adapter_path)
        return Lease(resolved, entry.key, entry.head, entry.labels, self.pool)

    def run(self, lease: Lease, inputs: Sequence[str], options: GenerationOptions | None = None) -> list[Prediction]:
        if lease.released:
            raise ValueError(f"the lease on {lease.adapter_name!r} was released; lease the variant again")
        texts = check_inputs(inputs, self.config)
        if self.base.task == "classification":
            with self._tokenizer_lock:
                ids = encode_texts(self.base.tokenizer, texts, self.config.max_length)
            rows = [Row(row, lease.adapter_name, lease.head, lease.labels) for row in ids]
            return refuse_non_finite(self.batcher.submit(rows), lease.adapter_name)
        options = self._options(options)
        with self._tokenizer_lock:
            prompts = encode_prompts(self.base.tokenizer, texts, self.config.max_length)
        with self.pool.model_lock:
            adapters = self.pool.adapters
            return generate_rows(
                self.pool.model,
                self.base.tokenizer,
                prompts,
                options,
                adapter=None if lease.adapter_name == BASE_ADAPTER else lease.adapter_name,
                adapters=adapters,
            )

    @property
    def loaded_adapters(self) -> list[str]:
        return self.pool.loaded_keys()

    def close(self) -> None:
        self.pool.close()

    # -- internals ---------------------------------------------------------------------

    def _options(self, options: GenerationOptions | None) -> GenerationOptions:
        options = options or GenerationOptions(max_new_tokens=self.config.default_new_tokens)
        return options.check(self.config)

    def _classify(self, rows: list[Row]) -> list[Prediction]:
        """Called by the batcher with the model lock held."""
        return classify_rows(
            self.pool.model,
            rows,
            pooling=self.base.pooling,
            pad_id=self.base.tokenizer.pad_token_id,
            adapters=self.pool.adapters,
            batch_size=self.config.max_batch_rows,
        )
