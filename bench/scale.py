"""Benchmark: cycles off the serving process, and the same cycle on inline, process and Ray.

(1) Ingestion while a cycle trains. ``adaptune serve`` runs as its own process (minilm-l6,
    CLINC150 traffic logged in advance); 4 clients stream ``LogInteractions`` batches and a
    fifth sends unary ``LogInteraction`` calls, whose latency gives p50/p99. Measured idle,
    then while a cycle trains, once on a server with ``--executor inline`` (the cycle trains
    in the server process) and once with ``--executor process`` (a spawned worker trains).
    Targets: with ``process``, ingestion during the cycle >= 0.7 of idle and p99 <= 1.5x idle.
(2) A cycle over 8 CLINC150 domains (each from the same fresh database copy) with
    ``inline``, ``process`` and ``ray`` (a local Ray instance with 2 CPUs, started before the
    clock): wall time, per-task overhead = (wall - inline wall) / domains, and whether the
    registered adapters are bit-identical to inline's (same seeds, one torch thread each).
    Targets: Ray adapters identical to inline; Ray overhead per task < 2 s.

Writes bench/results/scale.json (``--quick``: scale_quick.json) and a PNG beside it.

    .venv/bin/python bench/scale.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import legend_outside, save, styled  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from recsys.events.log import append_interactions  # noqa: E402
from recsys.events.model import Feedback, Interaction  # noqa: E402
from recsys.store import open_database  # noqa: E402
from server._proto.adaptune.v1 import interactions_pb2 as pb  # noqa: E402
from server.client import AdaptuneClient  # noqa: E402
from server.convert.interactions import interaction_to_proto  # noqa: E402
from server.process import start_serve_process  # noqa: E402
from tuner.cycle.config import CycleConfig  # noqa: E402
from tuner.cycle.running import Workspace, run_cycle  # noqa: E402
from tuner.executors.config import ExecutorConfig  # noqa: E402
from tuner.loading import load_base  # noqa: E402
from tuner.registry import AdapterRegistry  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STREAMS = 4
STREAM_BATCH = 500
TARGET_INGEST_RATIO = 0.7
TARGET_P99_RATIO = 1.5
TARGET_RAY_OVERHEAD_S = 2.0
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


# -- traffic ----------------------------------------------------------------------------------


def clinc_events(data: clinc150.Clinc150, domains: list[str], per_domain: int, seed: int, prefix: str) -> list[Interaction]:
    """Labeled events of ``domains``: the base answers wrong half the time and users correct it."""
    rng = random.Random(seed)
    events = []
    for domain in domains:
        rows = [r for r in data.train if r.domain == domain]
        for i, row in enumerate(rng.sample(rows, min(per_domain, len(rows)))):
            wrong = rng.random() < 0.5
            output = rng.choice([x for x in data.domains[domain] if x != row.intent]) if wrong else row.intent
            events.append(Interaction(
                event_id=f"{prefix}-{domain}-{i:05d}", user_id=f"u{rng.randrange(40)}", domain=domain,
                input_text=row.text, model_output=output, feedback=Feedback.CORRECTED if wrong else Feedback.POSITIVE,
                event_time=T0 + timedelta(seconds=len(events)), correction=row.intent if wrong else "",
                variant_id="base", attributes={"region": rng.choice(("eu", "us"))},
            ))  # fmt: skip
    return events


class Probe:
    """Unary LogInteraction calls one after another (every 20 ms); their latencies in ms."""

    def __init__(self, client: AdaptuneClient, template: Interaction, prefix: str) -> None:
        self.client, self.template, self.prefix = client, template, prefix
        self.latencies: list[float] = []

    def run(self, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.perf_counter()
            self.client.log_interaction(replace(self.template, event_id=f"{self.prefix}-{n}"))
            self.latencies.append((time.perf_counter() - started) * 1000)
            stop.wait(0.02)


def stream(address: str, template: pb.InteractionBatch, prefix: str, stop: threading.Event, counts: list) -> None:
    """One client streaming batches (fresh event ids each) until ``stop``."""

    def batches():
        n = 0
        while not stop.is_set():
            n += 1
            batch = pb.InteractionBatch()
            batch.CopyFrom(template)
            for i, item in enumerate(batch.interactions):
                item.event_id = f"{prefix}-{n}-{i}"
            yield batch

    with AdaptuneClient(address, timeout=600) as client:
        counts.append(client.log_interaction_batches(batches()).accepted)


def measure_ingestion(address: str, template: pb.InteractionBatch, probe_event: Interaction, seconds: float,
                      tag: str, until: threading.Event | None = None) -> dict:
    """4 streams and the unary probe for ``seconds`` (or until ``until`` is set): rate and latencies."""
    stop, counts = threading.Event(), []
    with AdaptuneClient(address, timeout=600) as client:
        probe = Probe(client, probe_event, f"{tag}-probe")
        threads = [threading.Thread(target=stream, args=(address, template, f"{tag}-s{k}", stop, counts)) for k in range(STREAMS)]
        threads.append(threading.Thread(target=probe.run, args=(stop,)))
        started = time.perf_counter()
        for t in threads:
            t.start()
        deadline = started + seconds
        while time.perf_counter() < deadline and not (until is not None and until.is_set()):
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    lat = sorted(probe.latencies)
    return {"events_per_s": sum(counts) / elapsed, "seconds": elapsed, "unary_calls": len(lat),
            "p50_ms": statistics.median(lat), "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))], "max_ms": lat[-1]}


def ingestion_case(kind: str, folder: Path, data, domains: list[str], args) -> dict:
    """Idle, then during a cycle, on one server whose cycles use executor ``kind``."""
    db_path = folder / f"ingest-{kind}.duckdb"
    # Only the cycle's domains: the streamed events (domain "ingest") must not become training data.
    config = {"max_domains": len(domains), "min_examples": 20, "domains": domains,
              "train": {"epochs": args.epochs, "seed": args.seed}}
    config_file = folder / "cycle.json"
    config_file.write_text(json.dumps(config))
    server = start_serve_process(db_path, extra_args=("--model", args.model, "--cycle-config", str(config_file),
                                                      "--executor", kind, "--worker-nice", str(args.worker_nice),
                                                      "--worker-idle-priority" if args.worker_idle_priority else "--no-worker-idle-priority",
                                                      "--adapters", str(folder / f"adapters-{kind}"),
                                                      "--reports", str(folder / f"reports-{kind}")), timeout=120)  # fmt: skip
    try:
        with AdaptuneClient(server.address, timeout=600) as client:
            client.wait_ready(timeout=60)
            client.log_interactions(clinc_events(data, domains, args.per_domain, args.seed, "cycle"))
            sample = clinc_events(data, domains[:1], STREAM_BATCH, args.seed + 1, "tmpl")
            template = pb.InteractionBatch(interactions=[interaction_to_proto(replace(e, domain="ingest")) for e in sample])
            probe_event = replace(sample[0], domain="ingest")
            idle = measure_ingestion(server.address, template, probe_event, args.window, f"{kind}-idle")
            training, finished, events = threading.Event(), threading.Event(), []

            def cycle() -> None:
                with AdaptuneClient(server.address, timeout=3600) as cycle_client:
                    for event in cycle_client.stream_cycle():
                        events.append(event)
                        if event.stage == "planned":
                            training.set()
                finished.set()

            runner = threading.Thread(target=cycle)
            runner.start()
            training.wait(900)
            busy = measure_ingestion(server.address, template, probe_event, args.window, f"{kind}-busy", until=finished)
            runner.join()
            busy["cycle_finished_during_window"] = finished.is_set() and busy["seconds"] < args.window - 0.5
            busy["cycle_promoted"] = events[-1].summary.get("promoted") if events and events[-1].summary else None
        code = server.stop()
    finally:
        server.kill()
    if code != 0:
        raise RuntimeError(f"server ({kind}) exited with {code}:\n{server.log()}")
    return {"idle": idle, "during_cycle": busy}


# -- the 8-domain cycle on each executor --------------------------------------------------------


def adapter_tensors(ws: Workspace) -> dict:
    out = {}
    for r in ws.registry.list():
        tensors = {}
        for file in sorted(r.path.glob("*.safetensors")):
            tensors.update({f"{file.name}:{k}": v for k, v in load_file(file).items()})
        out[(r.domain, r.version, r.status)] = tensors
    return out


def identical(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(
        sorted(a[k]) == sorted(b[k]) and all(torch.equal(a[k][n], b[k][n]) for n in a[k]) for k in a
    )


def cycle_rows(folder: Path, data, domains: list[str], args) -> tuple[list[dict], float]:
    torch.set_num_threads(1)  # the workers use one thread per job: the same arithmetic everywhere
    base = load_base(args.model, "classification")
    template = folder / "template.duckdb"
    db = open_database(template)
    append_interactions(db, clinc_events(data, domains, args.per_domain, args.seed, "cycle"))
    db.close()
    config = CycleConfig(base_model=args.model, max_domains=len(domains), min_examples=20)
    config = replace(config, train=replace(config.train, epochs=args.epochs, seed=args.seed))
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_init_s = time.perf_counter() - started
    rows, oracle = [], None
    try:
        for kind in tqdm(("inline", "process", "ray"), desc="8-domain cycle per executor"):
            work = folder / kind
            work.mkdir()
            shutil.copy(template, work / "adaptune.duckdb")
            db = open_database(work / "adaptune.duckdb")
            ws = Workspace(db, AdapterRegistry(db, work / "adapters"), base, work / "reports")
            started = time.perf_counter()
            result = run_cycle(ws, config, executor=ExecutorConfig(kind=kind))
            wall = time.perf_counter() - started
            tensors = adapter_tensors(ws)
            db.close()
            oracle = oracle if oracle is not None else (wall, tensors)
            trained = len(result.outcomes) + len(result.summary["failed"])
            rows.append({
                "executor": kind, "domains": trained, "wall_s": wall,
                "overhead_per_task_s": (wall - oracle[0]) / max(trained, 1),
                "job_seconds": sum(o.seconds for o in result.outcomes),
                "adapters_identical": identical(oracle[1], tensors), "promoted": len(result.promoted()),
                "failed": result.summary["failed"], "load_avg_1m_after": os.getloadavg()[0],
            })  # fmt: skip
            tqdm.write(f"  {kind:<8} {wall:7.1f} s  {trained} domains  identical {rows[-1]['adapters_identical']}")
    finally:
        ray.shutdown()
    return rows, ray_init_s


@styled()
def plot(results: dict, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    rates = {"idle": results["ingest_idle_per_s"], **{f"cycle\n{k}": v for k, v in results["ingest_during_cycle_per_s"].items()}}
    left.bar(list(rates), list(rates.values()), color=["#7a7a7a", "#c53030", "#2b6cb0"])
    left.axhline(TARGET_INGEST_RATIO * results["ingest_idle_per_s"], color="#dd6b20", linestyle=":", label=f"{TARGET_INGEST_RATIO} x idle")
    left.set_ylabel("events / s (4 streams)")
    left.set_title("ingestion: idle vs while a cycle trains")
    legend_outside(left)
    rows = results["rows"]
    right.bar([r["executor"] for r in rows], [r["wall_s"] for r in rows], color="#2b6cb0")
    right.set_ylabel("cycle wall time (s)")
    right.set_title(f"cycle over {rows[0]['domains']} domains")
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter windows, fewer examples")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default=None, help="CLINC150 folder (default: $ADAPTUNE_CLINC150 or ../shared/data/clinc150)")
    parser.add_argument("--domains", type=int, default=8)
    parser.add_argument("--per-domain", type=int, default=None, help="logged events per domain (default 240, quick 100)")
    parser.add_argument("--epochs", type=int, default=None, help="default 2, quick 1")
    parser.add_argument("--window", type=float, default=None, help="seconds per ingestion window (default 20, quick 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker-nice", type=int, default=10, help="the process worker's niceness in part (1)")
    parser.add_argument("--worker-idle-priority", action=argparse.BooleanOptionalAction, default=True,
                        help="the process worker on SCHED_IDLE in part (1) (the server's default)")
    parser.add_argument("--skip-ingest", action="store_true", help="only part (2)")
    parser.add_argument("--skip-cycles", action="store_true", help="only part (1)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.per_domain = args.per_domain or (100 if args.quick else 240)
    args.epochs = args.epochs or (1 if args.quick else 2)
    args.window = args.window or (8.0 if args.quick else 20.0)
    out = args.out or RESULTS / ("scale_quick.json" if args.quick else "scale.json")
    data = clinc150.load(args.data or clinc150.default_path())
    domains = sorted(data.domains)[: args.domains]
    load_start = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="adaptune-bench-scale-"))
    try:
        ingest = {}
        if not args.skip_ingest:
            for kind in tqdm(("inline", "process"), desc="ingestion cases"):
                ingest[kind] = ingestion_case(kind, folder, data, domains[:4], args)
                tqdm.write(f"  {kind}: idle {ingest[kind]['idle']['events_per_s']:,.0f}/s, during cycle "
                           f"{ingest[kind]['during_cycle']['events_per_s']:,.0f}/s, p99 {ingest[kind]['idle']['p99_ms']:.0f} -> "
                           f"{ingest[kind]['during_cycle']['p99_ms']:.0f} ms")
        rows, ray_init_s = ([], None) if args.skip_cycles else cycle_rows(folder, data, domains, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    results: dict = {"rows": rows, "ray_init_s": ray_init_s}
    if ingest:
        idle_rates = [c["idle"]["events_per_s"] for c in ingest.values()]
        idle_p99 = [c["idle"]["p99_ms"] for c in ingest.values()]
        results.update({
            "ingest_idle_per_s": statistics.mean(idle_rates),
            "ingest_during_cycle_per_s": {k: c["during_cycle"]["events_per_s"] for k, c in ingest.items()},
            "p99_ms": {"idle": statistics.mean(idle_p99), **{k: c["during_cycle"]["p99_ms"] for k, c in ingest.items()}},
            "p50_ms": {"idle": statistics.mean(c["idle"]["p50_ms"] for c in ingest.values()),
                       **{k: c["during_cycle"]["p50_ms"] for k, c in ingest.items()}},
            "ingest_cases": ingest,
        })  # fmt: skip
        # Paired: each server's own idle window against its own cycle window.
        results["ratios"] = {k: {"ingest": c["during_cycle"]["events_per_s"] / c["idle"]["events_per_s"],
                                 "p99": c["during_cycle"]["p99_ms"] / c["idle"]["p99_ms"]} for k, c in ingest.items()}
    ray_row = next((r for r in rows if r["executor"] == "ray"), None)
    results["targets"] = {"process_ingest_ratio": TARGET_INGEST_RATIO, "process_p99_ratio": TARGET_P99_RATIO,
                          "ray_overhead_per_task_s": TARGET_RAY_OVERHEAD_S}
    results["meets_targets"] = {
        **({"ray_adapters_identical": ray_row["adapters_identical"],
            "ray_overhead": ray_row["overhead_per_task_s"] < TARGET_RAY_OVERHEAD_S} if ray_row else {}),
        **({"process_ingest": results["ratios"]["process"]["ingest"] >= TARGET_INGEST_RATIO,
            "process_p99": results["ratios"]["process"]["p99"] <= TARGET_P99_RATIO} if ingest else {}),
    }
    results["settings"] = {"quick": args.quick, "worker_nice": args.worker_nice, "worker_idle_priority": args.worker_idle_priority, "model": args.model, "domains": domains, "per_domain": args.per_domain,
                           "epochs": args.epochs, "window_s": args.window, "streams": STREAMS, "stream_batch": STREAM_BATCH}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg_1m_at_start": load_start, "load_avg_1m_at_end": os.getloadavg()[0]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if ingest and rows:
        plot(results, out.with_suffix(".png"))
    print(json.dumps({k: results[k] for k in ("meets_targets",)}, indent=2))
    for r in rows:
        print(f"{r['executor']:<8} wall {r['wall_s']:7.1f} s  overhead/task {r['overhead_per_task_s']:+6.2f} s  "
              f"identical {r['adapters_identical']}")
    if ingest:
        for k, ratio in results["ratios"].items():
            print(f"{k:<8} ingestion during cycle / idle {ratio['ingest']:.2f}   p99 during / idle {ratio['p99']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
