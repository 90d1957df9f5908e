"""Slow: serving on the embedded minilm-l6 with CLINC150 adapters (mixed batches, int8, a distilled student)."""

from __future__ import annotations

import pytest

from recsys.datasets import clinc150
from recsys.store import open_database
from tests.serving_support import champion, one_torch_thread, random_adapter  # noqa: F401 (fixture)
from tuner.config import TrainConfig
from tuner.loading import load_base
from tuner.predict import classify
from tuner.registry import AdapterRegistry
from tuner.serving.config import ServingConfig
from tuner.serving.distill import DistillConfig, distill
from tuner.serving.engine import ServingEngine
from tuner.serving.export_variant import export_variant
from tuner.serving.forward import Row
from tuner.sources import clinc_split
from tuner.training import train_adapter

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not clinc150.available(), reason="CLINC150 not found (set ADAPTUNE_CLINC150)"),
    pytest.mark.usefixtures("one_torch_thread"),
]

CONFIG = TrainConfig(epochs=2, lr=3e-3, batch_size=32, max_length=32, progress=False)


@pytest.fixture(scope="module")
def minilm():
    return load_base("minilm-l6", "classification")


@pytest.fixture(scope="module")
def banking(one_torch_thread):
    return clinc_split(None, "banking", per_label=15)


@pytest.fixture(scope="module")
def trained(minilm, banking):
    return train_adapter(minilm, banking.train, banking.validation[:60], layers=[3, 4, 5], config=CONFIG).adapter


@pytest.fixture
def registry(tmp_path, minilm, trained):
    db = open_database(tmp_path / "adaptune.duckdb")
    registry = AdapterRegistry(db, tmp_path / "adapters")
    champion(registry, trained, "banking")
    data = clinc150.load()
    cards = random_adapter(minilm, layers=[4, 5], seed=3, labels=tuple(sorted(data.domains["credit_cards"])), scale=0.05)
    champion(registry, cards, "credit_cards")
    yield registry
    db.close()


def test_minilm_mixed_batches_equal_each_clinc_adapter_alone(minilm, registry, banking):
    engine = ServingEngine(minilm, registry, ServingConfig(base_model="minilm-l6", max_length=32))
    texts = [e.text for e in banking.test[:24]]
    leases = [engine.lease(engine.resolver.resolve("", d)) for d in ("banking", "credit_cards")]
    tokens = minilm.tokenizer(texts, truncation=True, max_length=32)["input_ids"]
    rows = [Row(ids, lease.adapter_name, lease.head, lease.labels) for ids in tokens for lease in leases]
    mixed = engine.batcher.submit(rows)
    for offset, domain in enumerate(("banking", "credit_cards")):
        alone = classify(minilm, texts, registry.load(minilm, domain), max_length=32)
        assert [p.label for p in mixed[offset::2]] == [p.label for p in alone]
        assert all(abs(p.score - a.score) < 1e-4 for p, a in zip(mixed[offset::2], alone))
    for lease in leases:
        lease.release()


def test_minilm_int8_export_agrees_on_95_percent_of_clinc_banking_test_labels(registry, banking, tmp_path):
    outcome = export_variant(registry, "banking", tmp_path / "int8", kind="int8", examples=banking.test, max_length=32)
    report = outcome.report
    assert report.n == 450 and report.agreement >= 0.95
    assert report.reference_accuracy > 0.8 and abs(report.accuracy_delta) <= 0.02


def test_a_three_layer_minilm_student_is_compared_with_its_teacher(minilm, trained, banking):
    split = type(banking)(banking.train, banking.validation[:60], banking.test[:150])
    config = DistillConfig(student="same", student_layers=3, train=CONFIG)
    report = distill(minilm, trained, split, config).report
    assert report.student_layers == 3 and report.size_ratio < 0.9
    assert report.comparison.n == 150 and report.comparison.reference_accuracy > 0.8
    assert report.comparison.agreement > 0.6
