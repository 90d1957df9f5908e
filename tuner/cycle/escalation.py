"""A domain's escalation level, derived from the finished cycles' summaries in DuckDB.

Each finished cycle's summary records, per domain it trained, the gate's decision and
gain, the margin it used, and the domain's error rate in the ranking; the pure rule in
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
                                     float(ranked.get("error_rate", 0.0))))
    return verdicts


def domain_escalation(db: Database, domain: str, policy: EscalationPolicy) -> Escalation:
    return escalation(domain_verdicts(db, domain), policy)
