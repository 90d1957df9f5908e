"""The cycles table on a real DuckDB file: one running cycle, watermarks, guarded commits, recovery."""

from __future__ import annotations

import pytest

from recsys.cycles import (
    CycleConflictError,
    CycleStateError,
    Guard,
    fail_cycle,
    finish_cycle,
    get_cycle,
    interrupt_stale_cycles,
    last_watermark,
    list_cycles,
    new_labeled_counts,
    note_progress,
    staged_by_interrupted,
    start_cycle,
)
from recsys.events.log import append_interactions
from recsys.store import open_database
from tests.cycle_logs import FINE, STRUGGLING, mixed_log


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "cycles.duckdb")
    yield database
    database.close()


def statuses(db) -> dict[str, str]:
    return {r.cycle_id: r.status for r in list_cycles(db)}


def test_a_cycle_covers_the_events_after_the_watermark_and_moves_it_only_when_finished(db):
    append_interactions(db, mixed_log(STRUGGLING, FINE))
    first = start_cycle(db, {"max_domains": 1}, cycle_id="c1")
    assert (first.status, first.watermark_from, first.watermark_to) == ("running", 0, 320)
    assert first.request == {"max_domains": 1}
    assert last_watermark(db) == 0  # running does not count
    finish_cycle(db, "c1", {"promoted": ["billing"]})
    assert last_watermark(db) == 320
    assert get_cycle(db, "c1").summary == {"promoted": ["billing"]}

    second = start_cycle(db, {}, cycle_id="c2")
    assert (second.watermark_from, second.watermark_to) == (320, 320)
    fail_cycle(db, "c2", "boom")
    assert last_watermark(db) == 320 and get_cycle(db, "c2").error == "boom"

    dry = start_cycle(db, {}, cycle_id="c3")
    finish_cycle(db, "c3", {}, status="planned")
    assert last_watermark(db) == 320  # a dry run never moves it
    assert statuses(db) == {"c1": "finished", "c2": "failed", "c3": "planned"}


def test_a_second_running_cycle_is_refused_naming_the_first(db):
    start_cycle(db, {}, cycle_id="c1")
    with pytest.raises(CycleStateError, match="'c1' is already running"):
        start_cycle(db, {}, cycle_id="c2")
    assert statuses(db) == {"c1": "running"}


def test_a_failed_guard_commits_nothing_and_leaves_the_cycle_running(db):
    append_interactions(db, mixed_log(STRUGGLING))
    start_cycle(db, {}, cycle_id="c1")
    domains_before = db.cursor().execute("SELECT count(*) FROM domains").fetchone()[0]
    guard = Guard("SELECT count(*) FROM interactions", (), ((999,),), "the log changed")
    insert = ("INSERT INTO domains (name) VALUES (?)", ["written-by-the-cycle"])
    with pytest.raises(CycleConflictError, match="the log changed; nothing was committed"):
        finish_cycle(db, "c1", {"x": 1}, statements=[insert], guards=[guard])
    assert db.cursor().execute("SELECT count(*) FROM domains").fetchone()[0] == domains_before
    assert get_cycle(db, "c1").status == "running" and last_watermark(db) == 0

    ok = Guard("SELECT count(*) FROM interactions", (), ((160,),), "the log changed")
    finish_cycle(db, "c1", {"x": 1}, statements=[insert], guards=[ok])
    assert db.cursor().execute("SELECT count(*) FROM domains WHERE name = 'written-by-the-cycle'").fetchone()[0] == 1
    assert last_watermark(db) == 160


def test_finishing_a_cycle_that_is_not_running_is_refused(db):
    start_cycle(db, {}, cycle_id="c1")
    fail_cycle(db, "c1", "boom")
    with pytest.raises(CycleStateError, match="'c1' is failed, not running"):
        finish_cycle(db, "c1", {})
    with pytest.raises(ValueError, match="status must be 'finished' or 'planned', got 'failed'"):
        finish_cycle(db, "c1", {}, status="failed")


def test_stale_running_cycles_become_interrupted_and_keep_what_they_staged(db):
    start_cycle(db, {}, cycle_id="c1")
    note_progress(db, "c1", {"staged": ["/adapters/billing/v0001"]})
    stale = interrupt_stale_cycles(db)
    assert [r.cycle_id for r in stale] == ["c1"]
    record = get_cycle(db, "c1")
    assert record.status == "interrupted" and "killed or crashed" in record.error
    assert staged_by_interrupted(db) == ["/adapters/billing/v0001"]
    assert interrupt_stale_cycles(db) == []
    start_cycle(db, {}, cycle_id="c2")  # no longer blocked


def test_new_labeled_counts_skip_what_adapters_were_trained_on(db):
    append_interactions(db, mixed_log(STRUGGLING, FINE))
    # Every billing and cards event is labeled (corrected or positive with an answer).
    assert new_labeled_counts(db, 320) == {"billing": 160, "cards": 160}
    assert new_labeled_counts(db, 320, ["cards"]) == {"cards": 160}
    db.cursor().execute(
        "INSERT INTO adapters (domain, version, status, base_model, task, layers, module_groups, config_json, "
        "data_from_seq, data_to_seq, path) VALUES ('billing', 'v0001', 'rejected', 'm', 'classification', [1], "
        "['mlp'], '{}', 1, 200, '/x')"
    )
    seen_after_200 = db.cursor().execute(
        "SELECT count(*) FROM interactions WHERE domain = 'billing' AND seq > 200"
    ).fetchone()[0]
    assert new_labeled_counts(db, 320)["billing"] == seen_after_200
    with pytest.raises(ValueError, match="until_seq must be an integer >= 0, got -1"):
        new_labeled_counts(db, -1)


def test_list_cycles_checks_its_limit(db):
    with pytest.raises(ValueError, match="limit must be an integer in 1..1000, got 0"):
        list_cycles(db, 0)
    with pytest.raises(LookupError, match="no cycle 'nope'"):
        get_cycle(db, "nope")
