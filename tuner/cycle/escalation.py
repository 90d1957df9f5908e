"""A domain's escalation level, derived from the finished cycles' summaries in DuckDB.

Each finished cycle's summary records, per domain it trained, the gate's decision and
gain, the margin it used, the held-out metric of the model it kept and the domain's
error rate in the ranking; the pure rule in
``recsys.escalation`` turns that history into the level the next cycle uses.
"""

from __future__ import annotations

import json

from recsys.escalation import CycleVerdict, Escalation, EscalationPolicy, escalation
from recsys.store import Database


def domain_verdicts(db: Database, domain: str) -> list[CycleVerdict]:
    """What finished cycles decided for ``domain``, oldest first (dry runs and failures excluded)."""
    rows = db.cursor().execute(
        "SELECT summary_json FROM cycles WHERE status = 'finished' ORDER BY started_at, cycle_id"
    ).fetchall()
    verdicts = []
    for (summary_json,) in rows:
        summary = json.loads(summary_json)
        outcome = next((d for d in summary.get("domains", []) if d.get("domain") == domain), None)
        if outcome is None:
            continue
        ranked = next((r for r in summary.get("ranked", []) if r.get("domain") == domain), {})
        margin = float(summary.get("config", {}).get("margin", 0.0))
        gate = outcome["gate"]
        verdicts.append(CycleVerdict(gate["decision"] == "promote", float(gate["gain"]), margin,
                                     error_rate(float(ranked.get("error_rate", 0.0)), gate)))
    return verdicts


def error_rate(traffic_error: float, gate: dict) -> float:
    """How often the domain still errs: the worse of its new events' error rate and the
    held-out error of the model the gate kept.

    Live traffic alone can look fine while the model is stuck: when users mostly repeat
    queries it has trained on, few answers are wrong even though new queries still fail.
    The held-out rows are a second opinion on the model the domain is left with.
    """
    kept = gate.get("candidate" if gate.get("decision") == "promote" else "reference") or {}
    metric = kept.get(gate.get("metric", ""))
    held_out = 1.0 - float(metric) if isinstance(metric, (int, float)) and 0.0 <= metric <= 1.0 else 0.0
    return max(traffic_error, held_out)


def domain_escalation(db: Database, domain: str, policy: EscalationPolicy) -> Escalation:
    return escalation(domain_verdicts(db, domain), policy)
