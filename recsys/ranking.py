"""Rank domains by where tuning pays: predicted demand times measured need.

ALS (or BPR) on the users x domains confidence matrix predicts each user's
affinity to every domain, including domains the user never touched but
similar users rely on. A domain's priority is the mean predicted affinity over
users times its need (its smoothed error rate), so a domain where people
struggle ranks high even when it has few events of its own, as long as the
users likely to go there are many.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import threadpoolctl
from scipy.sparse import csr_matrix
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.recommender_base import ModelFitError

from recsys.domains import UnknownDomainError
from recsys.matrices import ConfidenceConfig, DomainStats, UserDomainMatrix, build_user_domain_matrix, domain_stats
from recsys.store import Database

METHODS = ("als", "bpr")
OBJECTIVES = ("priority", "affinity")


class RankingError(RuntimeError):
    """Ranking cannot answer; the message says why and what to do."""


class EmptyLogError(RankingError):
    """No interactions in the window: nothing to rank yet."""


class NonFiniteFactorsError(RankingError):
    """implicit returned NaN or infinite factors (diverged fit)."""


class NotFittedError(RankingError):
    pass


@dataclass(frozen=True)
class RankerConfig:
    """Factorization and scoring settings.

    ``need_prior_events`` smooths each domain's error rate toward the global one
    as if it had that many extra events at the global rate (a domain with three
    events and one error is not a 33% emergency). ``alpha`` scales ALS
    confidence; ``learning_rate`` is for BPR only. ``num_threads`` 1 keeps fits
    reproducible for a fixed ``random_state`` (BPR is lock-free with more).
    """

    method: str = "als"
    factors: int = 16
    # None: 15 for ALS, 200 for BPR (SGD epochs need many more passes).
    iterations: int | None = None
    # None: 1.0 for ALS (sums over confidence-weighted cells), 0.01 for BPR (per SGD step).
    regularization: float | None = None
    alpha: float = 1.0
    learning_rate: float = 0.05
    random_state: int = 0
    need_prior_events: float = 20.0
    num_threads: int = 1
    confidence: ConfidenceConfig = field(default_factory=ConfidenceConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if self.iterations is None:
            object.__setattr__(self, "iterations", 15 if self.method == "als" else 200)
        if self.regularization is None:
            object.__setattr__(self, "regularization", 1.0 if self.method == "als" else 0.01)
        for name in ("factors", "iterations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("regularization", "need_prior_events"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("alpha", "learning_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not isinstance(self.random_state, int) or self.random_state < 0:
            raise ValueError(f"random_state must be an int >= 0, got {self.random_state!r}")
        if not isinstance(self.num_threads, int) or self.num_threads < 0:
            raise ValueError(f"num_threads must be an int >= 0 (0: all cores), got {self.num_threads!r}")
        if not isinstance(self.confidence, ConfidenceConfig):
            raise ValueError(f"confidence must be a ConfidenceConfig, got {type(self.confidence).__name__}")


@dataclass(frozen=True)
class DomainScore:
    """One ranked domain with the evidence behind its score.

    ``affinity`` is the mean predicted affinity over users (or the user's own, or
    the share of users who used the domain on a cold start); ``need`` the
    smoothed error rate used in the score; ``error_rate`` the raw measured one.
    """

    domain: str
    score: float
    affinity: float
    need: float
    error_rate: float
    event_count: int
    negative_count: int
    corrected_count: int
    user_count: int


@dataclass(frozen=True)
class Recommendation:
    user_id: str
    cold_start: bool
    domains: list[DomainScore]


def _check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"top_k must be an int >= 1, got {top_k!r}")


def _check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")


def _make_model(config: RankerConfig):
    """The implicit CPU model (never the GPU factory: results must not depend on the host)."""
    if config.method == "als":
        return AlternatingLeastSquares(
            factors=config.factors,
            regularization=config.regularization,
            alpha=1.0,  # applied in DomainRanker._confidence
            iterations=config.iterations,
            num_threads=config.num_threads,
            random_state=config.random_state,
        )
    return BayesianPersonalizedRanking(
        factors=config.factors,
        learning_rate=config.learning_rate,
        regularization=config.regularization,
        iterations=config.iterations,
        num_threads=config.num_threads,
        random_state=config.random_state,
    )


def check_factors(method: str, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
    """Raise NonFiniteFactorsError naming how many values diverged."""
    bad_users = int(np.count_nonzero(~np.isfinite(user_factors)))
    bad_items = int(np.count_nonzero(~np.isfinite(item_factors)))
    if bad_users or bad_items:
        raise NonFiniteFactorsError(
            f"implicit {method} produced non-finite factors ({bad_users} in user_factors, {bad_items} in "
            f"item_factors); lower learning_rate or the feedback weights, or raise regularization"
        )


class DomainRanker:
    """Fit on the log, then rank domains globally or for one user."""

    def __init__(self, config: RankerConfig | None = None) -> None:
        self.config = config or RankerConfig()
        self._matrix: UserDomainMatrix | None = None
        self._stats: DomainStats | None = None
        self._affinity: np.ndarray | None = None
        self._item_factors: np.ndarray | None = None
        self._need: np.ndarray | None = None

    # -- fitting -----------------------------------------------------------------------

    def fit(self, db: Database, show_progress: bool = False) -> DomainRanker:
        """Build the matrix in DuckDB and factorize it; raises EmptyLogError on an empty window."""
        confidence = self.config.confidence
        if confidence.max_seq is None:
            # Pin the window to what is committed now, so matrix and stats see the same events
            # even while the server keeps appending.
            newest = db.cursor().execute("SELECT max(seq) FROM interactions").fetchone()[0]
            confidence = replace(confidence, max_seq=max(int(newest or 0), confidence.min_seq or 0))
        matrix = build_user_domain_matrix(db, confidence)
        if matrix.matrix.nnz == 0:
            raise EmptyLogError(
                "the interaction log has no events with a non-zero weight in the ranking window; "
                "ingest interactions before ranking"
            )
        stats = domain_stats(db, confidence)
        if stats.domains != matrix.domains:
            raise RankingError("matrix and domain stats disagree on the domains; the log changed during the fit")
        self.fit_matrix(matrix, stats, show_progress=show_progress)
        return self

    def fit_matrix(self, matrix: UserDomainMatrix, stats: DomainStats, show_progress: bool = False) -> DomainRanker:
        """Factorize an already built matrix (the bench times build and fit separately)."""
        # implicit's advice: its own threads plus a BLAS thread pool oversubscribe the cores.
        with threadpoolctl.threadpool_limits(1, "blas"):
            model = _make_model(self.config)
            try:
                model.fit(self._confidence(matrix), show_progress=show_progress)
            except ModelFitError as error:  # implicit's own NaN check
                raise NonFiniteFactorsError(
                    f"implicit {self.config.method} diverged ({error}); lower learning_rate, alpha or the "
                    f"feedback weights, or raise regularization"
                ) from error
        user_factors = np.asarray(model.user_factors)
        item_factors = np.asarray(model.item_factors)
        check_factors(self.config.method, user_factors, item_factors)
        scores = user_factors.astype(np.float64) @ item_factors.astype(np.float64).T
        if self.config.method == "als":
            # ALS regresses a 0/1 preference: clip to a probability-like affinity.
            affinity = np.clip(scores, 0.0, 1.0)
        else:
            # BPR scores are log-odds of preferring one domain over another.
            affinity = 1.0 / (1.0 + np.exp(-np.clip(scores, -50.0, 50.0)))
        errors = stats.error_count.astype(np.float64)
        events = stats.event_count.astype(np.float64)
        global_rate = errors.sum() / max(events.sum(), 1.0)
        prior = self.config.need_prior_events
        need = (errors + prior * global_rate) / np.maximum(events + prior, 1.0)
        self._matrix, self._stats = matrix, stats
        self._affinity, self._item_factors, self._need = affinity, item_factors, need
        return self

    # -- answers -----------------------------------------------------------------------

    @property
    def domains(self) -> tuple[str, ...]:
        return self._fitted()[0].domains

    @property
    def events_used(self) -> int:
        return self._fitted()[1].total_events

    @property
    def user_ids(self) -> tuple[str, ...]:
        return self._fitted()[0].user_ids

    def knows_user(self, user_id: str) -> bool:
        return user_id in self._fitted()[0].user_index

    def rank_domains(self, top_k: int = 3) -> list[DomainScore]:
        """Global priority: mean over users of predicted affinity, times need."""
        _check_top_k(top_k)
        _, _, affinity, need = self._fitted()
        mean_affinity = affinity.mean(axis=0)
        return self._ranked(mean_affinity * need, mean_affinity, top_k)

    def recommend(self, user_id: str, top_k: int = 3, objective: str = "priority") -> Recommendation:
        """A user's top domains; an unknown user gets popular-and-struggling domains (cold_start).

        ``objective`` "priority" ranks by affinity x need (where tuning pays for
        this user); "affinity" by predicted affinity alone (where the user's
        requests will go: routing, and the held-out benchmark).
        """
        _check_top_k(top_k)
        _check_objective(objective)
        matrix, stats, affinity, need = self._fitted()
        row = matrix.user_index.get(user_id)
        if row is None:
            popularity = stats.user_count / max(len(matrix.user_ids), 1)
            scores = popularity * need if objective == "priority" else popularity.astype(np.float64)
            return Recommendation(user_id, True, self._ranked(scores, popularity, top_k))
        own = affinity[row]
        scores = own * need if objective == "priority" else own
        return Recommendation(user_id, False, self._ranked(scores, own, top_k))

    def domain_score(self, domain: str, user_id: str | None = None) -> DomainScore:
        """The evidence for one domain (global, or for one user); UnknownDomainError when not in the log."""
        matrix = self._fitted()[0]
        if domain not in matrix.domain_index:
            raise UnknownDomainError(
                f"domain {domain!r} has no interactions in the ranking window; known: {list(matrix.domains)}"
            )
        if user_id:
            ranked = self.recommend(user_id, top_k=len(matrix.domains)).domains
        else:
            ranked = self.rank_domains(top_k=len(matrix.domains))
        return next(score for score in ranked if score.domain == domain)

    def domain_similarity(self) -> np.ndarray:
        """Cosine similarity of the domain factors (domains x domains, in ``domains`` order)."""
        self._fitted()
        factors = self._item_factors.astype(np.float64)
        norms = np.linalg.norm(factors, axis=1, keepdims=True)
        unit = factors / np.where(norms > 0, norms, 1.0)
        return unit @ unit.T

    # -- helpers -----------------------------------------------------------------------

    def _confidence(self, matrix: UserDomainMatrix) -> csr_matrix:
        """ALS confidence 1 + alpha * log1p(weighted events): heavy users must not drown the rest.

        BPR only reads which cells are non-zero.
        """
        if self.config.method != "als":
            return matrix.matrix
        scaled = matrix.matrix.copy()
        with np.errstate(over="ignore"):
            scaled.data = (1.0 + self.config.alpha * np.log1p(scaled.data)).astype(np.float32)
        return scaled

    def _fitted(self) -> tuple[UserDomainMatrix, DomainStats, np.ndarray, np.ndarray]:
        if self._matrix is None or self._stats is None or self._affinity is None or self._need is None:
            raise NotFittedError("the ranker is not fitted; call fit(db) first")
        return self._matrix, self._stats, self._affinity, self._need

    def _ranked(self, scores: np.ndarray, affinity: np.ndarray, top_k: int) -> list[DomainScore]:
        _, stats, _, need = self._fitted()
        domains = stats.domains
        # Highest score first; ties by name so the order never depends on float noise.
        order = sorted(range(len(domains)), key=lambda j: (-round(float(scores[j]), 12), domains[j]))
        events = stats.event_count
        return [
            DomainScore(
                domain=domains[j],
                score=float(scores[j]),
                affinity=float(affinity[j]),
                need=float(need[j]),
                error_rate=float(stats.error_count[j] / events[j]) if events[j] else 0.0,
                event_count=int(events[j]),
                negative_count=int(stats.negative_count[j]),
                corrected_count=int(stats.corrected_count[j]),
                user_count=int(stats.user_count[j]),
            )
            for j in order[:top_k]
        ]
