"""Evidence across nights: a continuation kept out by too small a gain is judged again against its anchor.

The anchor is the newest proven champion of the champion's line (walked back through the
registry's gate records); the candidate is promoted, and proven, when it is significantly
ahead of the anchor at the strict level. Real DuckDB rows for the walk; a real cycle's
adapter, loaded from the registry with its remembered answers, for the comparison.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from recsys.events.log import append_interactions
from recsys.store import open_database
from tests.cycle_logs import STRUGGLING, domain_events
from tests.test_cycle_run import tiny_config, workspace  # noqa: F401 (fixture)
from tuner.audit import AuditResult
from tuner.cycle.anchor import anchor_version, compare_with_anchor, worth_anchoring
from tuner.cycle.config import CycleConfig
from tuner.cycle.gate import GateResult
from tuner.cycle.paired import PairedComparison
from tuner.cycle.running import _against_anchor, run_cycle
from tuner.evaluation import Metrics
from tuner.registry import AdapterRegistry


def _row(db, version: str, status: str, gate: dict | None) -> None:
    db.cursor().execute(
        "INSERT INTO adapters (domain, version, status, base_model, task, layers, module_groups, config_json, "
        "metrics_json, data_from_seq, data_to_seq, path) "
        "VALUES ('billing', ?, ?, 'm', 'classification', [1], ['mlp'], '{}', ?, 1, 1, '/x')",
        [version, status, json.dumps({"gate": gate} if gate is not None else {})],
    )


def _promoted(proven: bool | None, reference: str | None = None, kind: str = "champion") -> dict:
    gate = {"decision": "promote", "reference": {"kind": kind, "version": reference}}
    return gate if proven is None else gate | {"proven": proven}


@pytest.fixture
def registry(tmp_path):
    db = open_database(tmp_path / "walk.duckdb")
    yield AdapterRegistry(db, tmp_path / "adapters")
    db.close()


def test_the_anchor_is_the_newest_proven_champion_behind_unproven_promotions(registry):
    db = registry.db
    _row(db, "v0001", "retired", _promoted(True, kind="base"))
    _row(db, "v0002", "retired", _promoted(False, "v0001"))
    _row(db, "v0003", "champion", _promoted(False, "v0002"))
    assert anchor_version(registry, "billing", "v0003") == "v0001"
    assert anchor_version(registry, "billing", "v0002") == "v0001"
    # A proven champion is its own anchor: nothing to compare again.
    assert anchor_version(registry, "billing", "v0001") is None
    assert anchor_version(registry, "billing", None) is None


def test_older_gates_count_as_proven_and_a_broken_walk_finds_no_anchor(registry):
    db = registry.db
    _row(db, "v0001", "retired", _promoted(None, kind="base"))  # written before `proven` existed
    _row(db, "v0002", "retired", _promoted(False, "v0001"))
    _row(db, "v0003", "retired", _promoted(False, "v0099"))  # its reference is not in the registry
    _row(db, "v0004", "retired", _promoted(False, None, kind="base"))  # an unproven row without a champion behind
    _row(db, "v0005", "retired", {})  # no gate at all: counts as proven
    assert anchor_version(registry, "billing", "v0002") == "v0001"
    assert anchor_version(registry, "billing", "v0003") is None
    assert anchor_version(registry, "billing", "v0004") is None
    assert anchor_version(registry, "billing", "v0005") is None
    assert anchor_version(registry, "billing", "v0404") is None


def test_a_loop_of_references_ends_without_an_anchor(registry):
    _row(registry.db, "v0001", "retired", _promoted(False, "v0002"))
    _row(registry.db, "v0002", "retired", _promoted(False, "v0001"))
    assert anchor_version(registry, "billing", "v0002") is None


def _verdict(**overrides) -> GateResult:
    passed = AuditResult(attribute="region", metric="accuracy", per_group={"north": 0.9, "south": 0.9}, gap=0.0,
                         bound=0.25, passed=True)  # fmt: skip
    verdict = GateResult("accuracy", Metrics("classification", 10, {"accuracy": 0.905}),
                         Metrics("classification", 10, {"accuracy": 0.9}), "champion", "v0003", 0.005, (passed,),
                         False, "accuracy 0.9050 vs champion 0.9000 (+0.0050, margin 0.01): not better by the margin "
                         "nor significantly", paired=PairedComparison(3, 2, 0.5), significance=0.2,
                         continues_champion=True)  # fmt: skip
    return replace(verdict, **overrides)


def test_only_a_continuation_ahead_but_unproven_with_passing_audits_is_judged_again():
    config = CycleConfig()
    assert worth_anchoring(_verdict(), config)
    assert not worth_anchoring(_verdict(), replace(config, anchor_evidence=False))
    assert not worth_anchoring(_verdict(promote=True), config)
    assert not worth_anchoring(_verdict(continues_champion=False), config)  # a cold start or an older line
    assert not worth_anchoring(_verdict(gain=0.0), config)
    assert not worth_anchoring(_verdict(gain=-0.002), config)
    failed = replace(_verdict().audits[0], passed=False, gap=0.4)
    assert not worth_anchoring(_verdict(audits=(failed,)), config)
    with pytest.raises(ValueError, match="anchor_evidence must be a bool"):
        CycleConfig(anchor_evidence="yes")


# Half the events (plan "pro") have no keyword: no adapter can learn them, so the champion errs there.
NOISY = replace(STRUGGLING, noisy_plan="pro", events=240)


def test_a_candidate_proven_against_the_anchor_is_promoted_and_says_so(workspace):  # noqa: F811
    append_interactions(workspace.db, domain_events(NOISY))
    (first,) = run_cycle(workspace, tiny_config(workspace.base)).outcomes
    assert first.gate.promote and first.gate.proven  # judged against the base: not a continuation
    stored = workspace.registry.get("billing", first.staged.version).metrics["gate"]
    assert stored["proven"] is True and stored["anchor"] is None
    anchor = first.staged.version
    # A later champion the rows did not prove, continuing the first.
    _row(workspace.db, "v0009", "retired", _promoted(False, anchor))

    test = first.plan.data.split.test
    oracle = Metrics("classification", len(test), {"accuracy": 1.0}, predictions=[e.target for e in test])
    verdict = _verdict(candidate=oracle, reference_version="v0009")
    config = tiny_config(workspace.base)
    notes: list[str] = []
    judged = _against_anchor(workspace, "billing", test, verdict, "v0009", config, notes)

    assert notes == []
    right = first.gate.candidate["accuracy"]
    assert right < 1.0  # the noisy rows
    assert judged.anchor.version == anchor and judged.anchor.reused == len(test)  # its remembered answers
    assert judged.anchor.gain == pytest.approx(1.0 - right)
    assert (judged.anchor.paired.wins, judged.anchor.paired.losses) == (round((1.0 - right) * len(test)), 0)
    assert judged.anchor.significance == config.significance and judged.anchor.paired.p_value <= 0.05
    assert judged.promote and judged.proven and judged.anchor.proven
    assert f"against {anchor}, the last proven champion of its line" in judged.reason
    assert "proven over the nights since" in judged.reason and "not better by the margin" not in judged.reason
    saved = judged.to_json()
    assert saved["decision"] == "promote" and saved["proven"] is True
    assert saved["anchor"]["version"] == anchor and saved["anchor"]["paired"]["losses"] == 0


def test_a_candidate_no_better_than_the_anchor_stays_kept(workspace):  # noqa: F811
    append_interactions(workspace.db, domain_events(NOISY))
    (first,) = run_cycle(workspace, tiny_config(workspace.base)).outcomes
    anchor = workspace.registry.load(workspace.base, "billing", first.staged.version)
    test = first.plan.data.split.test
    # The anchor's own answers: level on every row.
    same = Metrics("classification", len(test), dict(first.gate.candidate.overall),
                   predictions=list(first.gate.candidate.predictions))
    judged = compare_with_anchor(workspace.base, test, _verdict(candidate=same), anchor, first.staged.version,
                                 tiny_config(workspace.base))
    assert judged.anchor.gain == 0.0 and judged.anchor.paired == PairedComparison(0, 0, 1.0)
    assert not judged.promote and not judged.proven and not judged.anchor.proven
    assert judged.reason.startswith(_verdict().reason) and judged.reason.endswith("not proven either")
    assert judged.anchor.reused == 0  # no remembered answers given: every row ran


def test_an_anchor_that_cannot_be_loaded_leaves_the_verdict_and_says_why(workspace):  # noqa: F811
    _row(workspace.db, "v0001", "retired", _promoted(True, kind="base"))  # its folder does not exist
    _row(workspace.db, "v0002", "champion", _promoted(False, "v0001"))
    notes: list[str] = []
    verdict = _verdict(reference_version="v0002")
    assert _against_anchor(workspace, "billing", [], verdict, "v0002", tiny_config(workspace.base), notes) is verdict
    assert len(notes) == 1 and notes[0].startswith("anchor v0001 cannot be evaluated")
