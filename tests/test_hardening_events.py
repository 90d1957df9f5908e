"""Issue 13, defects 1, 2, 5 and 6: times, names and sizes a client sends cannot poison the log
or blow up a response (real server on 127.0.0.1, real DuckDB file)."""

from __future__ import annotations

from datetime import datetime, timezone

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsys.events.query import fetch_interactions
from server._proto.adaptune.v1 import interactions_pb2 as pb
from server._proto.adaptune.v1 import interactions_pb2_grpc as pb_grpc
from server.client import InvalidArgumentError
from server.convert.interactions import interaction_to_proto
from tests.fixtures.events import event


def stored_ids(db) -> set[str]:
    return {row[0] for row in db.cursor().execute("SELECT event_id FROM interactions").fetchall()}


def with_time(i: int, seconds: int, nanos: int = 0) -> pb.Interaction:
    message = interaction_to_proto(event(i))
    message.event_time.CopyFrom(Timestamp(seconds=seconds, nanos=nanos))
    return message


def log_batch(live_server, messages: list[pb.Interaction]) -> pb.LogSummary:
    with grpc.insecure_channel(live_server.address) as channel:
        stub = pb_grpc.InteractionServiceStub(channel)
        return stub.LogInteractions(iter([pb.InteractionBatch(interactions=messages)]), timeout=30)


BAD_TIMES = [
    (-1, 0, "before 1970"),
    (-62_135_596_800 - 86_400, 0, "event_time.seconds"),  # before year 1
    (10**13, 0, "event_time.seconds"),
    (-(10**13), 0, "event_time.seconds"),
    (-(2**62), 0, "event_time.seconds"),
    (1_700_000_000, 2_000_000_000, "event_time.nanos 2000000000"),
    (1_700_000_000, -5, "event_time.nanos -5"),
]


@pytest.mark.parametrize("seconds, nanos, expected", BAD_TIMES)
def test_bad_event_time_is_refused_per_event_and_the_rest_is_stored(live_server, seconds, nanos, expected):
    summary = log_batch(live_server, [interaction_to_proto(event(1)), with_time(2, seconds, nanos)])
    assert (summary.accepted, summary.rejected) == (1, 1)
    rejection = summary.rejections[0]
    assert (rejection.index, rejection.field) == (1, "event_time")
    assert expected in rejection.reason
    assert stored_ids(live_server.db) == {"evt-000001"}


def test_unary_log_refuses_time_before_1970_naming_the_field(live_server):
    old = event(3, event_time=datetime(1969, 12, 31, tzinfo=timezone.utc))
    with pytest.raises(InvalidArgumentError, match="event_time 1969-12-31T00:00:00Z is before 1970"):
        live_server.client.log_interaction(old)
    assert stored_ids(live_server.db) == set()


def test_reading_an_event_stored_before_year_one_never_crashes(live_server):
    """What an older version let in: listing it and the cycle's read both still work."""
    live_server.client.log_interaction(event(5))
    with live_server.db.write_lock:
        live_server.db.cursor().execute(
            "UPDATE interactions SET event_time = '0001-01-01 00:00:00+00'::TIMESTAMPTZ - INTERVAL 400 DAY"
        )
    listed = live_server.client.list_interactions().interactions
    assert listed[0].event_time == datetime.min.replace(tzinfo=timezone.utc)
    assert fetch_interactions(live_server.db)[0].event_id == "evt-000005"


def test_rejection_does_not_echo_a_huge_event_id(server_factory):
    live = server_factory(max_message_bytes=1024 * 1024)
    huge = interaction_to_proto(event(1))
    huge.event_id = "x" * (700 * 1024)
    summary = log_batch(live, [huge, interaction_to_proto(event(2))])
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert len(summary.rejections[0].event_id) < 100 and len(summary.rejections[0].reason) < 300
    assert summary.ByteSize() < 2048


def test_list_interactions_pages_are_bounded_in_bytes(server_factory):
    live = server_factory(max_message_bytes=256 * 1024)
    big = [event(i, input_text="q" * 16_000, model_output="a" * 16_000) for i in range(20)]
    assert live.client.log_interactions(big, batch_size=2).accepted == 20
    page = live.client.list_interactions(limit=100)
    assert 1 <= len(page.interactions) < 20 and page.next_page_token
    assert [e.event_id for e in live.client.iter_interactions(page_size=100)] == [e.event_id for e in big]


def test_upsert_domain_refuses_a_trailing_newline_and_changes_nothing(live_server):
    with pytest.raises(InvalidArgumentError, match=r"domain 'legal\\n' is invalid"):
        live_server.client.upsert_domain("legal\n")
    assert live_server.client.list_domains() == []


def test_upsert_domain_bounds_the_description(live_server):
    with pytest.raises(InvalidArgumentError, match="description has 5000 characters, over the limit of 1024"):
        live_server.client.upsert_domain("legal", description="d" * 5000)
    assert live_server.client.list_domains() == []


def test_list_domains_stays_under_the_message_limit(server_factory):
    live = server_factory(max_message_bytes=64 * 1024)
    for i in range(80):
        live.client.upsert_domain(f"d{i:03d}", description="x" * 1000)
    with grpc.insecure_channel(live.address) as channel:
        response = pb_grpc.InteractionServiceStub(channel).ListDomains(pb.ListDomainsRequest(), timeout=30)
    assert response.truncated and 0 < len(response.domains) < 80
    assert response.ByteSize() < 64 * 1024
