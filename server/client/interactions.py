"""Client calls of InteractionService: log events (streamed in batches), read stats, pages, domains."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Iterable, Iterator, Mapping

from recsys.domains import DomainLabel, DomainRecord
from recsys.events.model import Interaction
from recsys.events.query import DEFAULT_PAGE_SIZE, InteractionPage, InteractionStats
from server._proto.adaptune.v1 import interactions_pb2 as pb
from server._proto.adaptune.v1 import interactions_pb2_grpc as pb_grpc
from server.convert import interactions as convert

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class RejectionInfo:
    batch_index: int
    index: int
    event_id: str
    field: str
    reason: str
    code: str


@dataclass(frozen=True)
class LogResult:
    """What the server committed for a stream: only events counted in ``accepted`` are new."""

    accepted: int
    duplicates: int
    rejected: int
    batches: int
    # The first rejections (the server lists at most 1000); ``rejected`` counts them all.
    rejections: list[RejectionInfo] = field(default_factory=list)
    rejections_truncated: bool = False

    @classmethod
    def from_proto(cls, summary: pb.LogSummary) -> LogResult:
        return cls(
            accepted=summary.accepted,
            duplicates=summary.duplicates,
            rejected=summary.rejected,
            batches=summary.batches,
            rejections=[
                RejectionInfo(r.batch_index, r.index, r.event_id, r.field, r.reason, r.code) for r in summary.rejections
            ],
            rejections_truncated=summary.rejections_truncated,
        )


class InteractionsMixin:
    """Methods of ``AdaptuneClient`` for InteractionService (needs ``BaseClient``)."""

    @property
    def _interactions(self) -> pb_grpc.InteractionServiceStub:
        return self._stub(pb_grpc.InteractionServiceStub)

    def log_interactions(
        self, events: Iterable[Interaction], *, batch_size: int = DEFAULT_BATCH_SIZE, timeout: float | None = None
    ) -> LogResult:
        """Stream events in batches of ``batch_size``; returns once every batch is committed."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        return self.log_interaction_batches(_batches(events, batch_size), timeout=timeout)

    def log_interaction_batches(self, batches: Iterable[pb.InteractionBatch], *, timeout: float | None = None) -> LogResult:
        """Stream ready-made protobuf batches (what ``log_interactions`` does after converting)."""
        source = _Guarded(batches)
        try:
            summary = self._call(self._interactions.LogInteractions, iter(source), timeout=timeout)
        except Exception:
            source.raise_if_failed()
            raise
        return LogResult.from_proto(summary)

    def log_interaction(self, event: Interaction, *, timeout: float | None = None) -> LogResult:
        """Log one event; raises InvalidArgumentError naming the field when it is refused."""
        check_event_time(event, "interaction")
        request = pb.LogInteractionRequest(interaction=convert.interaction_to_proto(event))
        response = self._call(self._interactions.LogInteraction, request, timeout=timeout)
        return LogResult(accepted=int(not response.duplicate), duplicates=int(response.duplicate), rejected=0, batches=1)

    def interaction_stats(self, domain: str | None = None) -> InteractionStats:
        response = self._call(self._interactions.InteractionStats, pb.InteractionStatsRequest(domain=domain or ""))
        return convert.stats_from_proto(response)

    def list_interactions(
        self,
        *,
        domain: str | None = None,
        user_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        page_token: str = "",
    ) -> InteractionPage:
        request = pb.ListInteractionsRequest(
            domain=domain or "", user_id=user_id or "", limit=limit, page_token=page_token
        )
        return convert.page_from_proto(self._call(self._interactions.ListInteractions, request))

    def iter_interactions(
        self, *, domain: str | None = None, user_id: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Interaction]:
        """Every stored event matching the filters, in ingest order, page by page."""
        token = ""
        while True:
            page = self.list_interactions(domain=domain, user_id=user_id, limit=page_size, page_token=token)
            yield from page.interactions
            token = page.next_page_token
            if not token:
                return

    def upsert_domain(
        self,
        name: str,
        parent: str | None = None,
        description: str = "",
        *,
        labels: Iterable[str | DomainLabel | tuple[str, str]] | Mapping[str, str] | None = None,
        clear_labels: bool = False,
        review_policy: str | None = None,
        review_threshold: float = 0.0,
    ) -> DomainRecord:
        """Create or update a domain; ``labels`` (names, ``(name, description)`` pairs,
        DomainLabels or a name -> description mapping) replace its label set, None keeps it.
        ``review_policy`` None keeps the domain's (auto when new); see ``recsys.domains.REVIEW_POLICIES``."""
        record = DomainRecord(name, parent, description, review_policy, review_threshold, domain_labels_from(labels))
        request = pb.UpsertDomainRequest(domain=convert.domain_to_proto(record), clear_labels=clear_labels)
        return convert.domain_from_proto(self._call(self._interactions.UpsertDomain, request))

    def list_domains(self) -> list[DomainRecord]:
        response = self._call(self._interactions.ListDomains, pb.ListDomainsRequest())
        return [convert.domain_from_proto(d) for d in response.domains]


def check_event_time(event: Interaction, where: str) -> None:
    """A naive datetime would reach the server as "no time"; say what is really wrong, before sending."""
    when = event.event_time
    if isinstance(when, datetime) and (when.tzinfo is None or when.utcoffset() is None):
        raise ValueError(
            f"{where} (event_id {event.event_id!r}): event_time has no timezone ({when.isoformat()}); "
            "use an aware datetime, e.g. datetime.now(timezone.utc)"
        )


def domain_labels_from(
    labels: Iterable[str | DomainLabel | tuple[str, str]] | Mapping[str, str] | None,
) -> tuple[DomainLabel, ...]:
    """The label forms ``upsert_domain`` accepts, as DomainLabels (the server validates them)."""
    if labels is None:
        return ()
    if isinstance(labels, str):
        raise TypeError("labels must be a collection of label names, not one string")
    if isinstance(labels, Mapping):
        return tuple(DomainLabel(str(name), str(text)) for name, text in labels.items())
    out = []
    for label in labels:
        if isinstance(label, DomainLabel):
            out.append(label)
        elif isinstance(label, str):
            out.append(DomainLabel(label))
        elif isinstance(label, tuple) and len(label) == 2:
            out.append(DomainLabel(str(label[0]), str(label[1])))
        else:
            raise TypeError(f"label {label!r} is not a name, a (name, description) pair or a DomainLabel")
    return tuple(out)


def _batches(events: Iterable[Interaction], size: int) -> Iterator[pb.InteractionBatch]:
    """Each batch is checked before it is sent: a naive time stops the stream there (earlier batches stay committed)."""
    iterator = iter(events)
    batch_index = 0
    while chunk := list(islice(iterator, size)):
        for index, event in enumerate(chunk):
            check_event_time(event, f"batch {batch_index} interactions[{index}]")
        yield pb.InteractionBatch(interactions=[convert.interaction_to_proto(e) for e in chunk])
        batch_index += 1


class _Guarded:
    """Remembers an exception raised while gRPC pulls requests, which gRPC would only report as CANCELLED."""

    def __init__(self, items: Iterable):
        self._items = items
        self._error: BaseException | None = None

    def __iter__(self):
        try:
            yield from self._items
        except Exception as exc:
            self._error = exc
            raise

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
