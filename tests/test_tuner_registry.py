"""The adapter registry on a real DuckDB file: versions, promotion, rollback, exact reloads."""

from __future__ import annotations

import pytest
import torch

from recsys.store import open_database
from tests.fixtures.toy_data import toy_interactions
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.errors import AdapterNotFoundError, RegistryStateError
from tuner.registry import AdapterRegistry
from tuner.training import train_adapter

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture
def registry(tmp_path):
    db = open_database(tmp_path / "adaptune.duckdb")
    yield AdapterRegistry(db, tmp_path / "adapters")
    db.close()


@pytest.fixture(scope="module")
def trained(bert_classifier):
    split = split_interactions(toy_interactions(80), validation=0.2, test=0.0)
    config = TrainConfig(epochs=1, lr=5e-3, batch_size=16, progress=False)
    return train_adapter(bert_classifier, split.train, split.validation, layers=[1], config=config).adapter


def statuses(registry, domain="banking"):
    return {r.version: r.status for r in registry.list(domain)}


def test_register_writes_files_then_a_candidate_row(registry, trained):
    first = registry.register(trained, domain="banking", metrics={"accuracy": 0.5}, data_window=(3, 9))
    second = registry.register(trained, domain="banking")
    assert (first.version, second.version) == ("v0001", "v0002")
    assert first.status == "candidate" and first.metrics == {"accuracy": 0.5}
    assert first.data_window == (3, 9) and first.layers == (1,) and first.labels == trained.labels
    assert first.path == registry.root / "banking" / "v0001"
    assert (first.path / "adapter_model.safetensors").is_file()
    assert registry.champion("banking") is None
    assert [r.version for r in registry.list()] == ["v0001", "v0002"]


def test_a_registered_adapter_loads_back_exactly(registry, trained, bert_classifier):
    record = registry.register(trained, domain="banking")
    loaded = registry.load(bert_classifier, "banking", record.version)
    saved, back = trained.lora_state(), loaded.lora_state()
    assert all(torch.equal(saved[k], back[k]) for k in saved)
    assert torch.equal(loaded.head.weight, trained.head.weight)


def test_promote_and_rollback_walk_through_champions(registry, trained):
    for _ in range(3):
        registry.register(trained, domain="banking")
    registry.promote("banking", "v0001")
    registry.promote("banking", "v0002")
    registry.promote("banking", "v0003")
    assert statuses(registry) == {"v0001": "retired", "v0002": "retired", "v0003": "champion"}

    assert registry.rollback("banking").version == "v0002"
    assert statuses(registry) == {"v0001": "retired", "v0002": "champion", "v0003": "retired"}
    # A second rollback goes further back, not forward to the rolled-back v0003.
    assert registry.rollback("banking").version == "v0001"
    assert registry.champion("banking").version == "v0001"
    with pytest.raises(RegistryStateError, match="no earlier champion"):
        registry.rollback("banking")
    assert registry.champion("banking").version == "v0001"
    # Promoting a rolled-back version again makes it eligible for rollbacks once more.
    registry.promote("banking", "v0003")
    assert registry.rollback("banking").version == "v0001"


def test_promote_is_idempotent_and_reject_marks_candidates(registry, trained):
    registry.register(trained, domain="banking")
    registry.register(trained, domain="banking")
    registry.promote("banking", "v0001")
    registry.promote("banking", "v0001")
    assert registry.reject("banking", "v0002").status == "rejected"
    with pytest.raises(RegistryStateError, match="is the champion"):
        registry.reject("banking", "v0001")
    assert statuses(registry) == {"v0001": "champion", "v0002": "rejected"}


def test_domains_are_independent(registry, trained):
    registry.register(trained, domain="banking")
    registry.register(trained, domain="credit_cards")
    registry.promote("credit_cards", "v0001")
    assert registry.champion("banking") is None
    assert registry.champion("credit_cards").domain == "credit_cards"


def test_bad_requests_name_the_value_and_change_nothing(registry, trained):
    registry.register(trained, domain="banking")
    with pytest.raises(AdapterNotFoundError, match="'v0009'"):
        registry.promote("banking", "v0009")
    with pytest.raises(RegistryStateError, match="'banking' has no champion"):
        registry.rollback("banking")
    with pytest.raises(ValueError, match="'Bad Domain'"):
        registry.register(trained, domain="Bad Domain")
    assert statuses(registry) == {"v0001": "candidate"}
    assert sorted(p.name for p in registry.root.iterdir()) == ["banking"]


def test_an_orphan_folder_keeps_its_version_number(registry, trained):
    (registry.root / "banking" / "v0001").mkdir(parents=True)  # files of a row that never committed
    assert registry.register(trained, domain="banking").version == "v0002"
