"""Interaction messages <-> ``Interaction``, event columns, stats, pages, domains and summaries."""

from __future__ import annotations

from typing import Sequence

from recsys.domains import DomainLabel, DomainRecord
from recsys.events.columns import EventColumns, from_epoch_us, to_epoch_us
from recsys.events.log import AppendResult
from recsys.events.model import Feedback, Interaction
from recsys.events.query import DomainFeedbackCount, InteractionPage, InteractionStats
from server._proto.adaptune.v1 import interactions_pb2 as pb

FEEDBACK_TO_PROTO: dict[Feedback, int] = {
    Feedback.POSITIVE: pb.FEEDBACK_POSITIVE,
    Feedback.NEGATIVE: pb.FEEDBACK_NEGATIVE,
    Feedback.CORRECTED: pb.FEEDBACK_CORRECTED,
}
FEEDBACK_FROM_PROTO: dict[int, str] = {number: feedback.value for feedback, number in FEEDBACK_TO_PROTO.items()}
FEEDBACK_FROM_PROTO[pb.FEEDBACK_UNSPECIFIED] = ""
INVALID_ARGUMENT = "INVALID_ARGUMENT"


def columns_from_protos(messages: Sequence[pb.Interaction]) -> EventColumns:
    """The ingestion fast path: columns straight from the messages, no Interaction objects.

    An unknown feedback number becomes its digits and an unset time becomes None, so
    validation rejects them with the same reasons as on the direct path.
    """
    messages = list(messages)  # one pass over the repeated field; the passes below read a list
    rows = [
        (m.event_id, m.user_id, m.domain, m.input_text, m.model_output, m.correction, m.variant_id) for m in messages
    ]
    ids, users, domains, texts, outputs, corrections, variants = map(list, zip(*rows)) if rows else [[] for _ in range(7)]
    feedback_names = FEEDBACK_FROM_PROTO
    times = [timestamp_to_us(m.event_time.seconds, m.event_time.nanos) for m in messages]
    return EventColumns(
        event_id=ids,
        user_id=users,
        domain=domains,
        input_text=texts,
        model_output=outputs,
        feedback=[feedback_names.get(f, str(f)) for f in [m.feedback for m in messages]],
        correction=corrections,
        variant_id=variants,
        event_time_us=[t if isinstance(t, int) else None for t in times],
        attributes=[dict(m.attributes) for m in messages],
        event_time_errors={i: t for i, t in enumerate(times) if isinstance(t, str)},
    )


# google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799


def timestamp_to_us(seconds: int, nanos: int) -> int | str | None:
    """Microseconds since the epoch; None when unset; a reason naming the field when out of range."""
    if not 0 <= nanos < 1_000_000_000:
        return f"event_time.nanos {nanos} must be in 0-999999999"
    if not MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS:
        return f"event_time.seconds {seconds} is outside 0001-01-01..9999-12-31 (google.protobuf.Timestamp's range)"
    return (seconds * 1_000_000 + nanos // 1000) or None


def interaction_to_proto(event: Interaction) -> pb.Interaction:
    message = pb.Interaction(
        event_id=event.event_id,
        user_id=event.user_id,
        domain=event.domain,
        input_text=event.input_text,
        model_output=event.model_output,
        feedback=_feedback_to_proto(event.feedback),
        correction=event.correction,
        variant_id=event.variant_id,
        attributes=event.attributes,
        seq=event.seq or 0,
    )
    micros = to_epoch_us(event.event_time)
    if micros is not None:
        message.event_time.seconds, rest = divmod(micros, 1_000_000)
        message.event_time.nanos = rest * 1000
    return message


def interaction_from_proto(message: pb.Interaction) -> Interaction:
    """A stored event read back (its values were validated when it was written)."""
    return Interaction(
        event_id=message.event_id,
        user_id=message.user_id,
        domain=message.domain,
        input_text=message.input_text,
        model_output=message.model_output,
        feedback=Feedback(FEEDBACK_FROM_PROTO[message.feedback]),
        correction=message.correction,
        variant_id=message.variant_id,
        event_time=from_epoch_us(message.event_time.seconds * 1_000_000 + message.event_time.nanos // 1000),
        attributes=dict(message.attributes),
        seq=message.seq or None,
    )


def rejections_to_proto(result: AppendResult, batch_index: int) -> list[pb.Rejection]:
    return [
        pb.Rejection(
            batch_index=batch_index,
            index=v.index,
            event_id=v.event_id,
            field=v.field,
            reason=v.message,
            code=INVALID_ARGUMENT,
        )
        for v in result.rejections
    ]


def stats_to_proto(stats: InteractionStats) -> pb.InteractionStatsResponse:
    return pb.InteractionStatsResponse(
        total=stats.total,
        users=stats.users,
        counts=[
            pb.DomainFeedbackCount(domain=c.domain, feedback=FEEDBACK_TO_PROTO[c.feedback], count=c.count)
            for c in stats.counts
        ],
    )


def stats_from_proto(message: pb.InteractionStatsResponse) -> InteractionStats:
    return InteractionStats(
        total=message.total,
        users=message.users,
        counts=[
            DomainFeedbackCount(c.domain, Feedback(FEEDBACK_FROM_PROTO[c.feedback]), c.count) for c in message.counts
        ],
    )


def page_to_proto(page: InteractionPage) -> pb.ListInteractionsResponse:
    return pb.ListInteractionsResponse(
        interactions=[interaction_to_proto(e) for e in page.interactions],
        next_page_token=page.next_page_token,
    )


def page_from_proto(message: pb.ListInteractionsResponse) -> InteractionPage:
    return InteractionPage([interaction_from_proto(m) for m in message.interactions], message.next_page_token)


def domain_to_proto(record: DomainRecord) -> pb.Domain:
    return pb.Domain(
        name=record.name,
        parent=record.parent or "",
        description=record.description,
        labels=[pb.DomainLabel(name=label.name, description=label.description) for label in record.labels],
        review_policy=record.review_policy or "",
        review_threshold=record.review_threshold,
    )


def domain_from_proto(message: pb.Domain) -> DomainRecord:
    labels = tuple(DomainLabel(label.name, label.description) for label in message.labels)
    return DomainRecord(
        message.name, message.parent or None, message.description,
        message.review_policy or None, message.review_threshold, labels,
    )


def _feedback_to_proto(feedback: Feedback | str) -> int:
    try:
        return FEEDBACK_TO_PROTO[Feedback(feedback)]
    except ValueError:
        raise ValueError(f"feedback {feedback!r} is not one of {', '.join(f.value for f in Feedback)}") from None


MAX_REJECTIONS_LISTED = 1000


class LogSummaryBuilder:
    """Adds up the per-batch results of one LogInteractions stream.

    Lists at most ``max_listed`` rejections (all are counted): a summary must stay
    far below the message size limit however many events a stream gets wrong.
    """

    def __init__(self, max_listed: int = MAX_REJECTIONS_LISTED) -> None:
        self._summary = pb.LogSummary()
        self._max_listed = max_listed

    def add(self, result: AppendResult, batch_index: int) -> None:
        self._summary.accepted += result.accepted
        self._summary.duplicates += result.duplicates
        self._summary.rejected += result.rejected
        room = self._max_listed - len(self._summary.rejections)
        if room > 0:
            self._summary.rejections.extend(rejections_to_proto(result, batch_index)[:room])
        self._summary.rejections_truncated = self._summary.rejected > len(self._summary.rejections)
        self._summary.batches += 1

    def to_proto(self) -> pb.LogSummary:
        return self._summary
