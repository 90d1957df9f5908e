"""RankingService: which domains and layers to tune, with the evidence (thin: convert, call, convert)."""

from __future__ import annotations

import grpc

from recsys.store import Database
from recsys.targets import TargetRanker
from server._proto.adaptune.v1 import ranking_pb2 as pb
from server._proto.adaptune.v1 import ranking_pb2_grpc as pb_grpc
from server.context import AppContext
from server.convert import ranking as convert
from server.errors import grpc_errors

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RankingService"].full_name


class RankingServicer(pb_grpc.RankingServiceServicer):
    def __init__(self, db: Database, ranker: TargetRanker):
        self._db = db
        self._ranker = ranker

    @grpc_errors
    def RankTargets(self, request: pb.RankTargetsRequest, context: grpc.ServicerContext) -> pb.RankTargetsResponse:
        """Bad top_k/layer_budget: INVALID_ARGUMENT; unknown domain: NOT_FOUND; empty log: FAILED_PRECONDITION."""
        ranking = self._ranker.rank(
            self._db, convert.request_from_proto(request), include_importance=request.include_importance
        )
        return convert.ranking_to_proto(ranking)


def install(server: grpc.Server, context: AppContext) -> str:
    pb_grpc.add_RankingServiceServicer_to_server(RankingServicer(context.db, TargetRanker()), server)
    return SERVICE_NAME
