"""Prometheus metrics of one server: the only module that touches ``prometheus_client``.

The core stays free of it (vLLM style): servicers call the small recorder methods below
with plain numbers, and what the core already counts (the adapter pool's ``PoolStats``,
the ``cycles`` table, the event log) is read at scrape time by ``_StateCollector``. Each
server has its own ``CollectorRegistry``, so several servers in one test process never
share or clash on a metric. Label values that are known up front are bound once here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from recsys.events.log import AppendResult
from recsys.store import Database
from recsys.health import StoreSnapshot, read_store
from tuner.serving.residency import ServingSnapshot

log = logging.getLogger("adaptune.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
VARIANT_KINDS = ("base", "adapter", "chain")
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PREDICT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
CYCLE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


def variant_kind(variant) -> str:
    """What served a Predict: the bare base (zero-shot), one adapter, or a transfer chain of them."""
    if not variant.chain:
        return "base"
    return "adapter" if len(variant.chain) == 1 else "chain"


@dataclass(frozen=True)
class MetricsSources:
    """Where the scrape-time collector reads what the core counts; each may be absent."""

    db: Database
    serving: Callable[[], ServingSnapshot | None] = lambda: None


class ServerMetrics:
    """Counters and histograms the servicers feed, plus the state read at scrape time."""

    def __init__(self, sources: MetricsSources) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._accepted = Counter("adaptune_events_accepted", "Events stored (committed) by LogInteraction(s).", registry=r)
        self._duplicates = Counter(
            "adaptune_events_duplicate", "Events whose id was already stored (or repeated in its batch).", registry=r
        )
        self._rejected = Counter(
            "adaptune_events_rejected", "Events refused by validation, by the field they broke.", ["field"], registry=r
        )
        self._commit = Histogram(
            "adaptune_batch_commit_seconds", "Validate + commit time of one event batch.", buckets=COMMIT_BUCKETS, registry=r
        )
        predict_seconds = Histogram(
            "adaptune_predict_seconds", "Predict call latency by variant kind.", ["variant_kind"],
            buckets=PREDICT_BUCKETS, registry=r,
        )
        predict_rows = Histogram(
            "adaptune_predict_batch_rows", "Inputs per Predict call by variant kind.", ["variant_kind"],
            buckets=ROW_BUCKETS, registry=r,
        )
        self._predict_seconds = {kind: predict_seconds.labels(kind) for kind in VARIANT_KINDS}
        self._predict_rows = {kind: predict_rows.labels(kind) for kind in VARIANT_KINDS}
        self._rpcs = Counter("adaptune_rpcs", "Finished gRPC calls by method and status code (failures too).",
                             ["method", "code"], registry=r)
        self._http = Counter("adaptune_http_requests", "Dashboard and /metrics requests by route and status.",
                             ["route", "status"], registry=r)
        r.register(_StateCollector(sources))

    # -- what servicers call -----------------------------------------------------------

    def record_batch(self, result: AppendResult, seconds: float) -> None:
        self._accepted.inc(result.accepted)
        self._duplicates.inc(result.duplicates)
        for violation in result.rejections:
            self._rejected.labels(violation.field).inc()
        self._commit.observe(seconds)

    def record_predict(self, kind: str, seconds: float, rows: int) -> None:
        if kind not in self._predict_seconds:
            raise ValueError(f"variant kind must be one of {list(VARIANT_KINDS)}, got {kind!r}")
        self._predict_seconds[kind].observe(seconds)
        self._predict_rows[kind].observe(rows)

    def record_rpc(self, method: str, code: str) -> None:
        self._rpcs.labels(method, code).inc()

    def record_http(self, route: str, status: int) -> None:
        self._http.labels(route, str(status)).inc()

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.seconds``."""

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


class _StateCollector:
    """Reads the store, the cycles table and the adapter pool on every scrape (nothing cached)."""

    def __init__(self, sources: MetricsSources) -> None:
        self._sources = sources

    def describe(self) -> list:
        return []  # families are produced at scrape time only (avoids a store read at registration)

    def collect(self) -> Iterator:
        yield from _store_families(read_store(self._sources.db))
        yield from _serving_families(self._sources.serving())


def _single(family: type, name: str, documentation: str, value: float):
    """A metric family with one unlabeled sample."""
    metric = family(name, documentation)
    metric.add_metric([], value)
    return metric


def _store_families(store: StoreSnapshot) -> Iterable:
    yield _single(GaugeMetricFamily, "adaptune_store_up", "1 when the DuckDB store answers a query, else 0.",
                  1.0 if store.up else 0.0)
    if not store.up:
        return
    yield _single(GaugeMetricFamily, "adaptune_stored_events", "Interactions in the store.", store.events)
    cycles = CounterMetricFamily("adaptune_cycles", "Tuning cycles by outcome (from the cycles table).", labels=["status"])
    for status, count in sorted(store.cycles_by_status.items()):
        cycles.add_metric([status], count)
    yield cycles
    durations = HistogramMetricFamily("adaptune_cycle_duration_seconds", "Duration of ended cycles (finished or failed).")
    durations.add_metric([], _buckets(store.cycle_seconds, CYCLE_BUCKETS), sum_value=sum(store.cycle_seconds))
    yield durations
    yield _single(GaugeMetricFamily, "adaptune_last_successful_cycle_timestamp_seconds",
                  "Unix time the last finished cycle ended (0: never).", store.last_finished_unix or 0.0)


def _serving_families(serving: ServingSnapshot | None) -> Iterable:
    serving = serving or ServingSnapshot()
    yield _single(GaugeMetricFamily, "adaptune_resident_adapters", "Adapters loaded on the serving base model.",
                  serving.resident)
    yield _single(GaugeMetricFamily, "adaptune_resident_adapter_bytes", "Bytes of LoRA weights of the resident adapters.",
                  serving.resident_bytes)
    yield _single(CounterMetricFamily, "adaptune_adapter_evictions",
                  "Adapters evicted (least recently used) to make room.", serving.evictions)
    yield _single(CounterMetricFamily, "adaptune_adapter_loads", "Adapters loaded from their folders.", serving.loads)


def _buckets(values: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    """Cumulative (upper bound, count) pairs, +Inf last, as HistogramMetricFamily takes them."""
    pairs = [(str(float(bound)), float(sum(1 for v in values if v <= bound))) for bound in bounds]
    return pairs + [("+Inf", float(len(values)))]
