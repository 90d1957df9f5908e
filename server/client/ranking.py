"""Client calls of RankingService: the domains and layers worth tuning, with their evidence."""

from __future__ import annotations

from recsys.layers import DEFAULT_LAYER_BUDGET
from recsys.targets import TargetRanking, TargetRequest
from server._proto.adaptune.v1 import ranking_pb2_grpc as pb_grpc
from server.convert import ranking as convert


class RankingMixin:
    """Methods of ``AdaptuneClient`` for RankingService (needs ``BaseClient``)."""

    @property
    def _ranking(self) -> pb_grpc.RankingServiceStub:
        return self._stub(pb_grpc.RankingServiceStub)

    def rank_targets(
        self,
        user_id: str | None = None,
        top_k: int = 3,
        layer_budget: float = DEFAULT_LAYER_BUDGET,
        domain: str | None = None,
        *,
        base_model: str | None = None,
        include_importance: bool = False,
        timeout: float | None = None,
    ) -> TargetRanking:
        """Global ranking (no user), a user's (cold start flagged), or one domain's.

        Arguments are checked here first (ValueError naming the field) so a bad
        top_k is never silently read as the server's default.
        """
        request = TargetRequest(
            user_id=user_id or "", top_k=top_k, layer_budget=layer_budget, domain=domain or "", base_model=base_model or ""
        )
        response = self._call(
            self._ranking.RankTargets, convert.request_to_proto(request, include_importance), timeout=timeout
        )
        return convert.ranking_from_proto(response, user_id=request.user_id)
