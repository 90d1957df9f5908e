"""Which domain a user's request goes to when the request names none.

A DomainRanker fitted on the log predicts each user's affinity to every domain; the
user's top domain routes the request. The fit is refreshed when the log has grown
(by ``refresh_events``, or by anything once ``refresh_seconds`` passed), so a new
user's first events start routing them without a restart. A refit that fails (a
diverged factorization) keeps the previous fit and is retried after more growth.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from recsys.events.query import max_seq
from recsys.ranking import DomainRanker, EmptyLogError, RankerConfig, RankingError
from recsys.store import Database

log = logging.getLogger("adaptune.serving")


@dataclass(frozen=True)
class Route:
    """The user's top domain, or None for a user the fit does not know (cold start)."""

    domain: str | None
    user_known: bool
    fitted_seq: int


class UserRouter:
    """Thread-safe: one fit at a time; readers see either the old fit or the new one."""

    def __init__(
        self,
        db: Database,
        *,
        refresh_events: int = 200,
        refresh_seconds: float = 10.0,
        ranker_config: RankerConfig | None = None,
    ) -> None:
        self._db = db
        self._refresh_events = refresh_events
        self._refresh_seconds = refresh_seconds
        self._config = ranker_config or RankerConfig()
        self._lock = threading.Lock()
        self._ranker: DomainRanker | None = None
        self._fitted_seq = -1
        self._fitted_at = 0.0

    @property
    def fitted_seq(self) -> int:
        """The log position of the current fit (-1 before the first)."""
        return self._fitted_seq

    def route(self, user_id: str) -> Route:
        ranker = self._current()
        if ranker is None or not user_id or not ranker.knows_user(user_id):
            return Route(None, False, self._fitted_seq)
        top = ranker.recommend(user_id, top_k=1, objective="affinity").domains
        return Route(top[0].domain if top else None, True, self._fitted_seq)

    def _stale(self, newest: int) -> bool:
        if self._fitted_seq < 0:
            return True
        grown = newest - self._fitted_seq
        if grown >= self._refresh_events:
            return True
        return grown > 0 and time.monotonic() - self._fitted_at >= self._refresh_seconds

    def _current(self) -> DomainRanker | None:
        newest = max_seq(self._db)
        if not self._stale(newest):
            return self._ranker
        with self._lock:
            if self._stale(newest):  # another thread may have refitted meanwhile
                ranker: DomainRanker | None
                try:
                    ranker = DomainRanker(self._config).fit(self._db)
                except EmptyLogError:
                    ranker = None
                except RankingError as error:  # a failed refit must not stop serving: keep the last fit
                    log.warning("routing refit at seq %d failed (%s); keeping the fit of seq %d", newest, error, self._fitted_seq)
                    ranker = self._ranker
                self._ranker, self._fitted_seq, self._fitted_at = ranker, newest, time.monotonic()
            return self._ranker
