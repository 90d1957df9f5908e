"""Client calls of the expert review RPCs (TuningService): list, show, approve, reject."""

from __future__ import annotations

from server._proto.adaptune.v1 import tuning_pb2 as pb
from server._proto.adaptune.v1 import tuning_pb2_grpc as pb_grpc
from server.convert.reviews import review_from_proto
from tuner.review.store import ReviewRecord


class ReviewsMixin:
    """Methods of ``AdaptuneClient`` for expert review (needs ``BaseClient``)."""

    @property
    def _reviews(self) -> pb_grpc.TuningServiceStub:
        return self._stub(pb_grpc.TuningServiceStub)

    def list_reviews(self, domain: str | None = None, status: str | None = None) -> list[ReviewRecord]:
        """Held candidates, awaiting first; ``status`` filters (awaiting, approved, rejected, superseded)."""
        response = self._call(self._reviews.ListReviews, pb.ListReviewsRequest(domain=domain or "", status=status or ""))
        return [review_from_proto(r) for r in response.reviews]

    def get_review(self, domain: str, version: str) -> ReviewRecord:
        return review_from_proto(self._call(self._reviews.GetReview, pb.GetReviewRequest(domain=domain, version=version)))

    def approve_candidate(self, domain: str, version: str, reason: str = "") -> ReviewRecord:
        """Promote a held candidate; ClientError FAILED_PRECONDITION when its champion changed meanwhile."""
        request = pb.ApproveCandidateRequest(domain=domain, version=version, reason=reason)
        return review_from_proto(self._call(self._reviews.ApproveCandidate, request))

    def reject_candidate(self, domain: str, version: str, reason: str) -> ReviewRecord:
        """Keep the champion; ``reason`` is required and recorded."""
        request = pb.RejectCandidateRequest(domain=domain, version=version, reason=reason)
        return review_from_proto(self._call(self._reviews.RejectCandidate, request))
