"""Python client for product backends: ``AdaptuneClient(address, token=None)``.

Each service contributes a mixin; add yours with one import and one base below.

    with AdaptuneClient("127.0.0.1:50051") as client:
        client.wait_ready()
        summary = client.log_interactions(events)
"""

from server.client.base import (
    BaseClient,
    ClientError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from server.client.interactions import InteractionsMixin, LogResult, RejectionInfo
from server.client.ranking import RankingMixin
from server.client.reviews import ReviewsMixin
from server.client.tuning import TuningMixin
from server.client.variants import VariantsMixin


class AdaptuneClient(
    InteractionsMixin,
    RankingMixin,
    ReviewsMixin,
    TuningMixin,
    VariantsMixin,
    BaseClient,
):
    """All service calls over one channel (mixins first, BaseClient last)."""


__all__ = [
    "AdaptuneClient",
    "BaseClient",
    "ClientError",
    "InvalidArgumentError",
    "LogResult",
    "NotFoundError",
    "PermissionDeniedError",
    "RejectionInfo",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
]
