"""How a reviewer spends their time: what `adaptune review` shows and how long each step takes.

One CLINC150 domain whose review policy is ``required`` gets simulated traffic (its base
model answers badly, users correct it); one real cycle with minilm-l6 holds its passing
candidate. Then, side by side in rotating order, ``--rounds`` times each:

  rpc_list / rpc_show:  the SDK call alone (``client.list_reviews`` / ``get_review``);
  cli_list / cli_show:  ``adaptune review list`` / ``show`` as a reviewer types it (a fresh
                        Python process: start, import, connect, call, print).

Then one ``adaptune review approve`` (a candidate is approved once). The ratio cli/rpc
says where a reviewer's wait goes (process start, not the server). The JSON keeps the
``show`` screen itself, so the README's worked example is what the CLI printed.

Writes bench/results/review.json (``--quick``: review_quick.json) and review.png.

    .venv/bin/python bench/review.py --quick     # a few minutes on two cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import save, styled  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from recsys.traffic import TrafficConfig, simulate_clinc_traffic  # noqa: E402
from server.app import create_server, stop_server  # noqa: E402
from server.client import AdaptuneClient  # noqa: E402
from server.config import ServerConfig  # noqa: E402
from tuner.cycle.config import CycleConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STEPS = ("rpc_list", "rpc_show", "cli_list", "cli_show")


def cli(address: str, *args: str) -> tuple[float, str]:
    """One ``adaptune review`` command in a fresh process: (seconds, stdout)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "review", *args, "--address", address],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - started, done.stdout


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


@styled()
def plot(medians: dict, approve_s: float, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    names = [*STEPS, "cli_approve"]
    ax.bar(names, [*(medians[n] for n in STEPS), approve_s],
           color=["tab:blue", "tab:blue", "tab:orange", "tab:orange", "tab:green"])
    ax.set_ylabel("seconds (median)")
    ax.set_title(title, fontsize=9)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds (a few minutes on two cores)")
    parser.add_argument("--domain", default="banking", help="the CLINC150 domain under review (default banking)")
    parser.add_argument("--events", type=int, default=None, help="logged interactions of the domain (default 800, quick 400)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds of each step (default 20, quick 5)")
    parser.add_argument("--data", default=None, help="CLINC150 folder (default $ADAPTUNE_CLINC150 or ../shared/data/clinc150)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.out = args.out or RESULTS / ("review_quick.json" if args.quick else "review.json")
    rounds = args.rounds or (5 if args.quick else 20)
    load_start = list(os.getloadavg())
    started = time.perf_counter()

    data = clinc150.load(args.data)
    wanted = args.events or (400 if args.quick else 800)
    if args.domain not in data.domains:
        raise SystemExit(f"--domain must be a CLINC150 domain, one of {sorted(data.domains)}; got {args.domain!r}")
    # Traffic of every domain, simulated, then the reviewed domain's share of it (users as before).
    traffic = TrafficConfig(n_users=60, n_events=wanted * 12, n_segments=10, domains_per_segment=1,
                            error_rates={args.domain: 0.6}, seed=7)
    events = [e for e in simulate_clinc_traffic(data, traffic) if e.domain == args.domain][:wanted]
    config = CycleConfig(base_model="minilm-l6", max_domains=1, domains=(args.domain,), min_examples=20)
    config = replace(config, train=replace(config.train, epochs=2 if args.quick else 3))
    with tempfile.TemporaryDirectory(prefix="adaptune-review-bench-") as tmp:
        settings = ServerConfig(db_path=Path(tmp) / "adaptune.duckdb", host="127.0.0.1", port=0, grace_seconds=1.0,
                                adapters_dir=Path(tmp) / "adapters", reports_dir=Path(tmp) / "reports", cycle=config)
        server, port, context = create_server(settings)
        server.start()
        address = f"127.0.0.1:{port}"
        try:
            with AdaptuneClient(address, timeout=600) as client:
                client.wait_ready()
                client.upsert_domain(args.domain, review_policy="required")
                client.log_interactions(events)
                cycle_started = time.perf_counter()
                finished = client.run_cycle()
                cycle_s = time.perf_counter() - cycle_started
                held = client.list_reviews(status="awaiting")
                if len(held) != 1:
                    raise SystemExit(f"expected one held candidate, got {held}; the cycle: {json.dumps(finished.summary, default=str)[:3000]}")
                (review,) = held
                version = review.version
                steps = {
                    "rpc_list": lambda: client.list_reviews(),
                    "rpc_show": lambda: client.get_review(args.domain, version),
                    "cli_list": lambda: cli(address, "list"),
                    "cli_show": lambda: cli(address, "show", args.domain, version),
                }
                times: dict[str, list[float]] = {name: [] for name in STEPS}
                with tqdm(total=rounds * len(STEPS), desc="review round trips") as bar:
                    for r in range(rounds):
                        for name in STEPS[r % len(STEPS):] + STEPS[: r % len(STEPS)]:
                            times[name].append(timed(steps[name]))
                            bar.update()
                _, list_text = cli(address, "list")
                _, show_text = cli(address, "show", args.domain, version)
                approve_s, approve_text = cli(address, "approve", args.domain, version, "--reason", "samples checked")
                champion = [a.version for a in client.list_adapters(args.domain) if a.status == "champion"]
        finally:
            stop_server(server, context, grace=1.0)

    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "quick": args.quick,
        "domain": args.domain,
        "events": len(events),
        "rounds": rounds,
        "cycle_s": cycle_s,
        "cycle_summary": {k: finished.summary.get(k) for k in ("promoted", "awaiting_review", "kept")},
        "review": {"version": version, "change_rate": review.change_rate, "n_test": review.evidence["n_test"],
                   "n_changed": review.evidence["n_changed"], "samples_shown": len(review.evidence["samples"])},
        "median_s": medians,
        "all_s": times,
        "cli_approve_s": approve_s,
        "ratios": {"cli_list_vs_rpc": medians["cli_list"] / medians["rpc_list"],
                   "cli_show_vs_rpc": medians["cli_show"] / medians["rpc_show"]},
        "champion_after_approve": champion,
        "list_text": list_text,
        "show_text": show_text,
        "approve_text": approve_text,
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    png = args.out.with_suffix(".png")
    plot(medians, approve_s, png, f"adaptune review round trips ({rounds} rounds, load {load_start[0]:.1f})")
    print(show_text)
    print(f"median s: {', '.join(f'{k} {v:.3f}' for k, v in medians.items())}; approve {approve_s:.2f} s")
    print(f"wrote {args.out} and {png} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
