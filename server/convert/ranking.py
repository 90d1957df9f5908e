"""RankTargets messages <-> ``TargetRequest`` / ``TargetRanking``.

Proto3 cannot tell an unset number from 0, so top_k 0 and layer_budget 0 mean
"the default" (3 and ``DEFAULT_LAYER_BUDGET``), as the proto documents; any other value is validated
by ``TargetRequest``.
"""

from __future__ import annotations

from recsys.layers import DEFAULT_LAYER_BUDGET, LayerScore
from recsys.ranking import DomainScore
from recsys.targets import DomainTargets, TargetRanking, TargetRequest
from server._proto.adaptune.v1 import ranking_pb2 as pb

DEFAULT_TOP_K = 3


def request_from_proto(message: pb.RankTargetsRequest) -> TargetRequest:
    return TargetRequest(
        user_id=message.user_id,
        top_k=message.top_k or DEFAULT_TOP_K,
        layer_budget=message.layer_budget or DEFAULT_LAYER_BUDGET,
        domain=message.domain,
        base_model=message.base_model,
    )


def request_to_proto(request: TargetRequest, include_importance: bool = False) -> pb.RankTargetsRequest:
    return pb.RankTargetsRequest(
        user_id=request.user_id,
        top_k=request.top_k,
        layer_budget=request.layer_budget,
        domain=request.domain,
        base_model=request.base_model,
        include_importance=include_importance,
    )


def _layer_to_proto(score: LayerScore) -> pb.LayerTarget:
    return pb.LayerTarget(layer=score.layer, module_group=score.module_group, score=score.score, source=score.source)


def _layer_from_proto(message: pb.LayerTarget) -> LayerScore:
    return LayerScore(layer=message.layer, module_group=message.module_group, score=message.score, source=message.source)


def _domain_to_proto(targets: DomainTargets) -> pb.DomainRank:
    s = targets.score
    return pb.DomainRank(
        domain=s.domain,
        score=s.score,
        affinity=s.affinity,
        error_rate=s.error_rate,
        event_count=s.event_count,
        negative_count=s.negative_count,
        corrected_count=s.corrected_count,
        probe_count=targets.probe_count,
        layers=[_layer_to_proto(layer) for layer in targets.layers],
        layer_cost=targets.layer_cost,
        need=s.need,
        user_count=s.user_count,
        importance=[_layer_to_proto(layer) for layer in targets.importance],
    )


def _domain_from_proto(message: pb.DomainRank) -> DomainTargets:
    score = DomainScore(
        domain=message.domain,
        score=message.score,
        affinity=message.affinity,
        need=message.need,
        error_rate=message.error_rate,
        event_count=message.event_count,
        negative_count=message.negative_count,
        corrected_count=message.corrected_count,
        user_count=message.user_count,
    )
    return DomainTargets(
        score=score,
        probe_count=message.probe_count,
        layers=tuple(_layer_from_proto(layer) for layer in message.layers),
        layer_cost=message.layer_cost,
        importance=tuple(_layer_from_proto(layer) for layer in message.importance),
    )


def ranking_to_proto(ranking: TargetRanking) -> pb.RankTargetsResponse:
    return pb.RankTargetsResponse(
        domains=[_domain_to_proto(d) for d in ranking.domains],
        cold_start=ranking.cold_start,
        method=ranking.method,
        events_used=ranking.events_used,
        base_model=ranking.base_model,
        layer_budget=ranking.layer_budget,
        num_layers=ranking.num_layers,
    )


def ranking_from_proto(message: pb.RankTargetsResponse, user_id: str = "") -> TargetRanking:
    """The client's view: no importance matrix (only what the message carries)."""
    return TargetRanking(
        domains=tuple(_domain_from_proto(d) for d in message.domains),
        cold_start=message.cold_start,
        method=message.method,
        events_used=message.events_used,
        base_model=message.base_model,
        layer_budget=message.layer_budget,
        user_id=user_id,
        num_layers=message.num_layers,
    )
