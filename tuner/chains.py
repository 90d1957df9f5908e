"""Transfer chains: which adapter a domain's new adapter starts from, and what a variant applies.

A child's adapter is trained starting from its parent's champion (overlapping LoRA
weights and shared head rows copied by label name; rows of labels the parent lacks
imprinted from the child's examples, ``tuner.inheritance``), so it already carries what
the chain taught, and trains it, LoRA and head, at a tenth of the rate (``child_config``):
at the from-scratch rate a few-shot child can overwrite what its parent knew about the
labels they share (seen in single-sampling diagnostics; see README "Transfer chains"). ``bench/chains.py`` measures what that buys a few-shot child.
Choice for now: a variant for a domain applies one adapter, the last champion along the
chain (the domain's own when it has one, else its nearest ancestor's), not a stack of
them; ``resolve_chain`` still lists every champion root first for provenance.
"""

from __future__ import annotations

from dataclasses import replace

from recsys.domains import chain
from tuner.config import TrainConfig
from tuner.errors import MissingParentAdapterError
from tuner.registry import AdapterRecord, AdapterRegistry


def parent_of(registry: AdapterRegistry, domain: str) -> str | None:
    """The domain's parent (None for a root); raises DomainError when the chain has a cycle."""
    path = chain(registry.db, domain)
    return path[-2] if len(path) > 1 else None


def parent_champion(registry: AdapterRegistry, domain: str) -> AdapterRecord | None:
    """The adapter a new adapter for ``domain`` warm-starts from (None for a root domain).

    Raises MissingParentAdapterError naming the parent when it has no champion: train
    the parent first, or train the child from scratch explicitly.
    """
    parent = parent_of(registry, domain)
    if parent is None:
        return None
    record = registry.champion(parent)
    if record is None:
        raise MissingParentAdapterError(
            f"parent domain {parent!r} of {domain!r} has no champion adapter to warm-start from"
        )
    return record


def resolve_chain(registry: AdapterRegistry, domain: str) -> list[AdapterRecord]:
    """Champions along the domain's chain, root first (domains without one are skipped)."""
    found = (registry.champion(name) for name in chain(registry.db, domain))
    return [record for record in found if record is not None]


def serving_adapter(registry: AdapterRegistry, domain: str) -> AdapterRecord | None:
    """The one adapter a variant for ``domain`` applies: the chain's last champion."""
    records = resolve_chain(registry, domain)
    return records[-1] if records else None


def child_config(config: TrainConfig) -> TrainConfig:
    """The settings a child warm-started from another domain's adapter trains with.

    LoRA at ``lr * child_lr_scale`` (the parent's encoder is already tuned) and the head at
    ``head_lr`` (else ``lr``) times the same: its inherited rows were trained on the parent's
    data, and its new rows start imprinted at their labels' centroids, so none has far to
    move; at the full head rate a few examples pulled rows off (bench/chain_settings.py:
    0.3 to 1.8 points lower on all 8 rows screened, README "Transfer chains"). With
    ``imprint_new_labels`` off, new rows start from their names and move slowly at this rate.
    """
    scale = config.child_lr_scale
    return replace(config, lr=config.lr * scale, head_lr=(config.head_lr or config.lr) * scale)
