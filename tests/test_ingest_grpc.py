"""Ingestion through a real gRPC server on 127.0.0.1 over a real DuckDB file."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from recsys.events.query import fetch_interactions
from server._proto.adaptune.v1 import interactions_pb2 as pb
from server.client import InvalidArgumentError, NotFoundError, ResourceExhaustedError
from server.convert.interactions import interaction_to_proto
from tests.fixtures.events import event, events, without_seq


def stored_ids(db) -> set[str]:
    return {row[0] for row in db.cursor().execute("SELECT event_id FROM interactions").fetchall()}


def proto(i: int, **fields) -> pb.Interaction:
    """A valid event as a message, with raw protobuf overrides (e.g. an unknown feedback number)."""
    message = interaction_to_proto(event(i))
    for name, value in fields.items():
        if name == "event_time":
            message.event_time.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def test_round_trip_keeps_every_field(live_server):
    sent = events(120)
    result = live_server.client.log_interactions(sent, batch_size=50)
    assert (result.accepted, result.duplicates, result.rejected, result.batches) == (120, 0, 0, 3)
    read_back = list(live_server.client.iter_interactions(page_size=40))
    assert without_seq(read_back) == sent
    assert [e.seq for e in read_back] == [e.seq for e in fetch_interactions(live_server.db)]
    assert read_back[7].attributes == sent[7].attributes and read_back[7].event_time == sent[7].event_time


def test_same_batch_twice_is_stored_once(live_server):
    first = live_server.client.log_interactions(events(60), batch_size=60)
    second = live_server.client.log_interactions(events(60), batch_size=60)
    assert (first.accepted, first.duplicates) == (60, 0)
    assert (second.accepted, second.duplicates) == (0, 60)
    assert live_server.client.interaction_stats().total == 60


def test_unary_log_interaction_reports_duplicates(live_server):
    assert live_server.client.log_interaction(event(1)).accepted == 1
    again = live_server.client.log_interaction(event(1))
    assert (again.accepted, again.duplicates) == (0, 1)


FUTURE = datetime.now(timezone.utc) + timedelta(days=365)
BAD_EVENTS = [
    ("event_id", {"event_id": ""}, "event_id is required"),
    ("user_id", {"user_id": ""}, "user_id is required"),
    ("domain", {"domain": ""}, "domain '' is invalid"),
    ("feedback", {"feedback": 7}, "feedback '7' is not one of positive, negative, corrected"),
    ("feedback", {"feedback": pb.FEEDBACK_UNSPECIFIED}, "feedback is required"),
    ("correction", {"feedback": pb.FEEDBACK_CORRECTED, "correction": ""}, "correction is required when feedback is 'corrected'"),
    ("input_text", {"input_text": "x" * 16_385}, "input_text has 16385 characters, over the limit of 16384"),
    ("event_time", {"event_time": pb.Interaction().event_time}, "event_time is required"),
    ("event_time", {"event_time": interaction_to_proto(event(0, event_time=FUTURE)).event_time}, "ahead of the receiver's clock"),
]


def test_bad_events_in_a_stream_are_rejected_by_index_and_the_rest_stored(live_server):
    good = [proto(i) for i in range(20)]
    bad = [proto(100 + k, **fields) for k, (_, fields, _) in enumerate(BAD_EVENTS)]
    batch0 = pb.InteractionBatch(interactions=good[:10])
    # Batch 1 interleaves: good, bad, good, bad, ...
    mixed = [m for pair in zip(good[10:], bad) for m in pair] + good[10 + len(bad):]
    batch1 = pb.InteractionBatch(interactions=mixed)
    result = live_server.client.log_interaction_batches([batch0, batch1])
    assert (result.accepted, result.rejected, result.batches) == (20, len(BAD_EVENTS), 2)
    assert len(result.rejections) == len(BAD_EVENTS) and not result.rejections_truncated
    for k, ((field, _, expected), rejection) in enumerate(zip(BAD_EVENTS, result.rejections)):
        index = 2 * k + 1
        assert (rejection.batch_index, rejection.index, rejection.field, rejection.code) == (1, index, field, "INVALID_ARGUMENT")
        assert rejection.reason.startswith(f"interactions[{index}] (event_id ")
        assert expected in rejection.reason
    ids = stored_ids(live_server.db)
    assert ids == {m.event_id for m in good}
    assert not ids & {m.event_id for m in bad}


@pytest.mark.parametrize("field, fields, expected", BAD_EVENTS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_EVENTS)])
def test_bad_unary_event_is_invalid_argument_and_writes_nothing(live_server, field, fields, expected):
    request = pb.LogInteractionRequest(interaction=proto(1, **fields))
    with pytest.raises(grpc.RpcError) as raised:
        live_server.client._interactions.LogInteraction(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("interactions[0] (event_id ")
    assert expected in raised.value.details()
    assert stored_ids(live_server.db) == set()


def test_client_raises_invalid_argument_for_a_bad_event(live_server):
    with pytest.raises(InvalidArgumentError, match=r"interactions\[0\].*correction is required"):
        live_server.client.log_interaction(event(2, feedback="corrected", correction=""))


def test_batch_over_the_event_limit_is_resource_exhausted(server_factory):
    server = server_factory(max_events_per_batch=10)
    batches = [pb.InteractionBatch(interactions=[proto(i) for i in range(5)]),
               pb.InteractionBatch(interactions=[proto(i) for i in range(5, 16)])]
    with pytest.raises(ResourceExhaustedError, match="batch 1 has 11 events, over the limit of 10") as raised:
        server.client.log_interaction_batches(batches)
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Batch 0 was committed before batch 1 arrived; nothing of batch 1 is stored.
    assert stored_ids(server.db) == {f"evt-{i:06d}" for i in range(5)}


def test_message_over_the_byte_limit_is_resource_exhausted(server_factory):
    server = server_factory(max_message_bytes=64 * 1024)
    big = pb.InteractionBatch(interactions=[proto(i, input_text="w" * 10_000) for i in range(10)])
    with pytest.raises(ResourceExhaustedError, match="larger than max"):
        server.client.log_interaction_batches([big])
    assert stored_ids(server.db) == set()


def test_concurrent_streams_lose_nothing(live_server):
    clients = 4
    # Each client sends its own 300 events plus 100 that every client sends.
    shared = events(100, start=10_000)
    results = [None] * clients

    def send(k: int) -> None:
        with live_server.connect() as client:
            mine = events(300, start=1000 * k)
            results[k] = client.log_interactions(mine + shared, batch_size=37)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None for r in results)
    assert sum(r.accepted for r in results) == clients * 300 + 100
    assert sum(r.duplicates for r in results) == (clients - 1) * 100
    expected = {e.event_id for k in range(clients) for e in events(300, start=1000 * k)} | {e.event_id for e in shared}
    assert stored_ids(live_server.db) == expected
    seqs = [e.seq for e in fetch_interactions(live_server.db)]
    assert len(set(seqs)) == len(seqs) == len(expected)


def test_list_interactions_pages_and_filters(live_server):
    live_server.client.log_interactions(events(250))
    first = live_server.client.list_interactions(limit=100)
    assert len(first.interactions) == 100 and first.next_page_token
    everything = list(live_server.client.iter_interactions(page_size=100))
    assert [e.event_id for e in everything] == [e.event_id for e in events(250)]
    legal = list(live_server.client.iter_interactions(domain="legal", page_size=30))
    assert legal and {e.domain for e in legal} == {"legal"}
    assert len(legal) == sum(e.domain == "legal" for e in events(250))
    with pytest.raises(InvalidArgumentError, match="page_token 'nonsense' is not a token"):
        live_server.client.list_interactions(page_token="nonsense")
    with pytest.raises(InvalidArgumentError, match="issued for other filters"):
        live_server.client.list_interactions(domain="contracts", page_token=first.next_page_token)


def test_stats_by_domain_and_feedback(live_server):
    sent = events(90)
    live_server.client.log_interactions(sent)
    stats = live_server.client.interaction_stats()
    assert stats.total == 90
    table = stats.by_domain()
    for domain in ("customer_support", "legal", "contracts"):
        for feedback in ("positive", "negative", "corrected"):
            expected = sum(e.domain == domain and e.feedback.value == feedback for e in sent)
            assert table[domain].get(feedback, 0) == expected
    assert live_server.client.interaction_stats(domain="legal").by_domain().keys() == {"legal"}


def test_domains_register_with_parents_and_refuse_unknown_parents(live_server):
    client = live_server.client
    client.upsert_domain("legal", description="law")
    assert client.upsert_domain("contracts", parent="legal").parent == "legal"
    with pytest.raises(NotFoundError, match="parent 'nowhere' is not a known domain"):
        client.upsert_domain("tax", parent="nowhere")
    with pytest.raises(InvalidArgumentError, match="domain 'Bad Name' is invalid"):
        client.upsert_domain("Bad Name")
    assert [(d.name, d.parent) for d in client.list_domains()] == [("contracts", "legal"), ("legal", None)]
    # Traffic registers the domains it names (without parents).
    client.log_interactions([event(0)])
    assert "customer_support" in {d.name for d in client.list_domains()}


def test_health_and_reflection_list_the_services(live_server):
    assert live_server.client.health() == "SERVING"
    assert live_server.client.health("adaptune.v1.InteractionService") == "SERVING"
    channel = grpc.insecure_channel(live_server.address)
    try:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    finally:
        channel.close()
    assert "adaptune.v1.InteractionService" in services
    assert "grpc.health.v1.Health" in services


def test_summary_lists_at_most_1000_rejections_but_counts_them_all(live_server):
    bad = [proto(i, user_id="") for i in range(1500)]
    good = [proto(i) for i in range(5000, 5010)]
    batches = [pb.InteractionBatch(interactions=bad[:800] + good), pb.InteractionBatch(interactions=bad[800:])]
    result = live_server.client.log_interaction_batches(batches)
    assert (result.accepted, result.rejected, result.rejections_truncated) == (10, 1500, True)
    assert len(result.rejections) == 1000
    assert [(r.batch_index, r.index) for r in result.rejections[798:802]] == [(0, 798), (0, 799), (1, 0), (1, 1)]
    assert stored_ids(live_server.db) == {m.event_id for m in good}


def test_empty_batches_and_empty_streams_store_nothing(live_server):
    result = live_server.client.log_interaction_batches([pb.InteractionBatch(), pb.InteractionBatch(interactions=[proto(1)])])
    assert (result.accepted, result.batches) == (1, 2)
    nothing = live_server.client.log_interaction_batches([])
    assert (nothing.accepted, nothing.duplicates, nothing.rejected, nothing.batches) == (0, 0, 0, 0)
    assert stored_ids(live_server.db) == {"evt-000001"}
