"""Benchmark: domain ranking quality on held-out CLINC150 traffic, and fit-time scaling.

Quality: simulated users in segments with domain preferences send CLINC150
queries; a share of each user's interactions is held out, the ranker is fitted
on the rest (through the real ingestion path and DuckDB), and each user's top-k
domains are scored against the held-out ones (gain = held-out events in the
domain) next to a popularity baseline (the domains with most training events).
A second pair scores the tuning priority (affinity x need) against the user's
held-out errors, next to the most-failed domains overall.

Scaling: build the matrices and fit for 10,000 and 1,000,000 events (users grow
with events, 50 events per user), measured in the same run (median of
``--repeats`` runs each); the ratio of the two times against the ratio of events shows whether fit time grows at most
linearly.

    .venv/bin/python bench/ranking.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import legend_outside, save, styled  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recsys.datasets import clinc150  # noqa: E402
from recsys.events.log import append_interactions  # noqa: E402
from recsys.events.model import Feedback, Interaction  # noqa: E402
from recsys.events.validate import EventLimits  # noqa: E402
from recsys.matrices import build_user_domain_matrix, domain_stats  # noqa: E402
from recsys.metrics import evaluate_rankings, popularity_ranking  # noqa: E402
from recsys.ranking import DomainRanker, RankerConfig  # noqa: E402
from recsys.store import open_database  # noqa: E402
from recsys.traffic import TrafficConfig, make_users, simulate_clinc_traffic  # noqa: E402

# Some domains are hard for the current model: the priority ranking should find them.
ERROR_RATES = {"banking": 0.35, "credit_cards": 0.3, "travel": 0.05, "small_talk": 0.25, "utility": 0.15}
CHUNK = 100_000
EVENTS_PER_USER = 50


def store(db, events: list[Interaction]) -> None:
    """Through the real ingestion path, in large batches."""
    limits = EventLimits(max_batch_events=CHUNK)
    for start in range(0, len(events), CHUNK):
        result = append_interactions(db, events[start : start + CHUNK], limits=limits)
        if result.rejected:
            raise RuntimeError(f"ingestion refused {result.rejected} simulated events: {result.rejections[:3]}")


def split_holdout(events: list[Interaction], share: float, seed: int) -> tuple[list[Interaction], list[Interaction]]:
    """A random ``share`` of each user's interactions is held out (at least one when the user has two)."""
    rng = random.Random(seed)
    by_user: dict[str, list[int]] = defaultdict(list)
    for index, event in enumerate(events):
        by_user[event.user_id].append(index)
    held: set[int] = set()
    for indices in by_user.values():
        if len(indices) < 2:
            continue
        count = max(1, round(share * len(indices)))
        held.update(rng.sample(indices, count))
    train = [e for i, e in enumerate(events) if i not in held]
    test = [e for i, e in enumerate(events) if i in held]
    return train, test


def quality(dataset, args, folder: Path) -> dict:
    config = TrafficConfig(
        n_users=args.users,
        n_events=args.events,
        n_segments=args.segments,
        domains_per_segment=3,
        preference_strength=0.8,
        error_rates=ERROR_RATES,
        seed=args.seed,
    )
    events = simulate_clinc_traffic(dataset, config)
    train, test = split_holdout(events, args.holdout, args.seed)
    db = open_database(folder / "quality.duckdb")
    store(db, train)

    held_events: dict[str, Counter] = defaultdict(Counter)
    held_errors: dict[str, Counter] = defaultdict(Counter)
    for event in test:
        held_events[event.user_id][event.domain] += 1
        if event.feedback is not Feedback.POSITIVE:
            held_errors[event.user_id][event.domain] += 1
    train_events = Counter(e.domain for e in train)
    train_errors = Counter(e.domain for e in train if e.feedback is not Feedback.POSITIVE)
    popular = popularity_ranking(train_events)
    most_failed = popularity_ranking(train_errors)

    k = args.k
    result: dict = {"events": len(events), "train_events": len(train), "held_out_events": len(test)}
    for method in ("als", "bpr"):
        ranker = DomainRanker(RankerConfig(method=method)).fit(db)
        users = sorted(held_events)
        by_affinity = {}
        by_priority = {}
        for user in tqdm(users, desc=f"rank {method}", leave=False):
            by_affinity[user] = [d.domain for d in ranker.recommend(user, top_k=k, objective="affinity").domains]
            by_priority[user] = [d.domain for d in ranker.recommend(user, top_k=k).domains]
        usage = evaluate_rankings(by_affinity, held_events, k)
        errors = evaluate_rankings(by_priority, held_errors, k)
        result[method] = {"usage": asdict(usage), "errors": asdict(errors)}
    usage_pop = evaluate_rankings({u: popular for u in held_events}, held_events, k)
    errors_pop = evaluate_rankings({u: most_failed for u in held_errors}, held_errors, k)
    result["popularity"] = {"usage": asdict(usage_pop), "errors": asdict(errors_pop)}
    global_top = [d.domain for d in DomainRanker().fit(db).rank_domains(top_k=k)]
    result["global_top"] = global_top
    db.close()
    return result


def timing(dataset, sizes: list[int], seed: int, folder: Path, repeats: int) -> list[dict]:
    rows = []
    for size in sizes:
        n_users = max(size // EVENTS_PER_USER, 10)
        base = TrafficConfig(n_users=n_users, n_events=1, n_segments=10, domains_per_segment=3,
                             error_rates=ERROR_RATES, seed=seed)
        users = make_users(dataset.domains, base)
        db = open_database(folder / f"scale-{size}.duckdb")
        chunks = range(0, size, CHUNK)
        for chunk_index, start in enumerate(tqdm(chunks, desc=f"simulate+ingest {size:,}", leave=False)):
            chunk = replace(base, n_events=min(CHUNK, size - start), seed=seed + chunk_index,
                            event_prefix=f"scale{chunk_index}")
            store(db, simulate_clinc_traffic(dataset, chunk, users=users))
        builds, fits = [], []
        for _ in range(repeats):
            ranker = DomainRanker(RankerConfig())
            started = time.perf_counter()
            matrix = build_user_domain_matrix(db)
            stats = domain_stats(db)
            built = time.perf_counter()
            ranker.fit_matrix(matrix, stats)
            fitted = time.perf_counter()
            builds.append(built - started)
            fits.append(fitted - built)
        # Medians of the repeats: the machine is shared, one slow run must not decide the ratio.
        rows.append(
            {
                "events": size,
                "users": n_users,
                "nonzeros": int(matrix.matrix.nnz),
                "repeats": repeats,
                "build_seconds": statistics.median(builds),
                "fit_seconds": statistics.median(fits),
                "total_seconds": statistics.median(b + f for b, f in zip(builds, fits)),
            }
        )
        db.close()
    return rows


@styled()
def plot(report: dict, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
    labels = ["nDCG@k usage", "P@k usage", "nDCG@k errors", "P@k errors"]
    for offset, (name, key) in enumerate([("ALS", "als"), ("BPR", "bpr"), ("popularity", "popularity")]):
        q = report["quality"][key]
        values = [q["usage"]["ndcg"], q["usage"]["precision"], q["errors"]["ndcg"], q["errors"]["precision"]]
        left.bar([i + offset * 0.27 for i in range(4)], values, width=0.27, label=name)
    left.set_xticks([i + 0.27 for i in range(4)], labels, fontsize=8)
    left.set_ylim(0, 1)
    left.set_title(f"held-out quality (k={report['k']})")
    left.set_ylabel("score (0-1)")
    legend_outside(left)
    sizes = [row["events"] for row in report["timing"]]
    right.loglog(sizes, [row["total_seconds"] for row in report["timing"]], "o-", label="build + fit")
    right.loglog(sizes, [row["build_seconds"] for row in report["timing"]], "s--", label="build (SQL)")
    right.loglog(sizes, [row["fit_seconds"] for row in report["timing"]], "^--", label="fit (ALS)")
    first = report["timing"][0]
    right.loglog(sizes, [first["total_seconds"] * s / sizes[0] for s in sizes], ":", color="grey", label="linear")
    right.set_xlabel("events (log scale)")
    right.set_ylabel("seconds (log scale)")
    right.set_title("matrix build and fit time")
    legend_outside(right)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller log; scaling measured at 10k and 100k events")
    parser.add_argument("--events", type=int, default=None, help="events in the quality log (default 60k, quick 20k)")
    parser.add_argument("--users", type=int, default=None, help="users in the quality log (default 1500, quick 500)")
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--holdout", type=float, default=0.2, help="share of each user's events held out")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed build+fit runs per size (median reported)")
    parser.add_argument("--data", type=Path, default=None, help="CLINC150 folder (default ../shared/data/clinc150)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.events = args.events or (20_000 if args.quick else 60_000)
    args.users = args.users or (500 if args.quick else 1500)
    for name in ("events", "users", "segments", "k", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.holdout < 1:
        parser.error(f"--holdout must be in (0, 1), got {args.holdout}")
    sizes = [10_000, 100_000] if args.quick else [10_000, 1_000_000]

    dataset = clinc150.load(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-ranking-") as tmp:
        folder = Path(tmp)
        q = quality(dataset, args, folder)
        t = timing(dataset, sizes, args.seed, folder, args.repeats)

    small, large = t[0], t[-1]
    k = args.k
    report = {
        "quick": args.quick,
        "k": k,
        "ndcg_at_3": q["als"]["usage"]["ndcg"],
        "popularity_ndcg_at_3": q["popularity"]["usage"]["ndcg"],
        "precision_at_3": q["als"]["usage"]["precision"],
        "popularity_precision_at_3": q["popularity"]["usage"]["precision"],
        "priority_ndcg_at_3": q["als"]["errors"]["ndcg"],
        "most_failed_ndcg_at_3": q["popularity"]["errors"]["ndcg"],
        "events_small": small["events"],
        "events_large": large["events"],
        "fit_seconds_small": small["total_seconds"],
        "fit_seconds_large": large["total_seconds"],
        "fit_time_ratio": large["total_seconds"] / small["total_seconds"],
        "events_ratio": large["events"] / small["events"],
        "beats_popularity_ndcg_at_3": q["als"]["usage"]["ndcg"] > q["popularity"]["usage"]["ndcg"],
        "at_most_linear": large["total_seconds"] / small["total_seconds"] <= large["events"] / small["events"],
        "quality": q,
        "timing": t,
        "config": {"ranker": repr(RankerConfig()), "error_rates": ERROR_RATES, "holdout": args.holdout,
                   "users": args.users, "events": args.events, "segments": args.segments, "seed": args.seed},
    }
    if k != 3:
        report["note"] = f"the *_at_3 keys hold @{k} values (run with --k {k})"
    json_path = args.out / ("ranking_quick.json" if args.quick else "ranking.json")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    png_path = json_path.with_suffix(".png")
    plot(report, png_path)

    print(f"\nranking quality on {q['held_out_events']:,} held-out events of {q['events']:,} "
          f"({q['als']['usage']['users']} users), k={k}")
    print(f"{'ranking':<28}{'nDCG@k':>9}{'P@k':>9}")
    for name, key, part in [("ALS affinity", "als", "usage"), ("BPR affinity", "bpr", "usage"),
                            ("popularity", "popularity", "usage"), ("ALS priority vs errors", "als", "errors"),
                            ("BPR priority vs errors", "bpr", "errors"), ("most-failed vs errors", "popularity", "errors")]:
        print(f"{name:<28}{q[key][part]['ndcg']:>9.3f}{q[key][part]['precision']:>9.3f}")
    print(f"global top {k}: {', '.join(q['global_top'])}")
    print(f"\n{'events':>10}{'users':>8}{'nnz':>9}{'build s':>9}{'fit s':>8}{'total s':>9}")
    for row in t:
        print(f"{row['events']:>10,}{row['users']:>8,}{row['nonzeros']:>9,}{row['build_seconds']:>9.3f}"
              f"{row['fit_seconds']:>8.3f}{row['total_seconds']:>9.3f}")
    print(f"time ratio {report['fit_time_ratio']:.1f}x for {report['events_ratio']:.0f}x events "
          f"({'at most linear' if report['at_most_linear'] else 'WORSE than linear'})")
    print(f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
