"""Review rows <-> ``ReviewInfo``: the evidence JSON becomes typed fields and back.

``from_proto`` rebuilds a ``ReviewRecord`` whose ``evidence`` has the stored JSON's shape,
so the CLI renders the same thing whether it got the review from the server or a file.
"""

from __future__ import annotations

from server._proto.adaptune.v1 import tuning_pb2 as pb
from server.convert.tuning import _set_time, _time
from tuner.review.store import ReviewRecord


def _numbers(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def review_to_proto(record: ReviewRecord, max_age_hours: float) -> pb.ReviewInfo:
    evidence = record.evidence
    gate = evidence.get("gate", {})
    reference = gate.get("reference", {})
    window = evidence.get("data_window") or (0, 0)
    message = pb.ReviewInfo(
        domain=record.domain, version=record.version, status=record.status, cycle_id=record.cycle_id,
        champion_version=record.champion_version or "", policy=record.policy, threshold=record.threshold,
        change_rate=record.change_rate, decided_by=record.decided_by or "", reason=record.reason or "",
        metric=gate.get("metric", ""), candidate_metrics=_numbers(gate.get("candidate", {})),
        champion_metrics=_numbers(reference), reference_kind=reference.get("kind", ""),
        gain=gate.get("gain", 0.0), gate_reason=gate.get("reason", ""),
        audits=[
            pb.ReviewAudit(attribute=a["attribute"], metric=a["metric"], gap=a["gap"], bound=a["bound"],
                           passed=a["passed"], per_group=_numbers(a["per_group"]))
            for a in gate.get("audits", [])
        ],
        layers=evidence.get("layers", []), module_groups=evidence.get("module_groups", []),
        data_from_seq=window[0], data_to_seq=window[1],
        n_test=evidence.get("n_test", 0), n_changed=evidence.get("n_changed", 0),
        samples=[pb.ReviewSample(**s) for s in evidence.get("samples", [])],
    )  # fmt: skip
    _set_time(message.created_at, record.created_at)
    if record.status == "awaiting":
        _set_time(message.expires_at, record.expires_at(max_age_hours))
    _set_time(message.decided_at, record.decided_at)
    return message


def review_from_proto(message: pb.ReviewInfo) -> ReviewRecord:
    gate = {
        "metric": message.metric,
        "candidate": dict(message.candidate_metrics),
        "reference": {"kind": message.reference_kind, "version": message.champion_version or None,
                      **dict(message.champion_metrics)},
        "gain": message.gain,
        "reason": message.gate_reason,
        "audits": [
            {"attribute": a.attribute, "metric": a.metric, "gap": a.gap, "bound": a.bound, "passed": a.passed,
             "per_group": dict(a.per_group)}
            for a in message.audits
        ],
    }  # fmt: skip
    evidence = {
        "gate": gate,
        "layers": list(message.layers),
        "module_groups": list(message.module_groups),
        "data_window": [message.data_from_seq, message.data_to_seq] if message.data_to_seq else None,
        "n_test": message.n_test,
        "n_changed": message.n_changed,
        "samples": [
            {"input": s.input, "candidate": s.candidate, "champion": s.champion, "gold": s.gold,
             "attributes": dict(s.attributes)}
            for s in message.samples
        ],
        "expires_at": _time(message, "expires_at"),
    }  # fmt: skip
    return ReviewRecord(
        message.domain, message.version, message.status, message.cycle_id, message.champion_version or None,
        message.policy, message.threshold, message.change_rate, evidence, _time(message, "created_at"),
        _time(message, "decided_at"), message.decided_by or None, message.reason or None,
    )
