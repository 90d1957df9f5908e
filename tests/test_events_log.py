"""The event log on a real DuckDB file: idempotent batched appends, reads, pages, Parquet export."""

from __future__ import annotations

import collections
from pathlib import Path

import duckdb
import pytest

from recsys.domains import list_domains
from recsys.events.export import export_parquet
from recsys.events.log import append_interactions
from recsys.events.model import Feedback
from recsys.events.query import (
    InvalidPageTokenError,
    fetch_interactions,
    interaction_stats,
    list_page,
    max_seq,
)
from recsys.events.validate import BatchTooLargeError, EventLimits
from recsys.store import open_database
from tests.fixtures.events import event, events, without_seq


@pytest.fixture
def db(tmp_path: Path):
    database = open_database(tmp_path / "events.duckdb")
    yield database
    database.close()


def count(db) -> int:
    return db.cursor().execute("SELECT count(*) FROM interactions").fetchone()[0]


def test_round_trip_keeps_every_field_and_assigns_increasing_seq(db):
    sent = events(25)
    result = append_interactions(db, sent)
    assert (result.accepted, result.duplicates, result.rejected) == (25, 0, 0)
    stored = fetch_interactions(db)
    assert without_seq(stored) == sent
    seqs = [e.seq for e in stored]
    assert seqs == sorted(seqs) and len(set(seqs)) == 25 and seqs[0] >= 1
    assert max_seq(db) == seqs[-1]
    assert stored[4].attributes == {"region": "us", "plan": "pro", "note": "n4"}
    assert stored[4].event_time.microsecond == sent[4].event_time.microsecond


def test_duplicates_across_and_inside_batches_are_stored_once(db):
    append_interactions(db, events(10))
    again = append_interactions(db, events(10))
    assert (again.accepted, again.duplicates) == (0, 10)
    changed_copy = event(20, input_text="first wins")
    inside = append_interactions(db, [changed_copy, event(20, input_text="second copy"), event(21)])
    assert (inside.accepted, inside.duplicates) == (2, 1)
    assert count(db) == 12
    stored_20 = [e for e in fetch_interactions(db) if e.event_id == "evt-000020"]
    assert [e.input_text for e in stored_20] == ["first wins"]


def test_rejected_events_write_nothing_while_valid_ones_are_stored(db):
    batch = [event(0), event(1, feedback="corrected", correction=""), event(2, domain="brand_new", user_id=""), event(3)]
    result = append_interactions(db, batch)
    assert (result.accepted, result.rejected) == (2, 2)
    assert [(v.index, v.field) for v in result.rejections] == [(1, "correction"), (2, "user_id")]
    assert {e.event_id for e in fetch_interactions(db)} == {"evt-000000", "evt-000003"}
    # The rejected event's new domain was not registered either.
    assert "brand_new" not in {d.name for d in list_domains(db)}
    assert {d.name for d in list_domains(db)} == {"customer_support"}


def test_batch_over_the_limit_writes_nothing(db):
    with pytest.raises(BatchTooLargeError, match="has 6 events, over the limit of 5"):
        append_interactions(db, events(6), limits=EventLimits(max_batch_events=5))
    assert count(db) == 0
    assert list_domains(db) == []


def test_non_string_values_are_a_clear_type_error_and_write_nothing(db):
    with pytest.raises(TypeError, match="column attributes must hold strings"):
        append_interactions(db, [event(0), event(1, attributes={"region": 3})])
    assert count(db) == 0


def test_read_only_database_refuses_appends(tmp_path: Path):
    path = tmp_path / "ro.duckdb"
    open_database(path).close()
    database = open_database(path, read_only=True)
    try:
        with pytest.raises(PermissionError, match="open read-only"):
            append_interactions(database, events(1))
    finally:
        database.close()


def test_fetch_filters_by_domain_user_and_seq_window(db):
    append_interactions(db, events(30))
    all_events = fetch_interactions(db)
    legal = fetch_interactions(db, domain="legal")
    assert legal and all(e.domain == "legal" for e in legal)
    assert len(legal) == sum(e.domain == "legal" for e in all_events)
    user = fetch_interactions(db, user_id="user-3", domain="legal")
    assert user and all(e.user_id == "user-3" and e.domain == "legal" for e in user)
    window = fetch_interactions(db, since_seq=all_events[9].seq, until_seq=all_events[19].seq)
    assert [e.event_id for e in window] == [e.event_id for e in all_events[10:20]]
    assert [e.event_id for e in fetch_interactions(db, limit=3)] == [e.event_id for e in all_events[:3]]


@pytest.mark.parametrize("kwargs, message", [({"limit": 0}, "limit must be"), ({"since_seq": -1}, "since_seq must be")])
def test_fetch_refuses_bad_arguments(db, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fetch_interactions(db, **kwargs)


def test_max_seq_of_empty_log_is_zero(db):
    assert max_seq(db) == 0


def test_stats_count_per_domain_and_feedback(db):
    sent = events(40)
    append_interactions(db, sent)
    stats = interaction_stats(db)
    expected = collections.Counter((e.domain, e.feedback.value) for e in sent)
    assert {(c.domain, c.feedback.value): c.count for c in stats.counts} == expected
    assert stats.total == 40 and stats.users == len({e.user_id for e in sent})
    legal = interaction_stats(db, domain="legal")
    assert legal.total == sum(e.domain == "legal" for e in sent)
    assert set(legal.by_domain()) == {"legal"}
    assert legal.by_domain()["legal"][Feedback.CORRECTED.value] == expected[("legal", "corrected")]


def test_pages_cover_everything_once_in_order(db):
    append_interactions(db, events(250))
    seen, token, pages = [], "", 0
    while True:
        page = list_page(db, limit=100, page_token=token)
        seen += page.interactions
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert [e.event_id for e in seen] == [e.event_id for e in events(250)]


def test_page_tokens_are_checked(db):
    append_interactions(db, events(5))
    token = list_page(db, domain="legal", limit=1).next_page_token
    assert token
    with pytest.raises(InvalidPageTokenError, match="issued for other filters"):
        list_page(db, domain="contracts", limit=1, page_token=token)
    with pytest.raises(InvalidPageTokenError, match="page_token 'garbage!' is not a token"):
        list_page(db, page_token="garbage!")
    with pytest.raises(ValueError, match="limit must be between 1 and 1000, got 1001"):
        list_page(db, limit=1001)


def test_export_parquet_partitions_by_utc_date(db, tmp_path: Path):
    sent = events(20) + [event(100, event_time=event(0).event_time.replace(day=6, hour=23, minute=59))]
    append_interactions(db, sent)
    files = export_parquet(db, tmp_path / "export")
    folders = {f.parent.name for f in files}
    assert folders == {"event_date=2026-01-05", "event_date=2026-01-06"}
    con = duckdb.connect()
    rows = con.execute(
        "SELECT event_id, event_date FROM read_parquet(?, hive_partitioning = true) ORDER BY event_id",
        [str(tmp_path / "export" / "**" / "*.parquet")],
    ).fetchall()
    assert [r[0] for r in rows] == sorted(e.event_id for e in sent)
    assert str(dict(rows)["evt-000100"]) == "2026-01-06"


def test_export_refuses_a_non_empty_folder_unless_overwriting(db, tmp_path: Path):
    append_interactions(db, events(3))
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty"):
        export_parquet(db, folder)
    assert (folder / "keep.txt").read_text() == "mine"
    assert list(folder.rglob("*.parquet")) == []
    assert len(export_parquet(db, folder, overwrite=True)) == 1


def test_traffic_registers_new_domains_and_leaves_known_ones_untouched(db):
    from recsys.domains import DomainRecord, upsert_domain

    upsert_domain(db, DomainRecord("legal", None, "law"))
    upsert_domain(db, DomainRecord("contracts", "legal", "clauses"))
    append_interactions(db, events(9))
    append_interactions(db, events(9, start=9))
    domains = {d.name: d for d in list_domains(db)}
    assert set(domains) == {"customer_support", "legal", "contracts"}
    assert domains["contracts"] == DomainRecord("contracts", "legal", "clauses")
    assert domains["customer_support"].parent is None
