"""Which adapter the next candidate continues, and which rows count as learned (real DuckDB, real cycles)."""

from __future__ import annotations

import json
import math

from recsys.events.log import append_interactions
from recsys.store import open_database
from tests.cycle_logs import FINE, STRUGGLING, domain_events, mixed_log
from tests.test_cycle_run import tiny_config, workspace  # noqa: F401 - the fixture
from tuner.cycle.continuation import continuation, learned_seq, tried_seq
from tuner.cycle.running import continues, run_cycle


def _adapter_row(db, version: str, status: str, to_seq: int, gate: dict | None = None) -> None:
    db.cursor().execute(
        "INSERT INTO adapters (domain, version, status, base_model, task, layers, module_groups, config_json, "
        "metrics_json, data_from_seq, data_to_seq, path) "
        "VALUES ('billing', ?, ?, 'm', 'classification', [1], ['mlp'], '{}', ?, 1, ?, '/x')",
        [version, status, json.dumps({"gate": gate} if gate else {}), to_seq],
    )


def _kept(gain: float, champion: str = "v0001", passed: bool = True, kind: str = "champion") -> dict:
    return {"decision": "keep", "gain": gain, "reference": {"kind": kind, "version": champion},
            "audits": [{"attribute": "region", "passed": passed}]}  # fmt: skip


def test_a_kept_candidate_no_worse_than_the_champion_is_continued_and_its_rows_count_as_learned(tmp_path):
    db = open_database(tmp_path / "line.duckdb")
    try:
        assert learned_seq(db, "billing") == 0 and continuation(db, "billing") is None  # nothing trained yet
        _adapter_row(db, "v0001", "champion", 100)
        assert learned_seq(db, "billing") == 100 and continuation(db, "billing") is None
        _adapter_row(db, "v0002", "rejected", 200, _kept(+0.004))
        line = continuation(db, "billing")
        assert (line.version, line.data_to_seq, line.champion_version) == ("v0002", 200, "v0001")
        assert learned_seq(db, "billing") == 200
        _adapter_row(db, "v0003", "rejected", 300, _kept(0.0))  # gains add up along the line
        assert continuation(db, "billing").version == "v0003" and learned_seq(db, "billing") == 300
    finally:
        db.close()


def test_with_a_significance_level_only_a_loss_the_rows_show_breaks_the_line(tmp_path):
    one_row = {**_kept(-0.0007), "paired": {"wins": 20, "losses": 21, "p_value": 0.62}}  # one row in 1,350
    clear = {**_kept(-0.01), "paired": {"wins": 10, "losses": 28, "p_value": 0.999}}  # losses: p = 0.003
    db = open_database(tmp_path / "paired.duckdb")
    try:
        _adapter_row(db, "v0001", "champion", 100)
        _adapter_row(db, "v0002", "rejected", 200, one_row)
        assert continuation(db, "billing") is None  # significance 0: any loss breaks it
        assert continuation(db, "billing", 0.05).version == "v0002" and learned_seq(db, "billing", 0.05) == 200
        # A line looked up already (None included) is not looked up again.
        assert learned_seq(db, "billing", 0.05, None) == 100
        assert learned_seq(db, "billing", 0.0, continuation(db, "billing", 0.05)) == 200
        _adapter_row(db, "v0003", "rejected", 300, clear)
        assert continuation(db, "billing", 0.05) is None and learned_seq(db, "billing", 0.05) == 100
        # The broken line's rows are not learned, but a candidate trained on them: not new either.
        assert tried_seq(db, "billing") == 300 and tried_seq(db, "other") == 0
        _adapter_row(db, "v0004", "rejected", 400, _kept(-0.001))  # no row counts (an older gate): a loss
        assert continuation(db, "billing", 0.05) is None
    finally:
        db.close()


def test_the_line_breaks_on_a_loss_a_failed_audit_another_champion_or_a_review(tmp_path):
    breakers = {
        "worse": ("rejected", _kept(-0.002)),
        "audit": ("rejected", _kept(+0.02, passed=False)),
        "older champion": ("rejected", _kept(+0.01, champion="v0000")),
        "against the base": ("rejected", _kept(+0.01, kind="base")),
        "review": ("awaiting_review", _kept(+0.03)),
        "no gate": ("rejected", None),
    }
    for name, (status, gate) in breakers.items():
        db = open_database(tmp_path / f"{name}.duckdb")
        try:
            _adapter_row(db, "v0001", "champion", 100)
            _adapter_row(db, "v0002", "rejected", 200, _kept(+0.004))
            _adapter_row(db, "v0003", status, 300, gate)
            assert continuation(db, "billing") is None, name
            assert learned_seq(db, "billing") == 100, name  # back to the champion: its unseen rows are new again
        finally:
            db.close()


def test_the_next_cycle_continues_a_kept_candidate_and_trains_only_on_what_came_after_it(workspace):  # noqa: F811
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    run_cycle(workspace, tiny_config(workspace.base))
    append_interactions(workspace.db, domain_events(STRUGGLING, seed=1, prefix="later"))
    (kept,) = run_cycle(workspace, tiny_config(workspace.base, margin=0.5, significance=0.0)).outcomes
    # No worse than the champion, but not better by the 0.5 margin (the margin alone decides): kept.
    assert not kept.gate.promote and 0.0 <= kept.gate.gain < 0.5
    kept_to = workspace.registry.get("billing", kept.staged.version).data_window[1]

    append_interactions(workspace.db, domain_events(STRUGGLING, seed=2, prefix="third"))
    (third,) = run_cycle(workspace, tiny_config(workspace.base)).outcomes

    assert third.warm_start == f"billing/{kept.staged.version}"
    assert third.plan.data.line.version == kept.staged.version  # the planner decided it; the worker started from it
    assert any(note.startswith(f"continues {kept.staged.version}") for note in third.notes)
    new_rows = [e for e in third.plan.data.split.train if e.seq > kept_to]
    assert third.plan.data.new_train == len(new_rows) > 0
    assert third.plan.data.replayed == len(third.plan.data.split.train) - len(new_rows)
    assert third.gate.reference_version == "v0001"  # still judged against the champion
    # Its start learned the replayed rows: each is trained once over the run, new rows every pass.
    epochs, batch = 3, 16  # tiny_config: continue_epochs 3, batch_size 16
    assert third.train["replayed_once"] == third.plan.data.replayed > 0
    # Its start was selected on these validation rows: scored, never kept (TrainConfig.select_start).
    assert kept.train["best_step"] > 0 and third.train["best_step"] > 0
    assert third.train["start_not_kept"] == third.history[0].val_metric
    assert "may not be kept" in third.train["why_stopped"]
    assert third.train["total_steps"] == epochs * math.ceil((len(new_rows) + third.plan.data.replayed / epochs) / batch)


def test_only_a_candidate_from_the_champion_or_its_kept_line_continues_it():
    from types import SimpleNamespace as Record

    from tuner.cycle.continuation import Continuation

    line = Continuation(version="v0004", data_to_seq=90, gain=0.004, champion_version="v0003")
    assert continues(Record(domain="billing", version="v0003"), None, "billing", "v0003")
    assert continues(Record(domain="billing", version="v0004"), line, "billing", "v0003")
    # A line kept against an earlier champion, a parent's adapter, no start or no champion: no.
    assert not continues(Record(domain="billing", version="v0004"), line, "billing", "v0005")
    assert not continues(Record(domain="billing", version="v0002"), None, "billing", "v0003")
    assert not continues(Record(domain="finance", version="v0003"), None, "billing", "v0003")
    assert not continues(None, None, "billing", "v0003")
    assert not continues(Record(domain="billing", version="v0003"), None, "billing", None)
