"""TuningService messages <-> cycle requests, progress events, cycle rows and adapter rows.

Proto3 cannot tell an unset number from 0, so max_domains, layer_budget and
min_examples 0 mean "the server's configured value", as the proto documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from recsys.cycles import CycleRecord
from server._proto.adaptune.v1 import tuning_pb2 as pb
from tuner.cycle.config import CycleRequest
from tuner.cycle.progress import CycleEvent

if TYPE_CHECKING:
    from tuner.registry import AdapterRecord
    from tuner.review.store import ReviewRecord


@dataclass(frozen=True)
class AdapterSummary:
    """An adapter version as a client sees it."""

    domain: str
    version: str
    status: str
    base_model: str
    parent_domain: str | None
    parent_version: str | None
    layers: tuple[int, ...]
    metrics: dict[str, float]
    created_at: datetime | None
    # Expert review of this version, when one held it (see ``tuner.review``).
    review_status: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_reason: str | None = None


def request_from_proto(message: pb.RunCycleRequest) -> CycleRequest:
    return CycleRequest(
        max_domains=message.max_domains or None,
        layer_budget=message.layer_budget or None,
        min_examples=message.min_examples or None,
        dry_run=message.dry_run,
        domains=tuple(message.domains),
        executor=message.executor or None,
        ray_address=message.ray_address or None,
    )


def request_to_proto(request: CycleRequest) -> pb.RunCycleRequest:
    return pb.RunCycleRequest(
        max_domains=request.max_domains or 0,
        layer_budget=request.layer_budget or 0.0,
        min_examples=request.min_examples or 0,
        dry_run=request.dry_run,
        domains=list(request.domains),
        executor=request.executor or "",
        ray_address=request.ray_address or "",
    )


def event_to_proto(event: CycleEvent) -> pb.CycleEvent:
    return pb.CycleEvent(
        cycle_id=event.cycle_id,
        stage=event.stage,
        domain=event.domain,
        message=event.message,
        step=event.step,
        total_steps=event.total_steps,
        loss=event.loss,
        metrics={k: float(v) for k, v in event.metrics.items()},
        adapter_version=event.adapter_version,
        summary_json=json.dumps(event.summary, default=str) if event.summary is not None else "",
        report_path=event.report_path,
    )


def event_from_proto(message: pb.CycleEvent) -> CycleEvent:
    return CycleEvent(
        cycle_id=message.cycle_id,
        stage=message.stage,
        domain=message.domain,
        message=message.message,
        step=message.step,
        total_steps=message.total_steps,
        loss=message.loss,
        metrics=dict(message.metrics),
        adapter_version=message.adapter_version,
        summary=json.loads(message.summary_json) if message.summary_json else None,
        report_path=message.report_path,
    )


def _set_time(field, value: datetime | None) -> None:
    if value is not None:
        field.FromDatetime(value.astimezone(timezone.utc))


def _time(message, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=timezone.utc) if message.HasField(name) else None


def cycle_to_proto(record: CycleRecord) -> pb.CycleInfo:
    message = pb.CycleInfo(
        cycle_id=record.cycle_id,
        status=record.status,
        summary_json=json.dumps(record.summary, default=str),
        watermark_from=record.watermark_from,
        watermark_to=record.watermark_to,
        error=record.error or "",
        request_json=json.dumps(record.request, default=str),
    )
    _set_time(message.started_at, record.started_at)
    _set_time(message.finished_at, record.finished_at)
    return message


def cycle_from_proto(message: pb.CycleInfo) -> CycleRecord:
    return CycleRecord(
        cycle_id=message.cycle_id,
        status=message.status,
        started_at=_time(message, "started_at"),
        finished_at=_time(message, "finished_at"),
        watermark_from=message.watermark_from,
        watermark_to=message.watermark_to,
        request=json.loads(message.request_json or "{}"),
        summary=json.loads(message.summary_json or "{}"),
        error=message.error or None,
    )


def adapter_to_proto(record: "AdapterRecord", review: "ReviewRecord | None" = None) -> pb.AdapterInfo:
    message = pb.AdapterInfo(
        domain=record.domain,
        version=record.version,
        status=record.status,
        parent_domain=record.parent_domain or "",
        parent_version=record.parent_version or "",
        layers=list(record.layers),
        metrics={k: float(v) for k, v in record.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        base_model=record.base_model,
    )
    _set_time(message.created_at, record.created_at)
    if review is not None:
        message.review_status, message.reviewed_by, message.review_reason = (
            review.status, review.decided_by or "", review.reason or ""
        )
        _set_time(message.reviewed_at, review.decided_at)
    return message


def adapter_from_proto(message: pb.AdapterInfo) -> AdapterSummary:
    return AdapterSummary(
        domain=message.domain,
        version=message.version,
        status=message.status,
        base_model=message.base_model,
        parent_domain=message.parent_domain or None,
        parent_version=message.parent_version or None,
        layers=tuple(message.layers),
        metrics=dict(message.metrics),
        created_at=_time(message, "created_at"),
        review_status=message.review_status or None,
        reviewed_by=message.reviewed_by or None,
        reviewed_at=_time(message, "reviewed_at"),
        review_reason=message.review_reason or None,
    )
