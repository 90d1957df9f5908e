"""``make demo``: the service end to end, as a list of steps later work appends to.

Starts ``adaptune serve`` as a child process on a free port over ``var/demo.duckdb``,
sends interactions through the Python client (the example traffic the project writes
itself, or simulated CLINC150 traffic with ``--data``), prints what the server stored,
then stops it with SIGTERM. Run ``python -m server.demo --help``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from recsys.events.model import Interaction
from server.client import AdaptuneClient
from server.commands import cycle, predict, rank
from server.process import ServeProcess, start_serve_process

DEFAULT_DB = Path("var/demo.duckdb")


@dataclass
class DemoContext:
    """What steps share: arguments, the running server, its client, the traffic, results by name."""

    args: argparse.Namespace
    server: ServeProcess | None = None
    client: AdaptuneClient | None = None
    traffic: list[Interaction] = field(default_factory=list)
    source: str = ""
    results: dict[str, Any] = field(default_factory=dict)


Step = Callable[[DemoContext], None]


def demo_folders(db: Path) -> tuple[Path, Path]:
    """Adapters and reports beside the demo database, so a fresh demo starts at v0001."""
    return db.with_name(f"{db.stem}-adapters"), db.with_name(f"{db.stem}-reports")


def start_server(ctx: DemoContext) -> None:
    db = Path(ctx.args.db)
    adapters, reports = demo_folders(db)
    if not ctx.args.keep_db:
        for path in (db, db.with_name(db.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(adapters, ignore_errors=True)
    ctx.server = start_serve_process(db, extra_args=("--adapters", str(adapters), "--reports", str(reports)))
    ctx.client = AdaptuneClient(ctx.server.address)
    ctx.client.wait_ready(timeout=30)
    print(f"  server pid {ctx.server.pid} on {ctx.server.address}, database {db} ({ctx.client.health()})")


def build_traffic(ctx: DemoContext) -> None:
    """Example traffic by default; simulated CLINC150 traffic when --data points at it."""
    if ctx.args.data is None:
        from recsys.datasets.examples import example_interactions

        ctx.traffic = example_interactions(ctx.args.events or 360, seed=ctx.args.seed)
        ctx.source = "example traffic (customer_support, legal, contracts)"
    else:
        ctx.traffic = clinc_traffic(Path(ctx.args.data), ctx.args.events or 3000, ctx.args.seed)
        ctx.source = f"simulated CLINC150 traffic from {ctx.args.data}"
    users = len({e.user_id for e in ctx.traffic})
    domains = sorted({e.domain for e in ctx.traffic})
    print(f"  {len(ctx.traffic)} interactions from {users} users over {len(domains)} domains: {ctx.source}")


def clinc_traffic(path: Path, events: int, seed: int) -> list[Interaction]:
    """The hook to recsys.traffic: CLINC150 queries sent by simulated users, corrected when wrong."""
    from recsys.datasets import clinc150
    from recsys.traffic import TrafficConfig, simulate_clinc_traffic

    return simulate_clinc_traffic(clinc150.load(path), TrafficConfig(n_events=events, seed=seed, event_prefix="demo"))


def register_domains(ctx: DemoContext) -> None:
    """Parents first, so chains like legal -> contracts exist before traffic names them."""
    if ctx.args.data is not None:
        print("  CLINC150 domains have no parents; they are registered by the traffic itself")
        return
    from recsys.datasets.examples import EXAMPLE_DOMAINS

    for record in EXAMPLE_DOMAINS:
        ctx.client.upsert_domain(record.name, record.parent, record.description)
    chains = [f"{r.parent} -> {r.name}" for r in EXAMPLE_DOMAINS if r.parent]
    print(f"  {len(EXAMPLE_DOMAINS)} domains; chains: {', '.join(chains) or 'none'}")


def send_interactions(ctx: DemoContext) -> None:
    started = time.perf_counter()
    result = ctx.client.log_interactions(ctx.traffic, batch_size=500)
    seconds = time.perf_counter() - started
    ctx.results["log"] = result
    print(
        f"  {result.accepted} stored, {result.duplicates} duplicates, {result.rejected} rejected "
        f"in {result.batches} batches ({seconds:.2f} s)"
    )
    for rejection in result.rejections[:5]:
        print(f"  rejected: batch {rejection.batch_index}: {rejection.reason}")


def show_stats(ctx: DemoContext) -> None:
    from server.commands.stats import format_stats

    stats = ctx.client.interaction_stats()
    ctx.results["stats"] = stats
    print("  " + format_stats(stats).replace("\n", "\n  "))
    first = ctx.client.list_interactions(limit=1).interactions
    if first:
        e = first[0]
        print(f"  first stored, seq {e.seq}: [{e.domain}] {e.input_text!r} -> {e.model_output!r} ({e.feedback.value})")


STEPS: list[tuple[str, Step]] = [
    ("start the server", start_server),
    ("build traffic", build_traffic),
    ("register domains", register_domains),
    ("send interactions over gRPC", send_interactions),
    ("what the server stored", show_stats),
    ("rank domains and layers", rank.demo_step),
    ("run a targeted tuning cycle", cycle.demo_step),
    ("a personalized variant next to the base model", predict.demo_step),
]


def step_name(step: Step) -> str:
    """A step's name for ``--stop-after``: its function's, or its module's for a command's ``demo_step``."""
    name = step.__name__
    return step.__module__.rsplit(".", 1)[-1] if name == "demo_step" else name


def step_names() -> list[str]:
    return [step_name(step) for _, step in STEPS]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m server.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="CLINC150 folder (e.g. ../shared/data/clinc150)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"database file (default {DEFAULT_DB})")
    parser.add_argument("--keep-db", action="store_true", help="keep the database and adapters of an earlier run (default: start fresh)")
    parser.add_argument("--events", type=int, default=None, help="interactions to send (default 360, CLINC150 3000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stop-after",
        choices=step_names(),
        default=None,
        help="run the steps up to and including this one (default: all)",
    )
    args = parser.parse_args(argv)
    if args.events is not None and args.events < 1:
        parser.error(f"--events must be >= 1, got {args.events}")
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {str(args.data)!r} is not a folder (expected CLINC150's data_full.json and domains.json)")
    return args


def main(argv: list[str] | None = None) -> int:
    ctx = DemoContext(parse_args(argv))
    steps = STEPS
    if ctx.args.stop_after is not None:
        steps = STEPS[: step_names().index(ctx.args.stop_after) + 1]
    try:
        for number, (title, step) in enumerate(steps, 1):
            print(f"[{number}/{len(steps)}] {title}", flush=True)
            step(ctx)
    finally:
        if ctx.client is not None:
            ctx.client.close()
        if ctx.server is not None:
            code = ctx.server.stop()
            last = ctx.server.log().strip().splitlines()[-1:] or [""]
            print(f"server stopped with SIGTERM (exit code {code}: {last[0]})", flush=True)
    print(dashboard_command(Path(ctx.args.db)), flush=True)
    return 0


def dashboard_command(db: Path, port: int = 8080) -> str:
    """The demo's last line: serve its database with the dashboard on (read-only without --token)."""
    adapters, reports = demo_folders(db)
    return (f"dashboard: adaptune serve --db {db} --adapters {adapters} --reports {reports} --http-port {port}"
            f"  # then open http://127.0.0.1:{port}/")


if __name__ == "__main__":
    sys.exit(main())
