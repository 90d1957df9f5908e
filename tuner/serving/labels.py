"""Label names a domain knows: what the base model classifies among zero-shot.

When a domain has no adapter yet, the base model answers by cosine similarity to the
label names; the names come from the domain's declared label set (UpsertDomain), so
Predict works from the first request, and from the log (corrections, and answers
marked right), so labels traffic taught are never lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from recsys.domains import schema_label_names
from recsys.store import Database

_SQL = """
SELECT DISTINCT label FROM (
    SELECT CASE feedback WHEN 'corrected' THEN correction WHEN 'positive' THEN model_output END AS label
    FROM interactions
    WHERE ? IS NULL OR domain = ?
)
WHERE label IS NOT NULL AND label <> ''
ORDER BY label
LIMIT ?
"""

MAX_LABELS = 1_000


def log_labels(db: Database, domain: str | None = None, *, limit: int = MAX_LABELS) -> tuple[str, ...]:
    """Distinct labels taught by the domain's events (every domain's when ``domain`` is None)."""
    rows = db.cursor().execute(_SQL, [domain, domain, limit]).fetchall()
    return tuple(row[0] for row in rows)


def known_labels(
    db: Database, domain: str | None = None, *, limit: int = MAX_LABELS, declared: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The declared labels plus those the log taught, sorted (at most ``limit``).

    ``declared``: the domain's declared names, when the caller has read them already (a
    zero-shot Predict reads them once, for the names and their descriptions).
    """
    names = schema_label_names(db, domain) if declared is None else declared
    return tuple(sorted(set(names) | set(log_labels(db, domain, limit=limit))))[:limit]
