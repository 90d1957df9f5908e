"""Reading the event log: by ingest order (``seq``, the cycle watermark), stats, pages."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

from recsys.events.columns import from_epoch_us
from recsys.events.model import Feedback, Interaction
from recsys.store import Database, accepts_path

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

_SELECT = (
    "SELECT seq, event_id, user_id, domain, input_text, model_output, feedback, correction, "
    "variant_id, epoch_us(event_time), attributes FROM interactions"
)


class InvalidPageTokenError(ValueError):
    """A page token that this listing did not issue (or issued for other filters)."""


@dataclass(frozen=True)
class DomainFeedbackCount:
    domain: str
    feedback: Feedback
    count: int


@dataclass(frozen=True)
class InteractionStats:
    total: int
    users: int
    counts: list[DomainFeedbackCount] = field(default_factory=list)

    def by_domain(self) -> dict[str, dict[str, int]]:
        """{domain: {feedback value: count}}, handy for printing and tests."""
        table: dict[str, dict[str, int]] = {}
        for row in self.counts:
            table.setdefault(row.domain, {})[row.feedback.value] = row.count
        return table


@dataclass(frozen=True)
class InteractionPage:
    interactions: list[Interaction]
    # Empty when there is nothing more.
    next_page_token: str = ""


@accepts_path(read_only=True)
def fetch_interactions(
    db: Database,
    *,
    domain: str | None = None,
    user_id: str | None = None,
    since_seq: int | None = None,
    until_seq: int | None = None,
    limit: int | None = None,
) -> list[Interaction]:
    """Stored events in ingest order with ``seq`` filled; ``since_seq`` exclusive, ``until_seq`` inclusive.

    A cycle reads ``since_seq=<last watermark>, until_seq=max_seq(db)`` so events that
    arrive while it runs wait for the next one. ``db`` may be a path (opened read-only).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    for name, value in (("since_seq", since_seq), ("until_seq", until_seq)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be an integer >= 0 or None, got {value!r}")
    where, params = _filters(domain=domain, user_id=user_id)
    if since_seq is not None:
        where.append("seq > ?")
        params.append(since_seq)
    if until_seq is not None:
        where.append("seq <= ?")
        params.append(until_seq)
    sql = _SELECT + _where(where) + " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return _rows_to_interactions(db.cursor().execute(sql, params).fetchall())


@accepts_path(read_only=True)
def max_seq(db: Database) -> int:
    """The highest ingest position stored; 0 for an empty log."""
    return int(db.cursor().execute("SELECT coalesce(max(seq), 0) FROM interactions").fetchone()[0])


@accepts_path(read_only=True)
def interaction_stats(db: Database, *, domain: str | None = None) -> InteractionStats:
    """Counts per (domain, feedback), the total and the number of distinct users."""
    where, params = _filters(domain=domain)
    cursor = db.cursor()
    total, users = cursor.execute(
        "SELECT count(*), count(DISTINCT user_id) FROM interactions" + _where(where), params
    ).fetchone()
    rows = cursor.execute(
        "SELECT domain, feedback, count(*) FROM interactions" + _where(where) + " GROUP BY domain, feedback "
        "ORDER BY domain, feedback",
        params,
    ).fetchall()
    return InteractionStats(
        total=int(total),
        users=int(users),
        counts=[DomainFeedbackCount(d, Feedback(f), int(c)) for d, f, c in rows],
    )


@accepts_path(read_only=True)
def list_page(
    db: Database,
    *,
    domain: str | None = None,
    user_id: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    page_token: str = "",
    max_bytes: int | None = None,
) -> InteractionPage:
    """One page in ingest order; pass ``next_page_token`` back with the same filters for the next.

    ``max_bytes`` bounds the page by size as well as count (always at least one event), so a
    page of large events still fits a message limit; the token then continues after the cut.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit!r}")
    fingerprint = _fingerprint(domain, user_id)
    after = _decode_token(page_token, fingerprint) if page_token else 0
    where, params = _filters(domain=domain, user_id=user_id)
    where.append("seq > ?")
    params.append(after)
    rows = db.cursor().execute(_SELECT + _where(where) + " ORDER BY seq LIMIT ?", [*params, limit + 1]).fetchall()
    kept = rows[:limit] if max_bytes is None else rows[: min(limit, _rows_within(rows, max_bytes))]
    events = _rows_to_interactions(kept)
    token = _encode_token(events[-1].seq, fingerprint) if len(rows) > len(kept) else ""
    return InteractionPage(events, token)


def _rows_within(rows: list[tuple], max_bytes: int) -> int:
    """How many leading rows fit ``max_bytes`` (UTF-8 text plus per-field overhead), at least one."""
    total = 0
    for count, row in enumerate(rows):
        total += _row_bytes(row)
        if total > max_bytes:
            return max(count, 1)
    return len(rows)


def _row_bytes(row: tuple) -> int:
    texts = [value for value in row[1:9] if isinstance(value, str)]
    attributes = row[10] or {}
    pairs = attributes.items() if isinstance(attributes, dict) else attributes
    size = sum(len(text.encode()) + 6 for text in texts) + 32
    return size + sum(len(str(k).encode()) + len(str(v).encode()) + 8 for k, v in pairs)


def _filters(*, domain: str | None = None, user_id: str | None = None) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if domain:
        where.append("domain = ?")
        params.append(domain)
    if user_id:
        where.append("user_id = ?")
        params.append(user_id)
    return where, params


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _rows_to_interactions(rows: list[tuple]) -> list[Interaction]:
    return [
        Interaction(
            event_id=event_id,
            user_id=user_id,
            domain=domain,
            input_text=input_text,
            model_output=model_output,
            feedback=Feedback(feedback),
            correction=correction,
            variant_id=variant_id,
            event_time=from_epoch_us(time_us),
            attributes=dict(attributes or {}),
            seq=seq,
        )
        for seq, event_id, user_id, domain, input_text, model_output, feedback, correction, variant_id, time_us, attributes in rows
    ]


def _fingerprint(domain: str | None, user_id: str | None) -> str:
    return hashlib.sha256(f"{domain or ''}\x00{user_id or ''}".encode()).hexdigest()[:12]


def _encode_token(seq: int, fingerprint: str) -> str:
    raw = json.dumps({"after": seq, "filters": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        after, filters = data["after"], data["filters"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidPageTokenError(f"page_token {token[:40]!r} is not a token from ListInteractions") from exc
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise InvalidPageTokenError(f"page_token {token[:40]!r} is not a token from ListInteractions")
    if filters != fingerprint:
        raise InvalidPageTokenError(
            f"page_token {token[:40]!r} was issued for other filters (domain, user_id); "
            "pass the same filters as the first page"
        )
    return after
