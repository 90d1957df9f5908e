"""The nightly cycle on CLINC150 with minilm-l6: tune what matters vs everything vs at random.

Simulated product traffic (``recsys.traffic``): users in a few segments concentrate on a
few domains; the base model (zero-shot classification from the intent names, within the
domain) answers, and wrong answers mostly come back corrected. The same logged traffic
goes through three strategies, each from the same fresh database, through the real cycle
(same training settings, same gate, same commit):

  (a) targeted: the CF-ranked top domains, layers from gradient probes under the budget;
  (b) every domain with enough examples, on all layers;
  (c) random domains (as many as (a) tuned), each with as many random (layer, group)
      targets as (a) adapted per domain, anywhere in the model.

Held-out traffic comes from CLINC150's test queries, sent by the same users with the same
preferences. Weighted accuracy = accuracy over the held-out interactions (so each domain
weighs as much as users hit it), each answered by its domain's champion after the cycle
(zero-shot where none). ``wall_s`` is the cycle's own time (rank, probe, train, gate,
commit; the report's plots excluded), the median of ``--rounds`` runs of each strategy in
rotating order (so a busy spell on a shared machine does not land on one strategy only).
Targets: (a) reaches >= 0.95 of (b)'s weighted accuracy gain in <= 0.5 of its time, and
beats (c).

Writes bench/results/cycle.json (``rows``: strategy, wall_s, trainable_params,
weighted_accuracy_before, weighted_accuracy_after, and more; ``ratios``) and cycle.png.

    .venv/bin/python bench/cycle.py --quick      # a few minutes on two cores
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import legend_outside, save, styled  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from recsys.events.log import append_interactions  # noqa: E402
from recsys.layers import DEFAULT_LAYER_BUDGET  # noqa: E402
from recsys.store import open_database  # noqa: E402
from recsys.traffic import TrafficConfig, make_users, plan_requests, simulate_clinc_traffic  # noqa: E402
from tuner.cycle.config import CycleConfig  # noqa: E402
from tuner.cycle.planning import (  # noqa: E402
    CyclePlan,
    PlanContext,
    RankedDomain,
    count_new_events,
    domain_plan,
    plan_cycle,
    qualify,
    rank_window,
)
from tuner.cycle.running import Workspace, run_cycle  # noqa: E402
from tuner.loading import load_base  # noqa: E402
from tuner.predict import classify  # noqa: E402
from tuner.registry import AdapterRegistry  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_GAIN_RATIO = 0.95
TARGET_TIME_RATIO = 0.5


# -- the strategies (a) uses the cycle's own planner ------------------------------------------


def plan_all(ctx: PlanContext) -> CyclePlan:
    """(b): every domain with enough new labeled examples, on every layer and group."""
    ranker, scores = rank_window(ctx.db, ctx.window)
    ranked, chosen = qualify(ctx, scores, limit=len(scores))
    targets = [(layer, group) for layer in range(ctx.base.num_layers) for group in ctx.config.groups]
    plans = tuple(domain_plan(rank, s.domain, data, targets, 1.0, 1.0) for rank, s, data in chosen)
    return CyclePlan("all", ctx.window, count_new_events(ctx.db, ctx.window), tuple(ranked), plans)


def random_planner(count: int, targets_per_domain: int, seed: int):
    """(c): ``count`` random qualifying domains, each with ``targets_per_domain`` random
    (layer, group) targets anywhere in the model: (a)'s budget in domains and adapted modules."""

    def plan_random(ctx: PlanContext) -> CyclePlan:
        rng = random.Random(seed)
        ranker, scores = rank_window(ctx.db, ctx.window)
        ranked, chosen = qualify(ctx, scores, limit=len(scores))
        picked = rng.sample(chosen, min(count, len(chosen)))
        names = {s.domain for _, s, _ in picked}
        ranked = [RankedDomain(r.score, r.new_examples, r.score.domain in names,
                               "random pick" if r.score.domain in names else r.reason if not r.selected else "not picked")
                  for r in ranked]  # fmt: skip
        pool = [(layer, group) for layer in range(ctx.base.num_layers) for group in ctx.config.groups]
        plans = []
        for rank, s, data in picked:
            targets = rng.sample(pool, min(targets_per_domain, len(pool)))
            plans.append(domain_plan(rank, s.domain, data, targets,
                                     ctx.cost_model.relative(targets, ctx.base.num_layers, len(pool)), 0.0))
        return CyclePlan("random", ctx.window, count_new_events(ctx.db, ctx.window), tuple(ranked), tuple(plans))

    return plan_random


# -- traffic and held-out accuracy ---------------------------------------------------------------


class ZeroShot:
    """The base model's answer within a domain: cosine to the intent names (what errs)."""

    def __init__(self, base, data: clinc150.Clinc150, max_length: int) -> None:
        self.base, self.data, self.max_length = base, data, max_length

    def __call__(self, texts, domain):
        labels = self.data.domains[domain]
        return [p.label for p in classify(self.base, list(texts), labels=labels, batch_size=64, max_length=self.max_length)]


def heldout_requests(data, config: TrafficConfig, users):
    """Who asks what on held-out traffic: CLINC150 test queries, the same users and preferences."""
    return plan_requests(data, replace(config, split="test", seed=config.seed + 1000), users)


def accuracy_by_domain(base, requests, data, registry: AdapterRegistry | None, max_length: int) -> dict[str, tuple[int, int]]:
    """Per domain (correct, total) on held-out requests, each domain served by its champion (or zero-shot)."""
    by_domain: dict[str, list] = defaultdict(list)
    for _, row in requests:
        by_domain[row.domain].append(row)
    out = {}
    for domain, rows in sorted(by_domain.items()):
        champion = registry.champion(domain) if registry is not None else None
        texts = [r.text for r in rows]
        if champion is not None:
            preds = classify(base, texts, registry.load(base, domain), batch_size=64, max_length=max_length)
        else:
            preds = classify(base, texts, labels=data.domains[domain], batch_size=64, max_length=max_length)
        out[domain] = (sum(p.label == r.intent for p, r in zip(preds, rows)), len(rows))
    return out


def weighted(acc: dict[str, tuple[int, int]]) -> float:
    return sum(c for c, _ in acc.values()) / max(sum(n for _, n in acc.values()), 1)


# -- one strategy ----------------------------------------------------------------------------------


def run_strategy(name, planner, template_db: Path, work: Path, base, config: CycleConfig, data, heldout, before):
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shutil.copy(template_db, folder / "adaptune.duckdb")
    db = open_database(folder / "adaptune.duckdb")
    try:
        registry = AdapterRegistry(db, folder / "adapters")
        ws = Workspace(db, registry, base, folder / "reports")
        result = run_cycle(ws, config, planner=planner)
        after = accuracy_by_domain(base, heldout, data, registry, config.train.max_length)
    finally:
        db.close()
    trained = result.outcomes
    return {
        "strategy": name,
        "wall_s": result.summary["seconds"],
        "trainable_params": sum(o.train["trainable_params"] for o in trained),
        "weighted_accuracy_before": weighted(before),
        "weighted_accuracy_after": weighted(after),
        "train_s": sum(o.train["train_seconds"] for o in trained),
        "cached_layers": {o.domain: o.train.get("cached_layers", 0) for o in trained},
        "load_average_after": os.getloadavg()[0],
        "steps": sum(o.train["steps"] for o in trained),
        "domains_trained": [o.domain for o in trained],
        "domains_promoted": [o.domain for o in trained if o.gate.promote],
        "layers": {o.domain: list(o.plan.layers) for o in trained},
        "groups": {o.domain: list(o.plan.groups) for o in trained},
        "accuracy_after_by_domain": {d: c / n for d, (c, n) in after.items()},
        "report": str(result.report),
    }


def ratios(rows: dict) -> dict:
    a, b, c = rows["targeted"], rows["all"], rows["random"]
    gain = {k: r["weighted_accuracy_after"] - r["weighted_accuracy_before"] for k, r in rows.items()}
    gain_ratio = gain["targeted"] / gain["all"] if gain["all"] > 0 else float("nan")
    time_ratio = a["wall_s"] / b["wall_s"]
    return {
        "gain": gain,
        "targeted_vs_all_gain": gain_ratio,
        "targeted_vs_all_time": time_ratio,
        "targeted_vs_all_params": a["trainable_params"] / max(b["trainable_params"], 1),
        "targeted_beats_random": a["weighted_accuracy_after"] > c["weighted_accuracy_after"],
        "meets_gain_target": gain_ratio >= TARGET_GAIN_RATIO,
        "meets_time_target": time_ratio <= TARGET_TIME_RATIO,
    }


@styled()
def plot(rows: dict, share: dict, before_by_domain: dict, path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), layout="constrained")
    names = list(rows)
    ax = axes[0]
    ax.bar(names, [rows[n]["weighted_accuracy_after"] for n in names], color=["tab:green", "tab:blue", "tab:grey"])
    ax.axhline(rows["targeted"]["weighted_accuracy_before"], color="black", ls="--", lw=1, label="before (zero-shot)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("traffic-weighted held-out accuracy")
    legend_outside(ax)
    ax.set_title("accuracy after the cycle")
    ax = axes[1]
    ax.bar(names, [rows[n]["wall_s"] for n in names], color=["tab:green", "tab:blue", "tab:grey"])
    ax.set_ylabel("cycle wall time (s)")
    ax.set_title("time")
    ax = axes[2]
    domains = sorted(share, key=share.get, reverse=True)
    x = range(len(domains))
    ax.bar([i - 0.3 for i in x], [before_by_domain[d] for d in domains], width=0.2, color="black", label="before")
    for offset, name, color in ((-0.1, "targeted", "tab:green"), (0.1, "all", "tab:blue"), (0.3, "random", "tab:grey")):
        ax.bar([i + offset for i in x], [rows[name]["accuracy_after_by_domain"].get(d, 0) for d in domains],
               width=0.2, color=color, label=name)
    ax.set_xticks(list(x), [f"{d}\n{share[d]:.0%}" for d in domains], rotation=45, fontsize=7)
    ax.set_ylabel("held-out accuracy (fraction)")
    ax.set_title("per domain (share of traffic below the name)")
    legend_outside(ax)
    fig.suptitle(title)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small version (a few minutes on two cores)")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default=None, help="CLINC150 folder (default: ../shared/data/clinc150)")
    parser.add_argument("--events", type=int, default=None, help="logged interactions (default 6000, quick 2000)")
    parser.add_argument("--heldout", type=int, default=None, help="held-out interactions (default 3000, quick 1000)")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--segments", type=int, default=2, help="user segments (each prefers its own domains)")
    parser.add_argument("--domains-per-segment", type=int, default=2)
    parser.add_argument("--preference", type=float, default=0.9, help="share of a user's events in its favourite domains")
    parser.add_argument("--max-domains", type=int, default=4, help="domains (a) tunes, and (c) picks")
    parser.add_argument("--budget", type=float, default=DEFAULT_LAYER_BUDGET,
                        help=f"layer budget of (a) and (c) (default: the cycle's, {DEFAULT_LAYER_BUDGET})")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each strategy; wall_s is their median")
    parser.add_argument("--epochs", type=int, default=None, help="default 3, quick 2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/cycle.json, cycle_quick.json with --quick)")
    args = parser.parse_args(argv)
    args.out = args.out or RESULTS / ("cycle_quick.json" if args.quick else "cycle.json")
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    load_start = list(os.getloadavg())
    data = clinc150.load(args.data or clinc150.default_path())
    base = load_base(args.model, "classification")
    n_events = args.events or (2000 if args.quick else 6000)
    n_heldout = args.heldout or (1000 if args.quick else 3000)
    traffic = TrafficConfig(
        n_users=args.users, n_events=n_events, n_segments=args.segments, domains_per_segment=args.domains_per_segment,
        preference_strength=args.preference, seed=args.seed, event_prefix="bench",
    )  # fmt: skip
    config = CycleConfig(base_model=args.model, max_domains=args.max_domains, layer_budget=args.budget, min_examples=20)
    config = replace(config, train=replace(config.train, epochs=args.epochs or (2 if args.quick else 3), seed=args.seed))
    users = make_users(data.domains, traffic)
    answer = ZeroShot(base, data, config.train.max_length)

    print(f"{args.model}: simulating {n_events} interactions ({args.segments} segments x {args.domains_per_segment} "
          f"favourite domains, preference {args.preference}) answered zero-shot ...", flush=True)
    logged = simulate_clinc_traffic(data, traffic, answer=answer, users=users)
    heldout = heldout_requests(data, replace(traffic, n_events=n_heldout), users)
    share = {d: n / len(heldout) for d, n in Counter(row.domain for _, row in heldout).items()}
    errors = sum(e.feedback.value != "positive" for e in logged) / len(logged)
    print(f"  zero-shot error rate in the log {errors:.1%}; held-out share by domain "
          + ", ".join(f"{d} {s:.0%}" for d, s in sorted(share.items(), key=lambda kv: -kv[1])), flush=True)

    work = Path(tempfile.mkdtemp(prefix="adaptune-bench-cycle-"))
    try:
        template = work / "template.duckdb"
        db = open_database(template)
        append_interactions(db, logged)
        db.close()
        before = accuracy_by_domain(base, heldout, data, None, config.train.max_length)
        print(f"  weighted accuracy before: {weighted(before):.4f}", flush=True)
        planners: dict = {"targeted": plan_cycle, "all": plan_all, "random": None}
        names = list(planners)
        rows: dict = {}
        walls: dict[str, list[float]] = defaultdict(list)
        runs = [(r, names[r % len(names):] + names[:r % len(names)]) for r in range(args.rounds)]
        with tqdm(total=args.rounds * len(names), desc="strategy runs") as bar:
            for round_index, order in runs:
                for name in order:
                    if planners[name] is None:  # (c) takes its budget from (a)'s first run
                        targeted = rows["targeted"]
                        per_domain = [len(targeted["layers"][d]) * len(targeted["groups"][d])
                                      for d in targeted["domains_trained"]]
                        planners[name] = random_planner(max(1, len(per_domain)),
                                                        round(sum(per_domain) / max(len(per_domain), 1)) or 1, args.seed)
                    row = run_strategy(name, planners[name], template, work, base, config, data, heldout, before)
                    walls[name].append(row["wall_s"])
                    rows.setdefault(name, row).setdefault("accuracy_after_rounds", []).append(
                        row["weighted_accuracy_after"])
                    bar.update(1)
                    tqdm.write(f"  round {round_index + 1} {name:<9} {row['wall_s']:7.1f} s  {row['trainable_params']:>9,} "
                               f"params  trained {row['domains_trained']} promoted {row['domains_promoted']}  accuracy "
                               f"{row['weighted_accuracy_before']:.4f} -> {row['weighted_accuracy_after']:.4f}  "
                               f"(load {row['load_average_after']:.1f})")
        for name, row in rows.items():
            row["wall_s_rounds"] = walls[name]
            row["wall_s"] = statistics.median(walls[name])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = ratios(rows)
    print(f"\n{'strategy':<10}{'wall_s':>9}{'params':>12}{'acc before':>12}{'acc after':>11}{'gain':>9}{'domains':>9}")
    for name, r in rows.items():
        print(f"{name:<10}{r['wall_s']:>9.1f}{r['trainable_params']:>12,}{r['weighted_accuracy_before']:>12.4f}"
              f"{r['weighted_accuracy_after']:>11.4f}{summary['gain'][name]:>+9.4f}{len(r['domains_trained']):>9}")
    print(f"(a) vs (b): gain x{summary['targeted_vs_all_gain']:.3f} (target >= {TARGET_GAIN_RATIO}), "
          f"time x{summary['targeted_vs_all_time']:.3f} (target <= {TARGET_TIME_RATIO}); "
          f"(a) beats (c): {summary['targeted_beats_random']}")
    png = args.out.with_suffix(".png")
    plot(rows, share, {d: c / n for d, (c, n) in before.items()}, png,
         f"{args.model}: targeted cycle vs all domains x all layers vs random ({n_events} logged, {n_heldout} held out)")
    result = {
        "benchmark": "cycle",
        "model": args.model,
        "quick": args.quick,
        "threads": args.threads,
        "rounds": args.rounds,
        "traffic": {"events": n_events, "heldout": n_heldout, "users": args.users, "segments": args.segments,
                    "domains_per_segment": args.domains_per_segment, "preference": args.preference,
                    "zero_shot_error_rate": errors, "heldout_share": share},
        "config": config.to_json(),
        "rows": list(rows.values()),
        "ratios": summary,
        "targets": {"gain_ratio": TARGET_GAIN_RATIO, "time_ratio": TARGET_TIME_RATIO},
        "seconds": time.perf_counter() - started,
        # The machine is shared: its load while this ran says how much to trust the seconds.
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out} and {png} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
