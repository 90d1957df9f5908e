"""Transfer chains: a child adapter starts from its parent's champion."""

from __future__ import annotations

import pytest
import torch

from recsys.domains import DomainError, DomainRecord, upsert_domain
from recsys.store import open_database
from tests.fixtures.toy_data import toy_interactions
from tuner.chains import parent_champion, resolve_chain, serving_adapter
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.errors import IncompatibleAdapterError, MissingParentAdapterError
from tuner.heads import label_embeddings
from tuner.registry import AdapterRegistry
from tuner.targeting import lora_parameters, prepare_adapter
from tuner.tune import tune_domain

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CONFIG = TrainConfig(epochs=2, lr=5e-3, batch_size=16, progress=False)
PARENT_LABELS = ("check_balance", "lost_card", "pay_bill")
CHILD_LABELS = ("lost_card", "pay_bill", "transfer_money")


@pytest.fixture
def registry(tmp_path):
    db = open_database(tmp_path / "adaptune.duckdb")
    upsert_domain(db, DomainRecord("finance"))
    upsert_domain(db, DomainRecord("banking", parent="finance"))
    yield AdapterRegistry(db, tmp_path / "adapters")
    db.close()


def domain_split(domain: str, labels, seed: int):
    events = toy_interactions(120, seed=seed, domain=domain, labels=labels, prefix=domain)
    return split_interactions(events, validation=0.2, test=0.2)


def test_child_starts_from_the_parents_weights(registry, bert_classifier):
    parent = tune_domain(
        bert_classifier, registry, domain_split("finance", PARENT_LABELS, 1),
        domain="finance", layers=[0, 1], groups=["attention"], config=CONFIG,
    )
    registry.promote("finance", parent.record.version)
    parent_lora = parent.result.adapter.lora_state()

    # The child targets layer 1 only, with attention and MLP: only layer 1's attention overlaps.
    child, copied = prepare_adapter(
        bert_classifier, layers=[1], groups=["attention", "mlp"], config=CONFIG,
        labels=CHILD_LABELS, init_from=parent.record.path,
    )
    assert copied == 4
    for key, param in lora_parameters(child.model).items():
        if ".layer.1.attention." in key:
            assert torch.equal(param, parent_lora[key]), key
        elif ".lora_B." in key:
            assert not param.any(), key  # fresh LoRA: B starts at zero
    parent_head = parent.result.adapter.head
    for i, label in enumerate(CHILD_LABELS):
        if label in PARENT_LABELS:
            assert torch.equal(child.head.weight[i], parent_head.weight[PARENT_LABELS.index(label)])
    # The new label's row is its name embedded by the (warm-started) child model.
    names = label_embeddings(child.model, bert_classifier.tokenizer, ["transfer_money"], "mean", CONFIG.max_length)
    assert torch.allclose(child.head.weight[2], names[0], atol=1e-6)


def test_tune_domain_warm_starts_a_child_and_records_its_lineage(registry, bert_classifier):
    parent = tune_domain(
        bert_classifier, registry, domain_split("finance", PARENT_LABELS, 1), domain="finance", layers=[1], config=CONFIG
    )
    registry.promote("finance", parent.record.version)
    child = tune_domain(
        bert_classifier, registry, domain_split("banking", CHILD_LABELS, 2), domain="banking", layers=[1], config=CONFIG
    )
    assert (child.record.parent_domain, child.record.parent_version) == ("finance", parent.record.version)
    assert child.result.warm_started_modules == 6  # layer 1: 4 attention + 2 MLP modules
    assert child.record.status == "candidate"
    assert child.curve.is_file() and child.curve.stat().st_size > 0
    assert child.record.metrics["accuracy"] == child.metrics["accuracy"]
    assert set(child.record.metrics["baseline"]) >= {"accuracy", "macro_f1"}
    assert parent_champion(registry, "banking").version == parent.record.version
    # A variant lists the chain root first and applies the last champion.
    assert [r.domain for r in resolve_chain(registry, "banking")] == ["finance"]
    registry.promote("banking", child.record.version)
    assert [r.domain for r in resolve_chain(registry, "banking")] == ["finance", "banking"]
    assert serving_adapter(registry, "banking").domain == "banking"


def test_a_parent_without_adapter_is_an_error_and_nothing_is_registered(registry, bert_classifier):
    with pytest.raises(MissingParentAdapterError, match="parent domain 'finance'"):
        tune_domain(
            bert_classifier, registry, domain_split("banking", CHILD_LABELS, 2), domain="banking", layers=[1], config=CONFIG
        )
    assert registry.list() == []
    # Explicitly from scratch works.
    outcome = tune_domain(
        bert_classifier, registry, domain_split("banking", CHILD_LABELS, 2),
        domain="banking", layers=[1], config=CONFIG, warm_start=False,
    )
    assert outcome.record.parent_domain is None and outcome.result.warm_started_modules == 0


def test_a_chain_with_a_cycle_is_an_error_and_nothing_is_registered(registry, bert_classifier):
    # upsert_domain refuses cycles, so this simulates a table edited by hand.
    registry.db.cursor().execute("UPDATE domains SET parent = 'banking' WHERE name = 'finance'")
    with pytest.raises(DomainError, match="cycle"):
        tune_domain(
            bert_classifier, registry, domain_split("banking", CHILD_LABELS, 2), domain="banking", layers=[1], config=CONFIG
        )
    assert registry.list() == []
    assert not registry.root.exists() or not any(registry.root.iterdir())


def test_a_parent_of_another_rank_is_refused_before_training(registry, bert_classifier):
    parent = tune_domain(
        bert_classifier, registry, domain_split("finance", PARENT_LABELS, 1), domain="finance", layers=[1], config=CONFIG
    )
    registry.promote("finance", parent.record.version)
    other_rank = TrainConfig(rank=4, alpha=8, epochs=1, batch_size=16, progress=False)
    with pytest.raises(IncompatibleAdapterError, match="has rank 8; the child's rank is 4"):
        tune_domain(
            bert_classifier, registry, domain_split("banking", CHILD_LABELS, 2), domain="banking", layers=[1], config=other_rank
        )
    assert [r.domain for r in registry.list()] == ["finance"]
