"""/metrics parsed with prometheus_client's parser and checked against what was sent and done."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.client import AdaptuneClient, ClientError
from tests.fixtures.dashboard import TOKEN, DashboardServer
from tests.fixtures.events import event, events


def scrape(port: int, token: str | None = TOKEN) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one /metrics answer."""
    answer = DashboardServer(None, port, token or "", []).request("GET", "/metrics", token=token)
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_ingestion_counters_match_what_was_sent(server_factory):
    live = server_factory(http_port=0, token=TOKEN)
    first = live.client.log_interactions(events(30))
    assert first.accepted == 30
    again = events(35)  # 30 duplicates, 5 new
    bad = [dataclasses.replace(event(100), user_id=""), dataclasses.replace(event(101), domain="Bad Domain!")]
    second = live.client.log_interactions(again + bad)
    assert (second.accepted, second.duplicates, second.rejected) == (5, 30, 2)
    with AdaptuneClient(live.address, token="wrong", timeout=10) as stranger, pytest.raises(ClientError) as refused:
        stranger.interaction_stats()
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED

    samples = scrape(live.http_port)
    assert value(samples, "adaptune_events_accepted_total") == 35
    assert value(samples, "adaptune_events_duplicate_total") == 30
    assert value(samples, "adaptune_events_rejected_total", field="user_id") == 1
    assert value(samples, "adaptune_events_rejected_total", field="domain") == 1
    assert value(samples, "adaptune_batch_commit_seconds_count") == 2  # one batch per call (under 500 events)
    assert value(samples, "adaptune_rpcs_total", method="LogInteractions", code="OK") == 2
    assert value(samples, "adaptune_rpcs_total", method="InteractionStats", code="UNAUTHENTICATED") == 1
    assert value(samples, "adaptune_store_up") == 1 and value(samples, "adaptune_stored_events") == 35
    assert value(samples, "adaptune_resident_adapters") == 0  # no Predict yet: no model loaded


def test_failed_calls_are_counted_by_code(server_factory):
    live = server_factory(http_port=0)
    with pytest.raises(ClientError):
        live.client.promote_adapter("billing", "v9")
    with pytest.raises(ClientError) as no_champion:
        live.client.rollback_adapter("billing")
    samples = scrape(live.http_port, token=None)
    assert value(samples, "adaptune_rpcs_total", method="PromoteAdapter", code="INVALID_ARGUMENT") == 1
    assert value(samples, "adaptune_rpcs_total", method="RollbackAdapter", code=no_champion.value.code.name) == 1
    failed = sum(v for (name, labels), v in samples.items() if name == "adaptune_rpcs_total" and ("code", "OK") not in labels)
    assert failed == 2


def test_each_server_counts_only_its_own_calls(server_factory):
    one, two = server_factory(http_port=0), server_factory(http_port=0)
    one.client.log_interactions(events(4))
    two.client.log_interactions(events(9))
    assert value(scrape(one.http_port, None), "adaptune_events_accepted_total") == 4
    assert value(scrape(two.http_port, None), "adaptune_events_accepted_total") == 9


def test_cycles_predict_residency_and_evictions(dashboard: DashboardServer):
    samples = scrape(dashboard.http_port)
    assert value(samples, "adaptune_cycles_total", status="finished") == 2
    assert value(samples, "adaptune_cycle_duration_seconds_count") == 2
    assert value(samples, "adaptune_cycle_duration_seconds_sum") > 0
    assert value(samples, "adaptune_last_successful_cycle_timestamp_seconds") > 1.7e9
    assert value(samples, "adaptune_rpcs_total", method="RunCycle", code="OK") == 2

    client = dashboard.live.client
    champion = dashboard.champion("billing")
    other = "v0002" if champion == "v0001" else "v0001"
    before = scrape(dashboard.http_port)
    client.predict("b1", ["pay my bill", "send money", "bill"], domain="billing")
    client.predict("c1", ["lost card"], domain="cards")
    middle = scrape(dashboard.http_port)
    assert value(middle, "adaptune_predict_seconds_count", variant_kind="adapter") - \
        value(before, "adaptune_predict_seconds_count", variant_kind="adapter") == 1
    assert value(middle, "adaptune_predict_batch_rows_sum", variant_kind="adapter") - \
        value(before, "adaptune_predict_batch_rows_sum", variant_kind="adapter") == 3
    assert value(middle, "adaptune_predict_seconds_count", variant_kind="base") - \
        value(before, "adaptune_predict_seconds_count", variant_kind="base") == 1
    assert value(middle, "adaptune_resident_adapters") == 1 and value(middle, "adaptune_resident_adapter_bytes") > 0
    client.promote_adapter("billing", other)  # max_adapters=1: serving the other version evicts the first
    try:
        client.predict("b1", ["pay my bill"], domain="billing")
        after = scrape(dashboard.http_port)
    finally:
        client.promote_adapter("billing", champion)
    assert value(after, "adaptune_adapter_evictions_total") - value(middle, "adaptune_adapter_evictions_total") == 1
    assert value(after, "adaptune_resident_adapters") == 1
