"""Expert review RPCs of TuningService: list and show held candidates, approve or reject them.

A mixin of ``TuningServicer`` (one service, one servicer); thin like the rest: validate,
call ``tuner.review``, convert back. Listing first expires reviews past the configured
age (no timer thread: a review is at least as fresh as the last list or cycle start).
Deciding needs the right to promote (``server.reviewers``), and records the caller's name.
"""

from __future__ import annotations

from typing import Callable

import grpc

from recsys.domains import check_domain_name
from recsys.store import Database
from server._proto.adaptune.v1 import tuning_pb2 as pb
from server.convert.reviews import review_to_proto
from server.errors import grpc_errors
from server.reviewers import may_promote, require_decider
from tuner.cycle.config import CycleConfig
from tuner.review import decisions
from tuner.review.store import check_status, get_review, list_reviews


class ReviewRpcs:
    """Needs ``self._db``, ``self._review_config()`` and ``self._may_decide`` from the servicer."""

    _db: Database
    _may_decide: Callable[[str], bool] = staticmethod(may_promote)

    def _review_config(self) -> CycleConfig:  # pragma: no cover - the servicer overrides it
        raise NotImplementedError

    def _expire(self) -> None:
        decisions.expire(self._db, self._review_config().review_max_age_hours)

    def _to_proto(self, record) -> pb.ReviewInfo:
        return review_to_proto(record, self._review_config().review_max_age_hours)

    def _target(self, request) -> tuple[str, str]:
        from tuner.registry import check_version

        return check_domain_name(request.domain), check_version(request.version)

    @grpc_errors
    def ListReviews(self, request: pb.ListReviewsRequest, context: grpc.ServicerContext) -> pb.ListReviewsResponse:
        domain = check_domain_name(request.domain) if request.domain else None
        status = check_status(request.status or None)
        self._expire()
        return pb.ListReviewsResponse(reviews=[self._to_proto(r) for r in list_reviews(self._db, domain, status)])

    @grpc_errors
    def GetReview(self, request: pb.GetReviewRequest, context: grpc.ServicerContext) -> pb.ReviewInfo:
        return self._to_proto(get_review(self._db, *self._target(request)))

    @grpc_errors
    def ApproveCandidate(self, request: pb.ApproveCandidateRequest, context: grpc.ServicerContext) -> pb.ReviewInfo:
        domain, version = self._target(request)
        reviewer = require_decider(context, self._may_decide, domain)
        self._expire()  # an overdue candidate is rejected, not approved
        return self._to_proto(decisions.approve(self._db, domain, version, reviewer, request.reason))

    @grpc_errors
    def RejectCandidate(self, request: pb.RejectCandidateRequest, context: grpc.ServicerContext) -> pb.ReviewInfo:
        domain, version = self._target(request)
        decisions.check_reason(request.reason, required=True)
        reviewer = require_decider(context, self._may_decide, domain)
        self._expire()
        return self._to_proto(decisions.reject(self._db, domain, version, reviewer, request.reason))
