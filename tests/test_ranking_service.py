"""RankTargets over a real gRPC server on 127.0.0.1 with a real DuckDB file."""

from __future__ import annotations

import math

import grpc
import pytest

from recsys.layers import DEFAULT_LAYER_BUDGET
from recsys.probes import write_probes
from server._proto.adaptune.v1 import ranking_pb2 as pb
from server._proto.adaptune.v1 import ranking_pb2_grpc as pb_grpc
from server.client import ClientError, NotFoundError
from tests.ranking_logs import BOTTOM_HEAVY, TOP_HEAVY, probe_run, repeat, segment_log, to_interactions


def struggling_log():
    """Group a: banking, travel, credit_cards (fails half the time); group b: kitchen, work, auto.

    ``newcomer`` uses banking and travel only.
    """
    events = segment_log(
        {"a": ["banking", "travel", "credit_cards"], "b": ["kitchen", "work", "auto"]},
        users_per_group=12,
        failing={"credit_cards": 0.5, "auto": 0.2},
    )
    events += repeat("newcomer", "banking", "positive", 10) + repeat("newcomer", "travel", "positive", 10)
    return to_interactions(events)


@pytest.fixture
def ranked_server(live_server):
    result = live_server.client.log_interactions(struggling_log())
    assert result.accepted == 2 * 12 * 3 * 12 + 20
    # banking is probed (top layers matter); kitchen too (bottom layers); the rest is completed by CF.
    write_probes(live_server.db, probe_run("banking", TOP_HEAVY, "a1") + probe_run("banking", TOP_HEAVY, "a2")
                 + probe_run("kitchen", BOTTOM_HEAVY, "k1") + probe_run("kitchen", BOTTOM_HEAVY, "k2"))
    return live_server


def raw_stub(server) -> pb_grpc.RankingServiceStub:
    """Straight to the wire, past the client's own checks, to see what the server does."""
    return pb_grpc.RankingServiceStub(grpc.insecure_channel(server.address))


def test_empty_log_is_failed_precondition(live_server):
    with pytest.raises(ClientError) as error:
        live_server.client.rank_targets()
    assert error.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "no events" in error.value.details


def test_global_ranking_with_evidence_and_layers(ranked_server):
    ranking = ranked_server.client.rank_targets(top_k=3, layer_budget=0.5, include_importance=True)
    assert not ranking.cold_start and ranking.method == "als"
    assert ranking.events_used == 2 * 12 * 3 * 12 + 20
    assert ranking.base_model == "tiny-llama" and ranking.num_layers == 6
    top = ranking.domains[0]
    assert top.score.domain == "credit_cards"
    assert top.score.event_count == 144 and top.score.corrected_count == 72 and top.score.negative_count == 0
    assert top.score.error_rate == pytest.approx(0.5) and top.score.user_count == 12
    assert [d.score.domain for d in ranking.domains][1] == "auto"
    # credit_cards has no probes: its layers are borrowed from banking (same users), top-heavy.
    assert top.probe_count == 0 and {s.source for s in top.layers} == {"cf"}
    assert top.layers[0].layer == 5 and 0 < top.layer_cost <= 0.5
    assert [s.score for s in top.layers] == sorted((s.score for s in top.layers), reverse=True)
    auto = ranking.domains[1]
    # Like kitchen, auto's most important layer is the bottom one, but adapting layer 0 costs
    # the whole backward pass: a budget of 0.5 keeps the selection in the top half.
    assert auto.importance[0].layer == 0 and auto.importance[0].source == "cf"
    assert min(s.layer for s in auto.layers) >= 3
    assert all(d.layer_cost <= 0.5 + 1e-9 for d in ranking.domains)


def test_user_rankings_and_cold_start(ranked_server):
    client = ranked_server.client
    newcomer = client.rank_targets(user_id="newcomer", top_k=6)
    assert not newcomer.cold_start and newcomer.user_id == "newcomer"
    order = [d.score.domain for d in newcomer.domains]
    assert order[0] == "credit_cards" and order.index("credit_cards") < order.index("auto")
    stranger = client.rank_targets(user_id="never-seen", top_k=2)
    assert stranger.cold_start
    assert [d.score.domain for d in stranger.domains] == ["credit_cards", "auto"]


def test_one_domain_with_all_its_importance(ranked_server):
    ranking = ranked_server.client.rank_targets(domain="banking", layer_budget=1.0, include_importance=True)
    (banking,) = ranking.domains
    assert banking.score.domain == "banking" and banking.probe_count == 2
    assert len(banking.importance) == 12 and banking.importance[0].source == "probe"
    assert len(banking.layers) == 12 and banking.layer_cost == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("request_fields", "code", "named"),
    [
        ({"top_k": 101}, grpc.StatusCode.INVALID_ARGUMENT, "top_k"),
        ({"layer_budget": 1.5}, grpc.StatusCode.INVALID_ARGUMENT, "layer_budget"),
        ({"layer_budget": -0.2}, grpc.StatusCode.INVALID_ARGUMENT, "layer_budget"),
        ({"layer_budget": math.nan}, grpc.StatusCode.INVALID_ARGUMENT, "layer_budget"),
        ({"domain": "legal"}, grpc.StatusCode.NOT_FOUND, "'legal'"),
        ({"domain": "Not A Domain"}, grpc.StatusCode.INVALID_ARGUMENT, "domain"),
        ({"base_model": "never-probed"}, grpc.StatusCode.NOT_FOUND, "never-probed"),
    ],
)
def test_bad_requests_are_named_and_change_nothing(ranked_server, request_fields, code, named):
    before = ranked_server.client.rank_targets(top_k=6)
    with pytest.raises(grpc.RpcError) as error:
        raw_stub(ranked_server).RankTargets(pb.RankTargetsRequest(**request_fields), timeout=30)
    assert error.value.code() is code
    assert named in error.value.details()
    assert ranked_server.client.rank_targets(top_k=6) == before


def test_a_budget_below_any_target_buys_the_top_layers_best_target(ranked_server):
    ranking = ranked_server.client.rank_targets(top_k=3, layer_budget=0.001)
    for domain in ranking.domains:
        assert [(t.layer, t.module_group) for t in domain.layers] == [(5, domain.layers[0].module_group)]
        assert domain.layer_cost > 0.001  # the overrun is shown, not hidden


def test_unset_numbers_mean_the_documented_defaults(ranked_server):
    response = raw_stub(ranked_server).RankTargets(pb.RankTargetsRequest(), timeout=30)
    assert len(response.domains) == 3 and response.layer_budget == pytest.approx(DEFAULT_LAYER_BUDGET)


def test_client_checks_its_arguments_before_sending(ranked_server):
    with pytest.raises(ValueError, match="top_k"):
        ranked_server.client.rank_targets(top_k=0)
    with pytest.raises(ValueError, match="layer_budget"):
        ranked_server.client.rank_targets(layer_budget=0.0)
    with pytest.raises(NotFoundError, match="legal"):
        ranked_server.client.rank_targets(domain="legal")


def test_ranking_follows_new_traffic(ranked_server):
    first = ranked_server.client.rank_targets(top_k=1)
    assert first.domains[0].score.domain == "credit_cards"
    # Kitchen starts failing badly: the cached fit is replaced once the log changes.
    ranked_server.client.log_interactions(
        to_interactions([e for u in range(12) for e in repeat(f"b-u{u:02d}", "kitchen", "negative", 30)], prefix="late")
    )
    second = ranked_server.client.rank_targets(top_k=1)
    assert second.domains[0].score.domain == "kitchen" and second.events_used == first.events_used + 360
