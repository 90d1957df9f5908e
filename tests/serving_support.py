"""Helpers for the serving tests: distinct adapters made fast, registered on a real DuckDB file.

``random_adapter`` is a real PEFT adapter (the project's own ``prepare_adapter``) whose
LoRA B matrices and head rows are drawn at random, so two adapters answer differently
without training; serving must reproduce exactly what each adapter computes alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from recsys.domains import DomainRecord, upsert_domain
from recsys.events.log import append_interactions
from recsys.store import Database, open_database
from tests.fixtures.toy_data import KEYWORDS, toy_interactions
from tuner.adapters import Adapter
from tuner.config import TrainConfig
from tuner.loading import BaseModel
from tuner.registry import AdapterRecord, AdapterRegistry
from tuner.targeting import prepare_adapter

LABELS = tuple(KEYWORDS)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Hidden-32 models gain nothing from intra-op threads, and on a busy shared machine
    their spin-waits make tiny generation loops up to 100x slower; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
TEXTS = [
    "please transfer money to my friend now",
    "i lost my card today",
    "can you pay the bill",
    "my balance please",
    "help me send funds quickly",
    "stolen card help",
    "the invoice now",
    "check my funds today",
]


def random_adapter(base: BaseModel, *, layers: list[int], seed: int, labels: tuple[str, ...] = LABELS, scale: float = 0.5) -> Adapter:
    adapter, _ = prepare_adapter(
        base, layers=layers, config=TrainConfig(seed=seed, progress=False), labels=list(labels) if base.task == "classification" else None
    )
    generator = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        for name, param in adapter.model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
        if adapter.head is not None:
            adapter.head.weight.copy_(torch.randn(adapter.head.weight.shape, generator=generator))
    return adapter.eval()


def champion(registry: AdapterRegistry, adapter: Adapter, domain: str, parent: AdapterRecord | None = None) -> AdapterRecord:
    record = registry.register(adapter, domain=domain, parent=parent)
    return registry.promote(domain, record.version)


@dataclass
class World:
    """A database with traffic for banking/legal/travel and champions for banking and legal."""

    db: Database
    registry: AdapterRegistry
    base: BaseModel
    records: dict[str, AdapterRecord]


def log_traffic(db: Database) -> None:
    """Users u0..u6 mostly in banking; l-users in legal; everyone's labels are the toy intents."""
    events = toy_interactions(70, domain="banking", prefix="b")
    events += toy_interactions(35, domain="legal", prefix="l")
    for i, event in enumerate(events[70:]):
        event.user_id = f"lawyer{i % 3}"
    events += toy_interactions(14, domain="travel", prefix="t")
    append_interactions(db, events)


def build_world(
    path: Path, base: BaseModel, *, domains: tuple[str, ...] = ("banking", "legal"), db: Database | None = None
) -> World:
    """On ``db`` (e.g. a live server's own store) or a new file under ``path``."""
    db = db if db is not None else open_database(path / "adaptune.duckdb")
    upsert_domain(db, DomainRecord("legal"))
    upsert_domain(db, DomainRecord("contracts", parent="legal"))
    log_traffic(db)
    registry = AdapterRegistry(db, path / "adapters")
    records = {
        domain: champion(registry, random_adapter(base, layers=[i % base.num_layers], seed=i), domain)
        for i, domain in enumerate(domains)
    }
    return World(db, registry, base, records)
