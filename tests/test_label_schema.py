"""A domain's declared label set: UpsertDomain over real gRPC into DuckDB, zero-shot, heads."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from recsys.domains import (
    MAX_DOMAIN_LABELS,
    MAX_LABEL_DESCRIPTION_CHARS,
    DomainLabel,
    DomainRecord,
    domain_labels,
    upsert_domain,
)
from recsys.events.log import append_interactions
from recsys.store import open_database
from server.client import InvalidArgumentError
from tests.cycle_logs import FINE, STRUGGLING, mixed_log
from tests.fixtures.toy_data import toy_interactions
from tests.serving_support import one_torch_thread  # noqa: F401 (fixture)
from tuner.config import TrainConfig
from tuner.cycle.config import CycleConfig
from tuner.cycle.probing import probe_domain
from tuner.cycle.running import Workspace, run_cycle
from tuner.data import split_interactions
from tuner.registry import AdapterRegistry
from tuner.serving.config import ServingConfig
from tuner.serving.labels import known_labels
from tuner.serving.variants import aligned_descriptions
from tuner.tune import tune_domain

SCHEMA = (
    DomainLabel("pay_bill", "pay a bill from an account"),
    DomainLabel("transfer_money", "move money between accounts"),
    DomainLabel("refund", "money back for a charge"),
)


def stored_labels(db) -> list[tuple]:
    return db.cursor().execute("SELECT domain, position, name, description FROM domain_labels ORDER BY ALL").fetchall()


def test_labels_round_trip_in_order_and_upserts_without_labels_keep_them(live_server):
    client = live_server.client
    created = client.upsert_domain("billing", description="bills", labels=[("pay_bill", "pay a bill"), "refund", "apr"])
    expected = (DomainLabel("pay_bill", "pay a bill"), DomainLabel("refund"), DomainLabel("apr"))
    assert created.labels == expected
    client.upsert_domain("card_billing", parent="billing", labels={"late_fee": "fee for paying late"})
    listed = {d.name: d for d in client.list_domains()}
    assert listed["billing"].labels == expected
    assert listed["card_billing"].labels == (DomainLabel("late_fee", "fee for paying late"),)
    # A parent or description change without labels keeps the label set ...
    assert client.upsert_domain("billing", description="all bills").labels == expected
    # ... new labels replace it whole, and clear_labels removes it.
    assert client.upsert_domain("billing", labels=["refund"]).labels == (DomainLabel("refund"),)
    assert client.upsert_domain("billing", clear_labels=True).labels == ()
    assert stored_labels(live_server.db) == [("card_billing", 0, "late_fee", "fee for paying late")]


BAD_LABELS = [
    (["ok", "ok"], "labels[1].name 'ok' is a duplicate"),
    ([""], "labels[0].name '' is invalid"),
    (["_leading"], "labels[0].name '_leading' is invalid"),
    (["trailing "], "labels[0].name 'trailing ' is invalid"),
    (["tab\tinside"], f"labels[0].name {'tab' + chr(9) + 'inside'!r} is invalid"),
    (["x" * 129], f"labels[0].name {'x' * 129!r} is invalid"),
    ([("ok", "d" * (MAX_LABEL_DESCRIPTION_CHARS + 1))], f"labels[0].description is longer than {MAX_LABEL_DESCRIPTION_CHARS}"),
    ([f"l{i}" for i in range(MAX_DOMAIN_LABELS + 1)], f"labels has {MAX_DOMAIN_LABELS + 1} labels; at most {MAX_DOMAIN_LABELS}"),
]


@pytest.mark.parametrize("labels, message", BAD_LABELS)
def test_bad_labels_are_refused_naming_the_field_and_nothing_is_stored(live_server, labels, message):
    client = live_server.client
    client.upsert_domain("billing", description="before", labels=["pay_bill"])
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        client.upsert_domain("billing", description="after", labels=labels)
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        client.upsert_domain("fresh", labels=labels)
    (billing,) = client.list_domains()
    assert (billing.description, billing.labels) == ("before", (DomainLabel("pay_bill"),))
    assert stored_labels(live_server.db) == [("billing", 0, "pay_bill", "")]


def test_labels_and_clear_labels_together_are_refused(live_server):
    with pytest.raises(InvalidArgumentError, match="clear_labels cannot be combined with labels"):
        live_server.client.upsert_domain("billing", labels=["pay_bill"], clear_labels=True)
    assert live_server.client.list_domains() == []


def test_the_client_refuses_a_single_string_as_labels(live_server):
    with pytest.raises(TypeError, match="not one string"):
        live_server.client.upsert_domain("billing", labels="pay_bill")


@pytest.mark.usefixtures("one_torch_thread")
def test_zero_shot_predict_answers_among_the_declared_labels_before_any_traffic(server_factory, tmp_path, tiny_bert_dir):
    serving = ServingConfig(base_model=str(tiny_bert_dir), max_inputs=4, max_input_chars=60)
    live = server_factory(serving=serving, adapters_dir=tmp_path / "adapters")
    names = ("pay_bill", "refund", "apr")
    live.client.upsert_domain("billing", labels=names)
    answer = live.client.predict("u1", ["pay my bill", "i want my money back", "what is my rate"], domain="billing")
    assert answer.variant.fallback and answer.variant.chain == ()
    assert len(answer.predictions) == 3 and {p.label for p in answer.predictions} <= set(names)
    assert live.db.cursor().execute("SELECT count(*) FROM interactions").fetchone()[0] == 0
    # A new label set is a new zero-shot variant.
    before = answer.variant.variant_id
    live.client.upsert_domain("billing", labels=["pay_bill"])
    again = live.client.predict("u1", ["pay my bill"], domain="billing")
    assert [p.label for p in again.predictions] == ["pay_bill"] and again.variant.variant_id != before


def test_a_trained_head_covers_a_declared_label_absent_from_traffic(tmp_path, bert_classifier):
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        ws = Workspace(db, AdapterRegistry(db, tmp_path / "adapters"), bert_classifier, tmp_path / "reports")
        upsert_domain(db, DomainRecord("billing", labels=SCHEMA))
        append_interactions(db, mixed_log(STRUGGLING, FINE))
        config = CycleConfig(base_model=bert_classifier.name, max_domains=1, min_examples=20)
        config = replace(config, train=replace(config.train, lr=5e-3, head_lr=1e-2, epochs=2, batch_size=16))
        run_cycle(ws, config)
        seen = {row[0] for row in db.cursor().execute("SELECT DISTINCT correction FROM interactions WHERE domain = 'billing'").fetchall()}
        assert "refund" not in seen
        record = ws.registry.list()[0]
        assert record.domain == "billing" and set(record.labels) == {"pay_bill", "transfer_money", "refund"}
        adapter = ws.registry.load(ws.base, "billing", record.version)
        assert adapter.head.num_labels == 3 and "refund" in adapter.labels
        assert domain_labels(db, "billing") == SCHEMA
    finally:
        db.close()


def test_tune_domain_trains_a_head_over_the_declared_labels(tmp_path, bert_classifier):
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        upsert_domain(db, DomainRecord("billing", labels=SCHEMA))
        registry = AdapterRegistry(db, tmp_path / "adapters")
        events = toy_interactions(60, seed=3, domain="billing", labels=("pay_bill", "transfer_money"), prefix="b")
        split = split_interactions(events, validation=0.2, test=0.2)
        config = TrainConfig(epochs=1, batch_size=16, progress=False)
        outcome = tune_domain(bert_classifier, registry, split, domain="billing", layers=[1], config=config)
        assert outcome.record.labels == ("pay_bill", "refund", "transfer_money")
        assert "refund" not in {e.target for e in split.train + split.validation + split.test}
    finally:
        db.close()


def test_declared_descriptions_shape_zero_shot_answers_and_the_variant_id(server_factory, tmp_path, tiny_bert_dir):
    # Opaque names (no word the model knows): zero-shot can tell them apart only by their descriptions.
    serving = ServingConfig(base_model=str(tiny_bert_dir), max_inputs=4, max_input_chars=60)
    live = server_factory(serving=serving, adapters_dir=tmp_path / "adapters")
    live.client.upsert_domain("cards", labels=["q7", "z9"])
    bare = live.client.predict("u1", ["lost stolen", "bill invoice"], domain="cards")
    assert len({p.label for p in bare.predictions}) == 1  # the two names embed alike: one answer for all
    live.client.upsert_domain("cards", labels={"q7": "lost stolen", "z9": "bill invoice"})
    described = live.client.predict("u1", ["lost stolen", "bill invoice"], domain="cards")
    assert [p.label for p in described.predictions] == ["q7", "z9"]
    assert described.variant.variant_id != bare.variant.variant_id
    live.client.upsert_domain("cards", labels={"q7": "bill invoice", "z9": "lost stolen"})
    swapped = live.client.predict("u1", ["lost stolen", "bill invoice"], domain="cards")
    assert [p.label for p in swapped.predictions] == ["z9", "q7"]
    assert swapped.variant.variant_id not in {bare.variant.variant_id, described.variant.variant_id}


def test_zero_shot_labels_from_names_read_once_equal_those_read_from_the_store(tmp_path):
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        described = (DomainLabel("pay_bill", "settle an invoice"), DomainLabel("refund", ""))
        upsert_domain(db, DomainRecord("billing", labels=described))
        append_interactions(db, toy_interactions(40, domain="billing"))
        declared = domain_labels(db, "billing")
        names = [label.name for label in declared]
        labels = known_labels(db, "billing", declared=names)
        # The declared names and those the log taught, as when the store is read for both.
        assert labels == known_labels(db, "billing") and {"pay_bill", "refund"} < set(labels)
        # Aligned with the labels: the described one keeps its text, every other label gets "".
        descriptions = aligned_descriptions(declared, labels)
        assert len(descriptions) == len(labels)
        assert dict(zip(labels, descriptions))["pay_bill"] == "settle an invoice"
        assert all(text == "" for label, text in zip(labels, descriptions) if label != "pay_bill")
        # No description at all: () (names-only heads, the variant id without descriptions).
        assert aligned_descriptions((DomainLabel("refund", " "),), labels) == ()
    finally:
        db.close()


def test_the_layer_probe_scores_with_the_described_zero_shot_head_that_predict_serves(bert_classifier):
    examples = split_interactions(toy_interactions(40), validation=0.2, test=0.2).train
    config = CycleConfig(base_model=bert_classifier.name)
    labels = sorted({e.target for e in examples})
    names_only = probe_domain(bert_classifier, examples, config, labels)
    described = probe_domain(bert_classifier, examples, config, labels, {labels[0]: "money left in the account"})
    assert [(o.layer, o.module_group) for o in names_only] == [(o.layer, o.module_group) for o in described]
    # Another head, another loss: the gradients differ; the same call again gives the same ones.
    assert [o.grad_norm for o in names_only] != pytest.approx([o.grad_norm for o in described])
    again = probe_domain(bert_classifier, examples, config, labels, {labels[0]: "money left in the account"})
    assert [o.grad_norm for o in again] == pytest.approx([o.grad_norm for o in described])
