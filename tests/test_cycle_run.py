"""Whole cycles on a tiny BERT and synthetic logs whose answer is known (real DuckDB, real training).

billing: users struggle (70% corrected); cards: the model is nearly always right. The
cycle must tune billing, leave cards alone, keep a champion a candidate does not beat,
refuse a candidate that fails the bias audit, commit nothing when stopped or when its
champion changed under it, and see only new events the next time.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from recsys.cycles import CycleConflictError, get_cycle, last_watermark, list_cycles
from recsys.domains import DomainRecord, upsert_domain
from recsys.events.log import append_interactions
from recsys.events.query import max_seq
from recsys.store import open_database
from tests.cycle_logs import FINE, STRUGGLING, DomainSpec, domain_events, mixed_log
from tests.fixtures.toy_data import RESPONSES
from tuner.cycle.config import CycleConfig
from tuner.cycle.errors import CycleCancelledError
from tuner.cycle.running import Workspace, run_cycle
from tuner.registry import AdapterRegistry

SPARSE = DomainSpec("savings", ("check_balance", "pay_bill"), 12, 0.9, tuple(f"s{i}" for i in range(3)))


def tiny_config(base, **overrides) -> CycleConfig:
    config = CycleConfig(base_model=base.name, max_domains=1, min_examples=20, audit_attributes=("region",))
    config = replace(config, train=replace(config.train, lr=5e-3, head_lr=1e-2, epochs=3, batch_size=16))
    return replace(config, **overrides)


@pytest.fixture
def workspace(tmp_path, bert_classifier):
    db = open_database(tmp_path / "adaptune.duckdb")
    yield Workspace(db, AdapterRegistry(db, tmp_path / "adapters"), bert_classifier, tmp_path / "reports")
    db.close()


def registry_state(ws: Workspace) -> list[tuple[str, str, str]]:
    return [(r.domain, r.version, r.status) for r in ws.registry.list()]


def record_events(sink: list):
    return lambda event: sink.append(event)


def test_the_struggling_domain_gets_an_adapter_and_the_others_are_left_alone(workspace):
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE, SPARSE))
    events = []
    result = run_cycle(workspace, tiny_config(workspace.base), emit=record_events(events))

    assert registry_state(workspace) == [("billing", "v0001", "champion")]
    assert result.record.status == "finished"
    assert last_watermark(workspace.db) == max_seq(workspace.db) == 332
    ranked = {r["domain"]: r for r in result.summary["ranked"]}
    assert [r["domain"] for r in result.summary["ranked"]][0] == "billing"
    assert ranked["billing"]["selected"] and ranked["billing"]["reason"].startswith("rank 1")
    assert ranked["cards"]["reason"] == "ranked below the 1 domain(s) this cycle tunes"
    assert ranked["savings"]["reason"] == "12 new labeled examples, fewer than min_examples 20"
    (billing,) = result.outcomes
    assert billing.gate.promote and billing.gate.reference_kind == "base"
    assert billing.gate.candidate["accuracy"] >= billing.gate.reference["accuracy"] + 0.01
    # Trained only on the selected layers, on the domain's own held-out split.
    champion = workspace.registry.champion("billing")
    assert champion.layers == billing.plan.layers and champion.metrics["cycle_id"] == result.cycle_id
    assert champion.metrics["gate"]["decision"] == "promote"
    assert champion.data_window[1] <= 332
    probes = workspace.db.cursor().execute("SELECT DISTINCT domain, cycle_id FROM probes").fetchall()
    assert probes == [("billing", result.cycle_id)]
    # What was ranked, planned, trained and decided streamed in order, decisions only after the commit.
    stages = [e.stage for e in events if e.stage != "training"]
    assert stages == ["started", "ranked", "skipped", "skipped", "probing", "planned", "evaluated", "promoted", "finished"]
    assert any(e.stage == "training" and e.step == e.total_steps > 0 for e in events)
    # The report and its plots.
    report = result.report
    assert report == workspace.reports_dir / result.cycle_id / "report.md"
    text = report.read_text()
    assert "| billing | v0001 |" in text and "**promoted**" in text and "fewer than min_examples" in text
    for png in ("metrics.png", "layers.png", "curves/billing.png"):
        assert (report.parent / png).stat().st_size > 1000


def test_a_candidate_that_does_not_beat_the_champion_by_the_margin_keeps_the_champion(workspace):
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    run_cycle(workspace, tiny_config(workspace.base))
    champion = workspace.registry.champion("billing")
    append_interactions(workspace.db, domain_events(STRUGGLING, seed=1, prefix="later"))

    strict = tiny_config(workspace.base, margin=0.5, significance=0.0)  # the margin alone, and 0.5 is out of reach
    result = run_cycle(workspace, strict)

    assert registry_state(workspace) == [("billing", "v0001", "champion"), ("billing", "v0002", "rejected")]
    assert workspace.registry.champion("billing").promoted_at == champion.promoted_at
    (outcome,) = result.outcomes
    assert outcome.warm_start == "billing/v0001"  # started from the champion
    assert outcome.gate.reference_kind == "champion" and outcome.gate.reference_version == "v0001"
    assert "not better by the margin" in outcome.gate.reason
    rejected = workspace.registry.get("billing", "v0002")
    assert rejected.metrics["gate"]["decision"] == "keep" and "margin 0.5" in rejected.metrics["gate"]["reason"]
    assert result.summary["kept"] == ["billing"] and last_watermark(workspace.db) == max_seq(workspace.db)


def test_an_audit_failure_blocks_promotion(workspace):
    # Events of plan "free" have no keyword: the candidate can learn "pro" only.
    noisy = replace(STRUGGLING, events=240, noisy_plan="free")
    append_interactions(workspace.db, mixed_log(noisy, FINE))
    config = tiny_config(workspace.base, audit_attributes=("plan",), audit_bound=0.1, margin=0.0)
    result = run_cycle(workspace, config)

    (outcome,) = result.outcomes
    (audit,) = outcome.gate.audits
    assert audit.attribute == "plan" and not audit.passed and audit.gap > 0.1
    assert audit.per_group["pro"] > audit.per_group["free"]
    assert not outcome.gate.promote and "bias audit failed on 'plan'" in outcome.gate.reason
    assert registry_state(workspace) == [("billing", "v0001", "rejected")]
    assert workspace.registry.champion("billing") is None


def test_the_watermark_means_the_next_cycle_sees_only_new_events(workspace):
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    first = run_cycle(workspace, tiny_config(workspace.base))
    assert (first.record.watermark_from, first.record.watermark_to) == (0, 320)

    again = run_cycle(workspace, tiny_config(workspace.base))
    assert (again.record.watermark_from, again.record.watermark_to) == (320, 320)
    assert again.summary["new_events"] == 0 and again.summary["ranked"] == [] and again.outcomes == []

    append_interactions(workspace.db, domain_events(replace(FINE, error_rate=0.6), seed=3, prefix="new"))
    third = run_cycle(workspace, tiny_config(workspace.base))
    assert (third.record.watermark_from, third.record.watermark_to) == (320, 480)
    assert [r["domain"] for r in third.summary["ranked"]] == ["cards"]  # billing had no new events
    assert third.summary["new_events"] == 160
    assert [o.domain for o in third.outcomes] == ["cards"]
    assert [r.status for r in list_cycles(workspace.db)] == ["finished", "finished", "finished"]


def test_a_dry_run_plans_but_trains_and_registers_nothing(workspace):
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    result = run_cycle(workspace, tiny_config(workspace.base, dry_run=True, max_domains=2))
    assert result.record.status == "planned" and result.outcomes == []
    assert [p["domain"] for p in result.summary["planned"]] == ["billing", "cards"]
    assert all(p["layers"] for p in result.summary["planned"])
    assert registry_state(workspace) == [] and last_watermark(workspace.db) == 0
    assert not (workspace.registry.root).exists()


def test_a_cycle_stopped_mid_training_changes_nothing(workspace):
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    cancel = threading.Event()
    events = []

    def emit(event):
        events.append(event)
        if event.stage == "evaluated":  # billing is staged; stop while cards trains
            cancel.set()

    config = tiny_config(workspace.base, max_domains=2)
    with pytest.raises(CycleCancelledError, match="nothing changed"):
        run_cycle(workspace, config, emit=emit, cancel=cancel)
    assert [e.stage for e in events if e.stage != "training"][-2:] == ["evaluated", "failed"]
    assert registry_state(workspace) == [] and last_watermark(workspace.db) == 0
    assert list((workspace.registry.root / "billing").iterdir()) == []  # the staged folder is gone
    (record,) = list_cycles(workspace.db)
    assert record.status == "failed" and "was cancelled before it committed" in record.error
    # The next cycle redoes the work from the same watermark.
    redo = run_cycle(workspace, replace(config, max_domains=1))
    assert redo.record.watermark_from == 0 and [o.domain for o in redo.promoted()] == ["billing"]
    assert workspace.registry.champion("billing").version == "v0001"


def test_a_champion_changed_during_the_cycle_makes_it_commit_nothing(workspace):
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    run_cycle(workspace, tiny_config(workspace.base))
    other = workspace.registry.register(workspace.registry.load(workspace.base, "billing"), domain="billing")
    append_interactions(workspace.db, domain_events(STRUGGLING, seed=2, prefix="later"))

    def promote_by_hand(event):  # after the gate compared with v0001, before the commit
        if event.stage == "evaluated":
            workspace.registry.promote("billing", other.version)

    with pytest.raises(CycleConflictError, match="champion of 'billing' changed while the cycle ran"):
        run_cycle(workspace, tiny_config(workspace.base), emit=promote_by_hand)
    assert registry_state(workspace) == [("billing", "v0001", "retired"), ("billing", "v0002", "champion")]
    assert not (workspace.registry.root / "billing" / "v0003").exists()
    latest = list_cycles(workspace.db)[0]
    assert latest.status == "failed" and (
        "champion of 'billing' changed while the cycle ran" in get_cycle(workspace.db, latest.cycle_id).error
    )
    assert last_watermark(workspace.db) == 320


# -- generation ------------------------------------------------------------------------------


def as_generation(events):
    """The same log for a generating model: answers are the labels' fixed responses."""
    return [
        replace(e, model_output=RESPONSES[e.model_output], correction=RESPONSES[e.correction] if e.correction else "")
        for e in events
    ]


def test_a_generation_cycle_promotes_on_token_f1_and_the_next_warm_starts_from_it(tmp_path, llama_generator):
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        ws = Workspace(db, AdapterRegistry(db, tmp_path / "adapters"), llama_generator, tmp_path / "reports")
        append_interactions(db, as_generation(mixed_log(STRUGGLING, FINE)))
        config = tiny_config(llama_generator, task="generation")
        config = replace(config, train=replace(config.train, epochs=6, lr=1e-2))

        first = run_cycle(ws, config)

        (outcome,) = first.outcomes
        assert outcome.domain == "billing" and outcome.gate.metric == "token_f1"
        assert outcome.gate.reference_kind == "base"
        assert outcome.gate.promote, outcome.gate.reason
        assert outcome.gate.candidate["token_f1"] >= outcome.gate.reference["token_f1"] + config.margin
        assert outcome.train["cached_layers"] == min(outcome.plan.layers) > 0  # a 4-layer model: top layers only
        assert registry_state(ws) == [("billing", "v0001", "champion")]
        champion = ws.registry.load(llama_generator, "billing")
        assert champion.info.task == "generation" and champion.head is None

        append_interactions(db, as_generation(domain_events(STRUGGLING, seed=1, prefix="later")))
        second = run_cycle(ws, config)
        (again,) = second.outcomes
        assert again.warm_start == "billing/v0001" and again.gate.reference_kind == "champion"
        assert again.train["warm_started_modules"] > 0
    finally:
        db.close()


def test_a_parent_and_child_tuned_in_one_cycle_train_parent_first_and_the_child_starts_from_it(workspace):
    child = DomainSpec("disputes", STRUGGLING.labels, 200, 0.9, tuple(f"d{i}" for i in range(10)))
    upsert_domain(workspace.db, DomainRecord("billing"))
    upsert_domain(workspace.db, DomainRecord("disputes", parent="billing"))
    append_interactions(workspace.db, mixed_log(child, STRUGGLING, FINE))
    # Budget 1.0: every target, so parent and child adapt the same modules and the copy is visible.
    result = run_cycle(workspace, tiny_config(workspace.base, max_domains=2, layer_budget=1.0))

    assert [r["domain"] for r in result.summary["ranked"]][:2] == ["disputes", "billing"]  # the child ranks first
    parent, kid = result.outcomes
    assert (parent.domain, kid.domain) == ("billing", "disputes")  # yet the parent trains first
    assert parent.gate.promote and kid.gate.promote
    assert parent.warm_start is None and kid.warm_start == "billing/v0001"
    assert kid.train["warm_started_modules"] > 0
    rows = {r.domain: r for r in workspace.registry.list()}
    assert (rows["disputes"].parent_domain, rows["disputes"].parent_version) == ("billing", "v0001")
    assert rows["billing"].status == rows["disputes"].status == "champion"


def test_a_child_does_not_start_from_a_parent_candidate_the_gate_rejected(workspace):
    child = DomainSpec("disputes", STRUGGLING.labels, 200, 0.9, tuple(f"d{i}" for i in range(10)))
    upsert_domain(workspace.db, DomainRecord("billing"))
    upsert_domain(workspace.db, DomainRecord("disputes", parent="billing"))
    append_interactions(workspace.db, mixed_log(child, STRUGGLING, FINE))
    result = run_cycle(workspace, tiny_config(workspace.base, max_domains=2, margin=0.9, significance=0.0))  # nothing passes

    parent, kid = result.outcomes
    assert not parent.gate.promote and kid.warm_start is None
    assert registry_state(workspace) == [("billing", "v0001", "rejected"), ("disputes", "v0001", "rejected")]
