"""Benchmark: interactions per second through gRPC into DuckDB, against the store directly.

Both paths ingest the same events (the project's example traffic, realistic texts and
attributes, unique ids) into a fresh DuckDB file, in batches of the same size, with the
same validation and the same idempotent append:

- grpc: ``adaptune serve`` runs as its own process; this process streams ready-made
  protobuf batches with one client-streaming ``LogInteractions`` call. The clock stops
  when the summary arrives, i.e. after the last batch is committed.
- direct: ``recsys.events.log.append_interactions`` on ``Interaction`` objects, in this
  process, no gRPC.
- grpc_from_objects (reported, not a target): the same stream when the client also
  converts ``Interaction`` objects to protobuf as it sends (``AdaptuneClient.log_interactions``).

Messages are built before the clock starts on each path, so the ratio compares
ingestion, not test-data generation. Each round runs the three paths one after the
other on fresh files; the reported rates are medians over rounds (3 by default). Prints
events/s and the ratio; writes bench/results/ingest.json and ingest.png.

    .venv/bin/python bench/ingest.py [--events N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import legend_outside, save, styled  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from recsys.datasets.examples import example_interactions  # noqa: E402
from recsys.events.log import append_interactions  # noqa: E402
from recsys.events.model import Interaction  # noqa: E402
from recsys.events.validate import EventLimits  # noqa: E402
from recsys.store import open_database  # noqa: E402
from server._proto.adaptune.v1 import interactions_pb2 as pb  # noqa: E402
from server.client import AdaptuneClient  # noqa: E402
from server.convert.interactions import interaction_to_proto  # noqa: E402
from server.process import start_serve_process  # noqa: E402

TARGET_GRPC_EVENTS_PER_S = 50_000
TARGET_RATIO = 0.6


def make_events(n: int, seed: int) -> list[Interaction]:
    """The example traffic, n events from 2,000 users; event ids are unique."""
    return example_interactions(n, seed=seed, users=2000)


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_direct(events: list[Interaction], batch_size: int, folder: Path) -> dict:
    db = open_database(folder / "direct.duckdb")
    limits = EventLimits(max_batch_events=batch_size)
    batches = chunks(events, batch_size)
    accepted = 0
    started = time.perf_counter()
    for batch in tqdm(batches, desc="direct store", unit="batch", leave=False):
        accepted += append_interactions(db, batch, limits=limits).accepted
    seconds = time.perf_counter() - started
    stored = db.cursor().execute("SELECT count(*) FROM interactions").fetchone()[0]
    db.close()
    return {"seconds": seconds, "accepted": accepted, "stored": stored}


def run_grpc(events: list[Interaction], batch_size: int, folder: Path, *, convert_while_sending: bool) -> dict:
    name = "grpc_objects" if convert_while_sending else "grpc"
    db_path = folder / f"{name}.duckdb"
    server = start_serve_process(db_path, extra_args=("--max-events-per-batch", str(batch_size)))
    try:
        with AdaptuneClient(server.address, timeout=600) as client:
            client.wait_ready(timeout=60)
            desc = "grpc (client converts)" if convert_while_sending else "grpc stream"
            if convert_while_sending:
                progress = tqdm(total=len(events), desc=desc, unit="event", leave=False)

                def counted():
                    for i, event in enumerate(events, 1):
                        if i % batch_size == 0:
                            progress.update(batch_size)
                        yield event

                started = time.perf_counter()
                result = client.log_interactions(counted(), batch_size=batch_size)
                seconds = time.perf_counter() - started
                progress.close()
            else:
                batches = [pb.InteractionBatch(interactions=[interaction_to_proto(e) for e in chunk])
                           for chunk in tqdm(chunks(events, batch_size), desc="building protobuf batches", leave=False)]
                started = time.perf_counter()
                result = client.log_interaction_batches(tqdm(batches, desc=desc, unit="batch", leave=False))
                seconds = time.perf_counter() - started
        code = server.stop()
    finally:
        server.kill()
    if code != 0:
        raise RuntimeError(f"server exited with {code}:\n{server.log()}")
    con = duckdb.connect(str(db_path), read_only=True)
    stored = con.execute("SELECT count(*) FROM interactions").fetchone()[0]
    con.close()
    return {"seconds": seconds, "accepted": result.accepted, "stored": stored, "rejected": result.rejected}


@styled()
def plot(results: dict, path: Path) -> None:
    labels = ["direct store", "gRPC stream", "gRPC, client converts"]
    values = [results["direct_events_per_s"], results["grpc_events_per_s"], results["grpc_from_objects_events_per_s"]]
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    bars = ax.bar(labels, values, color=["#7a7a7a", "#2b6cb0", "#90cdf4"])
    ax.axhline(TARGET_GRPC_EVENTS_PER_S, color="#c53030", linestyle="--", label=f"gRPC target {TARGET_GRPC_EVENTS_PER_S:,}/s")
    ax.axhline(TARGET_RATIO * results["direct_events_per_s"], color="#dd6b20", linestyle=":",
               label=f"{TARGET_RATIO} x direct")
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom")
    ax.set_ylabel("throughput (events / s)")
    ax.set_title(f"Ingesting {results['events']:,} interactions into DuckDB (batches of {results['batch_size']:,})\n"
                 f"gRPC / direct = {results['ratio']:.2f}")
    legend_outside(ax)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="interactions per path (default 200,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 events per path")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=None, help="rounds of the three runs; medians are reported (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/ingest.json, ingest_quick.json with --quick)")
    args = parser.parse_args(argv)
    args.out = args.out or ROOT / "bench" / "results" / ("ingest_quick.json" if args.quick else "ingest.json")
    n = 50_000 if args.quick and args.events == 200_000 else args.events
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if n < 1 or args.batch_size < 1 or repeats < 1:
        parser.error(f"--events, --batch-size and --repeats must be >= 1, got {n}, {args.batch_size}, {repeats}")

    events = make_events(n, args.seed)
    seconds: dict[str, list[float]] = {"direct": [], "grpc": [], "grpc_from_objects": []}
    # Rounds interleave the paths so a burst of load on the shared machine hits them alike.
    for round_ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="adaptune-bench-") as tmp:
            folder = Path(tmp)
            runs = {
                "direct": run_direct(events, args.batch_size, folder),
                "grpc": run_grpc(events, args.batch_size, folder, convert_while_sending=False),
                "grpc_from_objects": run_grpc(events, args.batch_size, folder, convert_while_sending=True),
            }
        for name, run in runs.items():
            if run["accepted"] != n or run["stored"] != n:
                raise RuntimeError(f"{name}: accepted {run['accepted']}, stored {run['stored']}, expected {n}")
            seconds[name].append(run["seconds"])
        print(f"round {round_ + 1}/{repeats}: " + ", ".join(f"{k} {n / v[-1]:,.0f}/s" for k, v in seconds.items()), flush=True)

    median = {name: statistics.median(values) for name, values in seconds.items()}
    grpc_rate, direct_rate = n / median["grpc"], n / median["direct"]
    results = {
        "grpc_events_per_s": grpc_rate,
        "direct_events_per_s": direct_rate,
        "ratio": grpc_rate / direct_rate,
        "grpc_from_objects_events_per_s": n / median["grpc_from_objects"],
        "events": n,
        "batch_size": args.batch_size,
        "repeats": repeats,
        "seconds_median": median,
        "seconds_all": seconds,
        # Paired per round (same moment, same load); the headline ratio above uses the medians.
        "ratio_per_round": [d / g for d, g in zip(seconds["direct"], seconds["grpc"])],
        "ratio_median_of_rounds": statistics.median(d / g for d, g in zip(seconds["direct"], seconds["grpc"])),
        "targets": {"grpc_events_per_s": TARGET_GRPC_EVENTS_PER_S, "ratio": TARGET_RATIO},
        "meets_targets": grpc_rate >= TARGET_GRPC_EVENTS_PER_S and grpc_rate / direct_rate >= TARGET_RATIO,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
                    "load_avg_1m_at_end": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))

    print(f"events per path      {n:>12,}  (batches of {args.batch_size:,}; medians of {repeats} rounds)")
    print(f"direct store         {results['direct_events_per_s']:>12,.0f} events/s")
    print(f"gRPC stream          {results['grpc_events_per_s']:>12,.0f} events/s   target >= {TARGET_GRPC_EVENTS_PER_S:,}")
    print(f"gRPC / direct        {results['ratio']:>12.2f}              target >= {TARGET_RATIO}"
          f"   (per round: {', '.join(f'{r:.2f}' for r in results['ratio_per_round'])})")
    print(f"gRPC, client converts{results['grpc_from_objects_events_per_s']:>12,.0f} events/s   (not a target)")
    print(f"meets targets: {results['meets_targets']}; wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
