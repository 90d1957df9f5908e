"""Users x domains confidence matrix and per-domain evidence, aggregated in DuckDB.

Ranking needs one number per (user, domain): how strongly the user's traffic
says "this domain matters to me". Negative and corrected feedback weigh more
than plain volume (they are where tuning pays), and older events fade with an
exponential half-life. All of it is one GROUP BY in SQL, so only one row per
(user, domain) pair ever reaches Python, whatever the size of the log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime

import numpy as np
from scipy.sparse import csr_matrix

from recsys.store import Database, accepts_path

FEEDBACK_VALUES = ("positive", "negative", "corrected")


@dataclass(frozen=True)
class ConfidenceConfig:
    """How events turn into confidence.

    ``half_life_days`` None disables decay. ``as_of`` None means the newest event
    in the window (so a rebuild of the same log gives the same matrix, whatever
    the wall clock says); events after ``as_of`` are left out. ``min_seq`` and
    ``max_seq`` bound the window by ingest order (inclusive).
    """

    positive_weight: float = 1.0
    negative_weight: float = 3.0
    corrected_weight: float = 4.0
    half_life_days: float | None = 14.0
    as_of: datetime | None = None
    min_seq: int | None = None
    max_seq: int | None = None

    def __post_init__(self) -> None:
        for name in ("positive_weight", "negative_weight", "corrected_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.positive_weight + self.negative_weight + self.corrected_weight <= 0:
            raise ValueError("positive_weight, negative_weight and corrected_weight are all 0: no event would count")
        if self.half_life_days is not None and (
            not isinstance(self.half_life_days, (int, float))
            or not math.isfinite(self.half_life_days)
            or self.half_life_days <= 0
        ):
            raise ValueError(f"half_life_days must be a finite number > 0 or None, got {self.half_life_days!r}")
        if self.as_of is not None and (not isinstance(self.as_of, datetime) or self.as_of.tzinfo is None):
            raise ValueError(f"as_of must be a timezone-aware datetime or None, got {self.as_of!r}")
        for name in ("min_seq", "max_seq"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an int >= 0 or None, got {value!r}")
        if self.min_seq is not None and self.max_seq is not None and self.min_seq > self.max_seq:
            raise ValueError(f"min_seq {self.min_seq} is greater than max_seq {self.max_seq}")


@dataclass(frozen=True)
class UserDomainMatrix:
    """Confidence matrix with its id maps; row i is ``user_ids[i]``, column j ``domains[j]``.

    Ids are sorted, so the same log always gives the same layout.
    """

    matrix: csr_matrix
    user_ids: tuple[str, ...]
    domains: tuple[str, ...]

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {user: i for i, user in enumerate(self.user_ids)}

    @cached_property
    def domain_index(self) -> dict[str, int]:
        return {domain: j for j, domain in enumerate(self.domains)}


@dataclass(frozen=True)
class DomainStats:
    """Raw evidence per domain (counts, not weights), in ``domains`` order."""

    domains: tuple[str, ...]
    event_count: np.ndarray
    positive_count: np.ndarray
    negative_count: np.ndarray
    corrected_count: np.ndarray
    user_count: np.ndarray

    @property
    def error_count(self) -> np.ndarray:
        return self.negative_count + self.corrected_count

    @property
    def total_events(self) -> int:
        return int(self.event_count.sum())


# The window every aggregate reads: one place, so the matrix and the stats agree.
_WINDOW_SQL = """
    SELECT user_id, domain, feedback, event_time FROM interactions
    WHERE (CAST(? AS BIGINT) IS NULL OR seq >= ?)
      AND (CAST(? AS BIGINT) IS NULL OR seq <= ?)
      AND (CAST(? AS TIMESTAMPTZ) IS NULL OR event_time <= ?)
"""


def _window_params(config: ConfidenceConfig) -> list[object]:
    return [config.min_seq, config.min_seq, config.max_seq, config.max_seq, config.as_of, config.as_of]


_MATRIX_SQL = f"""
WITH w AS ({_WINDOW_SQL}),
ref AS (SELECT coalesce(CAST(? AS TIMESTAMPTZ), max(event_time)) AS as_of FROM w),
agg AS (
    SELECT w.user_id, w.domain,
           sum(
               CASE w.feedback WHEN 'positive' THEN CAST(? AS DOUBLE)
                               WHEN 'negative' THEN CAST(? AS DOUBLE)
                               WHEN 'corrected' THEN CAST(? AS DOUBLE)
                               ELSE 0.0 END
             * CASE WHEN CAST(? AS DOUBLE) IS NULL THEN 1.0
                    ELSE pow(0.5, greatest(epoch(ref.as_of) - epoch(w.event_time), 0.0) / (CAST(? AS DOUBLE) * 86400.0))
               END
           ) AS confidence
    FROM w, ref
    GROUP BY w.user_id, w.domain
)
SELECT CAST(dense_rank() OVER (ORDER BY user_id) - 1 AS INTEGER) AS row_index,
       CAST(dense_rank() OVER (ORDER BY domain) - 1 AS INTEGER) AS col_index,
       confidence, user_id, domain
FROM agg
"""

_STATS_SQL = f"""
WITH w AS ({_WINDOW_SQL})
SELECT domain,
       count(*) AS events,
       count(*) FILTER (WHERE feedback = 'positive') AS positive,
       count(*) FILTER (WHERE feedback = 'negative') AS negative,
       count(*) FILTER (WHERE feedback = 'corrected') AS corrected,
       count(DISTINCT user_id) AS users
FROM w
GROUP BY domain
ORDER BY domain
"""


@accepts_path(read_only=True)
def build_user_domain_matrix(db: Database, config: ConfidenceConfig | None = None) -> UserDomainMatrix:
    """The users x domains confidence matrix of the log window (float32 CSR).

    An empty window gives a 0 x 0 matrix; callers decide whether that is an error.
    """
    config = config or ConfidenceConfig()
    half_life = float(config.half_life_days) if config.half_life_days is not None else None
    params = [
        *_window_params(config),
        config.as_of,
        float(config.positive_weight),
        float(config.negative_weight),
        float(config.corrected_weight),
        half_life,
        half_life,
    ]
    result = db.cursor().execute(_MATRIX_SQL, params).fetchnumpy()
    rows = np.asarray(result["row_index"], dtype=np.int64)
    cols = np.asarray(result["col_index"], dtype=np.int64)
    n_users = int(rows.max()) + 1 if rows.size else 0
    n_domains = int(cols.max()) + 1 if cols.size else 0
    user_ids = np.empty(n_users, dtype=object)
    user_ids[rows] = np.asarray(result["user_id"], dtype=object)
    domains = np.empty(n_domains, dtype=object)
    domains[cols] = np.asarray(result["domain"], dtype=object)
    with np.errstate(over="ignore"):
        data = np.asarray(result["confidence"], dtype=np.float32)
    if not np.isfinite(data).all():
        raise ValueError(
            "confidence overflows float32 for some (user, domain) pairs; lower positive_weight, "
            "negative_weight or corrected_weight"
        )
    matrix = csr_matrix((data, (rows, cols)), shape=(n_users, n_domains), dtype=np.float32)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return UserDomainMatrix(matrix=matrix, user_ids=tuple(user_ids), domains=tuple(domains))


@accepts_path(read_only=True)
def domain_stats(db: Database, config: ConfidenceConfig | None = None) -> DomainStats:
    """Event, feedback and user counts per domain in the same window as the matrix."""
    config = config or ConfidenceConfig()
    result = db.cursor().execute(_STATS_SQL, _window_params(config)).fetchnumpy()

    def column(name: str) -> np.ndarray:
        return np.asarray(result[name], dtype=np.int64)

    return DomainStats(
        domains=tuple(str(d) for d in result["domain"]),
        event_count=column("events"),
        positive_count=column("positive"),
        negative_count=column("negative"),
        corrected_count=column("corrected"),
        user_count=column("users"),
    )
