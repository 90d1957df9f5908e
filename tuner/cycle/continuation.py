"""Which adapter a domain's next candidate continues, and which of its rows count as learned.

Normally the champion: the next candidate warm-starts from it and trains on the rows it
has not seen (plus a replay). A candidate the gate kept out is usually not worse, only
not better by the margin; starting the next one from the champion again would retrain
on that night's rows every night until a candidate clears the margin, so the cost of a
cycle would grow with every kept night (``bench/days.py``: 1,857 training rows on the
fifth night against 429 on the first). Counting those rows as learned while still
starting from the champion stalled learning instead: each candidate then carried one
night's gain, under the margin, night after night.

So the next candidate continues the newest kept candidate when the gate found it no
worse than the current champion on the whole held-out history and its bias audits
passed: its nights' gains add up along the continuation, its rows count as learned, and
the gate still compares every candidate with the champion. "No worse" is the gate's own
paired test turned around: a gain under zero breaks the line only when the candidate's
losses on the rows where the two differ significantly outnumber its wins
(``significance``; 0, or a gate without row counts: any gain under zero). Breaking on one
row in a thousand sent the next night back to the champion with two nights' rows to
learn, at twice the cost (150 intents: 4,664 rows against 2,351). A continuation that
loses to the champion, fails an audit, was held for review or was compared with an
earlier champion breaks the line: the next candidate starts from the champion again, and
the rows the broken line trained on are trained once, like the replay, not on every pass
(``tried_seq``, ``DomainData.pass_rows``), so a broken line does not double a night.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from recsys.store import Database
from tuner.cycle.paired import sign_test


@dataclass(frozen=True)
class Continuation:
    version: str
    # The last ingest seq it trained on: rows up to here count as learned.
    data_to_seq: int
    gain: float
    champion_version: str


def significantly_worse(gain: float, paired: dict | None, significance: float) -> bool:
    """A gain under zero the rows show: losses outnumber wins at ``significance`` (one-sided sign test).

    Without a significance level or the gate's row counts, any gain under zero counts.
    """
    if gain >= 0:
        return False
    wins, losses = (paired or {}).get("wins"), (paired or {}).get("losses")
    if not significance or not isinstance(wins, int) or not isinstance(losses, int):
        return True
    return sign_test(losses, wins) <= significance


def continuation(db: Database, domain: str, significance: float = 0.0) -> Continuation | None:
    """The kept candidate the domain's next candidate continues (None: start from the champion)."""
    cursor = db.cursor()
    try:
        champion = cursor.execute(
            "SELECT version FROM adapters WHERE domain = ? AND status = 'champion'", [domain]
        ).fetchone()
        newest = cursor.execute(
            "SELECT version, status, metrics_json, coalesce(data_to_seq, 0) FROM adapters WHERE domain = ? "
            "ORDER BY created_at DESC, version DESC LIMIT 1", [domain],
        ).fetchone()  # fmt: skip
    finally:
        cursor.close()
    if champion is None or newest is None or newest[1] != "rejected":
        return None
    version, _, metrics_json, data_to_seq = newest
    gate = json.loads(metrics_json or "{}").get("gate") or {}
    reference = gate.get("reference") or {}
    if reference.get("kind") != "champion" or reference.get("version") != champion[0]:
        return None
    gain = gate.get("gain")
    if not isinstance(gain, (int, float)) or significantly_worse(gain, gate.get("paired"), significance):
        return None
    if not all(audit.get("passed", False) for audit in gate.get("audits", [])):
        return None
    return Continuation(version, int(data_to_seq), float(gain), champion[0])


def tried_seq(db: Database, domain: str) -> int:
    """The last ingest seq any candidate of the domain trained on, whatever the gate decided (0 without one).

    Rows after it are new to every adapter of the domain (``recsys.cycles.new_labeled_counts``
    counts the same); rows between ``learned_seq`` and it were trained on by a candidate whose
    line broke, and the next one's start has not learned them.
    """
    cursor = db.cursor()
    try:
        row = cursor.execute("SELECT coalesce(max(data_to_seq), 0) FROM adapters WHERE domain = ?", [domain]).fetchone()
    finally:
        cursor.close()
    return int(row[0])


_LOOK_UP = object()


def learned_seq(db: Database, domain: str, significance: float = 0.0, line: Continuation | None | object = _LOOK_UP) -> int:
    """The last ingest seq the next candidate's starting point learned from (0 without one).

    ``line``: the continuation already looked up, None included (default: look it up).
    """
    cursor = db.cursor()
    try:
        row = cursor.execute(
            "SELECT coalesce(max(data_to_seq), 0) FROM adapters WHERE domain = ? AND status = 'champion'", [domain]
        ).fetchone()
    finally:
        cursor.close()
    if line is _LOOK_UP:
        line = continuation(db, domain, significance)
    return max(int(row[0]), line.data_to_seq if isinstance(line, Continuation) else 0)
