"""Day after day: does the nightly cycle keep improving one domain with many intents?

D simulated days of CLINC150 traffic into ONE domain (``assistant``) holding K intents
drawn from all 150 (``--intents-seed`` picks which: a second seed is a second, different
domain). Each day users send real CLINC150 training queries (``recsys.traffic``), the
current champion (zero-shot from the intent names before the first one) answers, and
every wrong answer comes back corrected (``--correction-rate R``: only a share R of them
is; the rest come back as negative feedback, which teaches no label). ``--traffic distinct`` (the default) sends each
training query at most once over the whole run, as the issue's trial replayed a real
dataset; ``--traffic repeats`` lets users ask the same query again (drawn with
replacement), which puts copies of trained queries into the cycle's held-out rows.
``--tail-ratio R`` makes the traffic long-tailed: half the intents (drawn by the intents
seed) are asked R times less often than the other half (``recsys.traffic.draw_by_intent``),
as real users ask a few intents all day and many rarely; accuracy is then also reported
on the head's and the tail's held-out rows (``head_accuracy``, ``tail_accuracy``). The
day is logged through gRPC to a real in-process server (real DuckDB file), then one
cycle runs through the server (RunCycle, everything at the server's defaults). After each night: held-out accuracy of the
champion on CLINC150's test queries of those intents, and in the same run the ceiling:
an offline LoRA fine-tune of ALL layers on all the (gold-labeled) data seen so far,
every one of its ``--ceiling-epochs`` epochs run (no early stop), the best pass on
CLINC150's validation queries kept, evaluated on the same held-out rows.

Targets (issue #10): accuracy never falls from one day to the next and rises every day
while more than 1 point under the ceiling; the last day within 1 point of the ceiling;
the last cycle costs at most 1.5x the first at equal daily volume.

``--groups banking credit_cards`` makes the domain all the intents of those CLINC150 domains
instead: intents that sit close (BANKING77-like), where a draw from all 150 mixes far apart
ones; ``--intents-seeds`` then changes only the traffic.

``--data`` may instead name a folder of your own labeled queries (``train.csv`` and
``test.csv``, ``val.csv`` optional; ``recsys.datasets.intent_csv``): the same days on
your own intents, e.g. all 77 of BANKING77 with ``--intents 77``.

Writes bench/results/days.json (``--quick``: days_quick.json) with ``rows`` per split
(``day``, ``new_events``, ``accuracy``, ``ceiling_accuracy``, ``cycle_s``,
``trained_examples``, ``decision``) and days.png.

    ADAPTUNE_CLINC150=/work/shared/data/clinc150 .venv/bin/python bench/days.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import legend_outside, save, styled  # noqa: E402
import torch  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from recsys.datasets.intents import load_intents  # noqa: E402
from recsys.traffic import TrafficConfig, draw_by_intent, simulate_clinc_traffic  # noqa: E402
from server.app import create_server, stop_server  # noqa: E402
from server.client import AdaptuneClient  # noqa: E402
from server.config import ServerConfig  # noqa: E402
from tuner.config import SCHEDULES, TrainConfig  # noqa: E402
from tuner.cycle.config import CycleConfig, default_train_config  # noqa: E402
from tuner.data import Example  # noqa: E402
from tuner.loading import load_base  # noqa: E402
from tuner.predict import classify  # noqa: E402
from tuner.registry import AdapterRegistry  # noqa: E402
from tuner.training import train_adapter  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DOMAIN = "assistant"


def domain_subset(data: clinc150.Clinc150, count: int, seed: int) -> clinc150.Clinc150:
    """``count`` intents drawn from all the set's (seeded), as one domain."""
    intents = sorted(random.Random(seed).sample(sorted({r.intent for r in data.train}), count))
    keep = set(intents)

    def rows(split):
        return [clinc150.LabeledText(r.text, r.intent, DOMAIN) for r in split if r.intent in keep]

    return clinc150.Clinc150({DOMAIN: intents}, rows(data.train), rows(data.val), rows(data.test))


def only_groups(data: clinc150.Clinc150, groups: list[str]) -> clinc150.Clinc150:
    """CLINC150 cut to the intents of ``groups`` (its domains): a domain of intents that sit close,
    such as banking's and credit cards', where ``--intents`` draws them from everywhere."""
    unknown = [group for group in groups if group not in data.domains]
    if unknown:
        raise ValueError(f"--groups: {', '.join(unknown)} not among CLINC150's domains ({', '.join(sorted(data.domains))})")
    keep = {intent for group in groups for intent in data.domains[group]}

    def rows(split):
        return [row for row in split if row.intent in keep]

    return clinc150.Clinc150({group: data.domains[group] for group in groups}, rows(data.train), rows(data.val),
                             rows(data.test))


def unasked(subset: clinc150.Clinc150, asked: Counter) -> clinc150.Clinc150:
    """``subset`` without the training queries already sent (each copy of a text counts once)."""
    left = Counter(asked)
    train = []
    for row in subset.train:
        if left[(row.text, row.intent)] > 0:
            left[(row.text, row.intent)] -= 1
        else:
            train.append(row)
    return clinc150.Clinc150(subset.domains, train, subset.val, subset.test)


def gold_labels(pool: clinc150.Clinc150, events) -> list[str]:
    """Each event's true intent: its correction, its answer when right, else the pool's label of its
    query (an uncorrected wrong answer carries none)."""
    intent_of = {row.text: row.intent for row in pool.train}
    return [e.correction or (e.model_output if e.feedback.value == "positive" else intent_of[e.input_text])
            for e in events]


def tail_intents(labels: list[str], seed: int) -> frozenset[str]:
    """The rarely asked half of ``labels`` under ``--tail-ratio`` (seeded, so a rerun asks the same)."""
    return frozenset(random.Random(seed * 7919 + 17).sample(sorted(labels), len(labels) // 2))


def day_pool(pool: clinc150.Clinc150, per_day: int, tail: frozenset[str], tail_ratio: float, seed: int) -> clinc150.Clinc150:
    """The day's queries at long-tail rates: a tail intent is asked ``tail_ratio`` times less often."""
    labels = pool.domains[DOMAIN]
    rates = {intent: (1.0 / tail_ratio if intent in tail else 1.0) for intent in labels}
    rows = draw_by_intent(pool.train, per_day, rates, random.Random(seed))
    return clinc150.Clinc150(pool.domains, rows, pool.val, pool.test)


def per_intent(rows, limit: int | None):
    """The first ``limit`` rows of each intent (all when None)."""
    taken: dict[str, int] = {}
    kept = []
    for row in rows:
        if limit is None or taken.get(row.intent, 0) < limit:
            taken[row.intent] = taken.get(row.intent, 0) + 1
            kept.append(row)
    return kept


def share_right(base, rows, adapter, max_length: int, labels=None) -> float:
    """How many of ``rows`` the adapter (zero-shot over ``labels`` when None) labels right."""
    preds = classify(base, [r.text for r in rows], adapter, labels=labels, batch_size=64, max_length=max_length)
    return sum(p.label == r.intent for p, r in zip(preds, rows)) / len(rows)


def accuracy(base, rows, registry: AdapterRegistry, labels, max_length: int) -> float:
    """The domain's champion (zero-shot over ``labels`` without one) on ``rows``."""
    if registry.champion(DOMAIN) is None:
        return share_right(base, rows, None, max_length, labels)
    return share_right(base, rows, registry.load(base, DOMAIN), max_length)


def candidate_accuracy(base, rows, registry: AdapterRegistry, version: str, max_length: int) -> float:
    """A kept (not promoted) candidate on the same held-out rows: did the gate turn down a better model?"""
    return share_right(base, rows, registry.load(base, DOMAIN, version), max_length)


def ceiling(base, seen, subset, heldout, train: TrainConfig) -> tuple[float, float]:
    """All layers, all data seen so far (gold labels), selected on CLINC's validation queries."""
    examples = [Example(f"c{i}", r.text, r.intent, DOMAIN) for i, r in enumerate(seen)]
    # Every other validation query (10 per intent): enough to select on, half the evaluation cost.
    validation = [Example(f"v{i}", r.text, r.intent, DOMAIN) for i, r in enumerate(subset.val[::2])]
    started = time.perf_counter()
    result = train_adapter(base, examples, validation, layers=list(range(base.num_layers)), config=train,
                           labels=subset.domains[DOMAIN])
    seconds = time.perf_counter() - started
    return share_right(base, heldout, result.adapter, train.max_length), seconds


# The ceiling's head rate: the cycle's default until the cycle's head moved to 5e-4; kept, so
# ceilings trained before and after that change are the same reference.
CEILING_HEAD_LR = 5e-3


def cycle_config(args) -> CycleConfig:
    """The server's defaults, but for what an ablation overrides."""
    cycle = CycleConfig(base_model=args.model)
    if args.label_smoothing is not None:
        cycle = replace(cycle, train=replace(cycle.train, label_smoothing=args.label_smoothing))
    if args.continue_label_smoothing is not None:
        cycle = replace(cycle, continue_label_smoothing=args.continue_label_smoothing)
    if args.replay_ratio is not None:
        cycle = replace(cycle, replay_ratio=None if args.replay_ratio < 0 else args.replay_ratio)
    if args.cold_start_patience:
        cycle = replace(cycle, cold_start_all_epochs=False)
    if args.min_epochs is not None:  # a cold start's too: it no longer runs all its epochs
        cycle = replace(cycle, cold_start_all_epochs=False, train=replace(cycle.train, min_epochs=args.min_epochs))
    if args.no_imprint:
        cycle = replace(cycle, train=replace(cycle.train, imprint_new_labels=False))
    if args.head_lr is not None:  # the cold start's; a continued candidate scales it (continue_lr_scale)
        cycle = replace(cycle, train=replace(cycle.train, head_lr=args.head_lr))
    if args.schedule is not None:
        cycle = replace(cycle, train=replace(cycle.train, schedule=args.schedule, warmup=args.warmup))
    if args.no_spread_replay:
        cycle = replace(cycle, spread_replay=False)
    if args.no_escalation:
        cycle = replace(cycle, escalation_max_level=0)
    if args.escalation_error_rate is not None:
        cycle = replace(cycle, escalation_error_rate=args.escalation_error_rate)
    if args.keep_start:
        cycle = replace(cycle, continue_select_start=True)
    if args.eval_share is not None:
        cycle = replace(cycle, train=replace(cycle.train, eval_share=args.eval_share))
    if args.continue_lr_scale is not None:
        cycle = replace(cycle, continue_lr_scale=args.continue_lr_scale)
    if args.continue_epochs is not None:
        cycle = replace(cycle, continue_epochs=args.continue_epochs)
    if args.max_length is not None:
        cycle = replace(cycle, train=replace(cycle.train, max_length=args.max_length))
    if args.layer_budget is not None:
        cycle = replace(cycle, layer_budget=args.layer_budget)
    if args.continue_significance is not None:  # negative: the significance, as for any candidate
        cycle = replace(cycle, continue_significance=None if args.continue_significance < 0 else args.continue_significance)
    if args.no_anchor_evidence:
        cycle = replace(cycle, anchor_evidence=False)
    if getattr(args, "no_rejections", False):
        cycle = replace(cycle, learn_from_rejections=False)
    return cycle


def run_split(args, data, base, intents_seed: int, work: Path, save=lambda split: None) -> dict:
    """One domain's days; ``save(partial)`` is called after every day (a long run keeps what it measured)."""
    subset = domain_subset(data, args.intents, intents_seed)
    labels = subset.domains[DOMAIN]
    heldout = per_intent(subset.test, args.heldout_per_intent)
    tail = tail_intents(labels, intents_seed) if args.tail_ratio else frozenset()
    groups = {"head": [r for r in heldout if r.intent not in tail], "tail": [r for r in heldout if r.intent in tail]}
    folder = work / f"split-{intents_seed}"
    cycle = cycle_config(args)
    config = ServerConfig(db_path=folder / "adaptune.duckdb", host="127.0.0.1", port=0, grace_seconds=1.0,
                          adapters_dir=folder / "adapters", reports_dir=folder / "reports", cycle=cycle)
    # Every epoch runs (patience 0), the best validation pass kept: a ceiling stopped early is no ceiling.
    # From the default training settings, so no ablation of the cycle moves the ceiling it is judged against,
    # with its head at the rate every stored ceiling was trained at (CEILING_HEAD_LR), whatever the cycle's default.
    ceiling_train = replace(default_train_config(), epochs=args.ceiling_epochs, label_smoothing=0.0, seed=args.seed,
                            patience=0, head_lr=CEILING_HEAD_LR)
    # Answers (the traffic's and the held-out ones) are cut as the server's Predict cuts them;
    # --max-length changes only what training sees, as a cycle config would.
    answer_length = config.serving.max_length
    server, port, context = create_server(config)
    server.start()
    registry = AdapterRegistry(context.db, config.adapters_dir)
    rows, seen = [], []
    asked: Counter = Counter()  # (text, intent) already sent, for --traffic distinct
    try:
        with AdaptuneClient(f"127.0.0.1:{port}", timeout=3600) as client:
            client.wait_ready(timeout=30)
            def measured() -> dict:
                """Held-out accuracy; under --tail-ratio also the head's and the tail's (the overall from both)."""
                if not tail:
                    return {"accuracy": accuracy(base, heldout, registry, labels, answer_length)}
                parts = {name: accuracy(base, part, registry, labels, answer_length) for name, part in groups.items()}
                overall = sum(parts[name] * len(part) for name, part in groups.items()) / len(heldout)
                return {"accuracy": overall, **{f"{name}_accuracy": value for name, value in parts.items()}}

            first = measured()
            zero = first["accuracy"]
            rows.append({"day": 0, "new_events": 0, **first, "ceiling_accuracy": None, "cycle_s": None,
                         "trained_examples": 0, "decision": "base (zero-shot)"})
            print(f"[intents seed {intents_seed}] {len(labels)} intents, {len(heldout)} held-out rows; "
                  f"day 0 zero-shot {zero:.4f}", flush=True)
            for day in range(1, args.days + 1):
                def answer(texts, domain):
                    champion = registry.champion(DOMAIN)
                    adapter = registry.load(base, DOMAIN) if champion else None
                    return [p.label for p in classify(base, list(texts), adapter, labels=None if adapter else labels,
                                                      batch_size=64, max_length=answer_length)]

                traffic = TrafficConfig(
                    n_users=200, n_events=args.per_day, n_segments=1, domains_per_segment=1,
                    correction_rate=args.correction_rate,
                    seed=args.seed * 1000 + intents_seed * 100 + day, event_prefix=f"s{intents_seed}d{day}",
                    start=TrafficConfig().start + timedelta(days=day), span=timedelta(hours=20),
                    repeat_queries=args.traffic == "repeats",
                )  # fmt: skip
                pool = unasked(subset, asked) if args.traffic == "distinct" else subset
                if tail:
                    pool = day_pool(pool, args.per_day, tail, args.tail_ratio, traffic.seed)
                events = simulate_clinc_traffic(pool, traffic, answer=answer)
                gold = gold_labels(pool, events)
                asked.update(zip((e.input_text for e in events), gold))
                errors = sum(e.feedback.value != "positive" for e in events) / len(events)
                uncorrected = sum(e.feedback.value == "negative" for e in events)
                logged = client.log_interactions(events)
                # The ceiling learns every query with its true intent, corrected by the user or not.
                seen += [clinc150.LabeledText(e.input_text, label, DOMAIN) for e, label in zip(events, gold)]
                started = time.perf_counter()
                finished = client.run_cycle()
                cycle_s = time.perf_counter() - started
                outcome = next((d for d in finished.summary.get("domains", []) if d["domain"] == DOMAIN), None)
                scores = measured()
                acc = scores["accuracy"]
                top, ceiling_s = None, None
                if args.ceiling_days == "all" or (args.ceiling_days == "last" and day == args.days):
                    top, ceiling_s = ceiling(base, seen, subset, heldout, ceiling_train)
                decision, kept_candidate = "not tuned", None
                if outcome is not None and outcome["gate"]["decision"] != "promote":
                    kept_candidate = candidate_accuracy(base, heldout, registry, outcome["version"],
                                                        answer_length)
                if outcome is not None:
                    gate = outcome["gate"]
                    decision = (f"{outcome['version']} {gate['decision']} (gain {gate['gain']:+.4f}); "
                                f"{outcome['train']['why_stopped']}")
                row = {
                    "day": day, "new_events": logged.accepted, "error_rate": errors, "uncorrected": uncorrected, **scores,
                    "ceiling_accuracy": top, "cycle_s": cycle_s, "ceiling_s": ceiling_s,
                    "kept_candidate_accuracy": kept_candidate,
                    "trained_examples": outcome["train"]["examples"] if outcome else 0,
                    # Seconds spent in training steps (the rest of cycle_s: probes, evaluations, the gate).
                    "train_s": outcome["train"].get("train_seconds") if outcome else None,
                    # The domain's whole job (train, gate, stage) and the gate's share; the rest is planning.
                    "job_s": outcome.get("seconds") if outcome else None,
                    "gate_s": outcome["train"].get("gate_seconds") if outcome else None,
                    # Validation passes during training: their seconds and count (step 0 included).
                    "eval_s": outcome["train"].get("eval_seconds") if outcome else None,
                    "evals": outcome["train"].get("evals") if outcome else None,
                    # Rows the candidate won / lost against the champion and the sign test's p.
                    "gate_paired": outcome["gate"].get("paired") if outcome else None,
                    # The sign test's level it took: continue_significance when it continued the champion.
                    "gate_significance": outcome["gate"].get("significance") if outcome else None,
                    # Corrected rows' weight when some wrong answers went uncorrected (tuner.cycle.reweighting).
                    "gate_weighting": outcome["gate"].get("weighting") if outcome else None,
                    # Promoted and proven (not only at continue_significance); the anchor comparison, if one ran.
                    "gate_proven": outcome["gate"].get("proven") if outcome else None,
                    "gate_anchor": outcome["gate"].get("anchor") if outcome else None,
                    "replay": outcome.get("replay") if outcome else None,
                    "layers": outcome["layers"] if outcome else None,
                    "decision": decision,
                }  # fmt: skip
                rows.append(row)
                save({"intents_seed": intents_seed, "intents": labels, "heldout": len(heldout), "rows": rows,
                      "tail_intents": sorted(tail)})
                print(f"  day {day}: {logged.accepted} events ({errors:.1%} wrong), cycle {cycle_s:.1f}s on "
                      f"{row['trained_examples']} examples, accuracy {acc:.4f}"
                      + (f" (head {scores['head_accuracy']:.4f}, tail {scores['tail_accuracy']:.4f})" if tail else "")
                      + f" (ceiling {top}; kept candidate "
                      f"{kept_candidate}); {decision}", flush=True)
    finally:
        stop_server(server, context, grace=1.0)
    return {"intents_seed": intents_seed, "intents": labels, "heldout": len(heldout), "rows": rows,
            "tail_intents": sorted(tail), "targets": targets(rows)}


def gap(ceiling: float, accuracy: float) -> float:
    """How far under the ceiling, rounded so that 12 rows in 1,200 is exactly 1 point (not 1.0000000000000009)."""
    return round(ceiling - accuracy, 9)


def targets(rows: list[dict]) -> dict:
    """The issue's four targets, checked on one split's rows."""
    days = [r for r in rows if r["day"] > 0]
    pairs = list(zip(rows, rows[1:]))
    never_falls = all(b["accuracy"] >= a["accuracy"] for a, b in pairs)
    # A day without its own ceiling (--ceiling-days last) is held to the last day's; without
    # any (--ceiling-days none) the ceiling targets are not measured (None).
    final = days[-1]["ceiling_accuracy"]
    rises_while_under = None if final is None else all(
        b["accuracy"] > a["accuracy"] for a, b in pairs
        if a["day"] > 0 and gap(a["ceiling_accuracy"] if a["ceiling_accuracy"] is not None else final, a["accuracy"]) > 0.01
    )
    last = days[-1]
    last_gap = None if final is None else gap(final, last["accuracy"])
    cost_ratio = last["cycle_s"] / days[0]["cycle_s"]
    return {
        "never_falls": never_falls,
        "rises_while_more_than_1pt_under_ceiling": rises_while_under,
        "last_gap_to_ceiling": last_gap,
        "last_within_1pt_of_ceiling": None if last_gap is None else last_gap <= 0.01,
        "last_over_first_cycle_s": cost_ratio,
        "cost_within_1.5x": cost_ratio <= 1.5,
    }


@styled()
def plot(splits: list[dict], path: Path, title: str) -> None:
    # Side by side for a domain or two; with more (ablation arms) their long legends need the width: one above the other.
    shape, size = ((1, 2), (12, 4)) if len(splits) <= 2 else ((2, 1), (12, 8))
    fig, (left, right) = plt.subplots(*shape, figsize=size, layout="constrained")
    for index, split in enumerate(splits):
        color = f"C{index}"
        rows = split["rows"]
        label = split.get("label") or f"intents seed {split['intents_seed']}"
        left.plot([r["day"] for r in rows], [r["accuracy"] for r in rows], "o-", color=color, label=f"{label}: cycle")
        tops = [r for r in rows if r["ceiling_accuracy"] is not None]
        if tops:  # no legend entry for a ceiling that was not trained
            left.plot([r["day"] for r in tops], [r["ceiling_accuracy"] for r in tops], "s--", color=color,
                      label=f"{label}: ceiling (all layers, all data)")
        days = [r for r in rows if r["cycle_s"] is not None]
        width = 0.8 / len(splits)  # the splits' bars side by side within each day
        right.bar([r["day"] + (index - (len(splits) - 1) / 2) * width for r in days], [r["cycle_s"] for r in days],
                  width=width, color=color, label=label)
    left.set_xlabel("day")
    left.set_ylabel("held-out accuracy (fraction, 0-1)")
    legend_outside(left, fontsize=7)
    left.set_title(title, fontsize=9)
    right.set_xlabel("day")
    right.set_ylabel("cycle wall time (s)")
    legend_outside(right, fontsize=7)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 days, fewer intents and events")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default=None,
                        help="CLINC150 folder, or your own intent set: train.csv and test.csv (val.csv optional) with "
                             "text and label columns (default: $ADAPTUNE_CLINC150 or ../shared/data/clinc150)")
    parser.add_argument("--days", type=int, default=None, help="default 5, quick 3")
    parser.add_argument("--intents", type=int, default=None, help="intents in the domain (default 40, quick 20)")
    parser.add_argument("--groups", nargs="+", default=None,
                        help="CLINC150 domains whose intents, all of them, make the one domain (e.g. banking "
                             "credit_cards: intents that sit close); replaces drawing --intents from all 150")
    parser.add_argument("--per-day", type=int, default=None, help="events per day (default 600, quick 200)")
    parser.add_argument("--intents-seeds", type=int, nargs="+", default=[0, 1],
                        help="one domain per seed: which intents it holds")
    parser.add_argument("--traffic", choices=("distinct", "repeats"), default="distinct",
                        help="each training query asked at most once over the run, or drawn with replacement")
    parser.add_argument("--tail-ratio", type=float, default=None,
                        help="long-tail traffic: half the intents asked this many times less often (default: all alike)")
    parser.add_argument("--correction-rate", type=float, default=1.0,
                        help="share of wrong answers users correct (default 1.0, the issue's trial); the rest "
                             "come back as negative feedback")
    parser.add_argument("--no-rejections", action="store_true",
                        help="ablation: do not train on answers users rejected without a correction")
    parser.add_argument("--ceiling-epochs", type=int, default=3)
    parser.add_argument("--ceiling-days", choices=("all", "last", "none"), default="all",
                        help="train the ceiling after every day, only after the last (a busy machine), or never "
                             "(an ablation that compares accuracies only)")
    parser.add_argument("--heldout-per-intent", type=int, default=None,
                        help="held-out test queries per intent (default: all 30)")
    parser.add_argument("--label-smoothing", type=float, default=None, help="ablation (default: the cycle's)")
    parser.add_argument("--continue-label-smoothing", type=float, default=None,
                        help="ablation: a warm-started candidate's label smoothing (default: the cycle's)")
    parser.add_argument("--head-lr", type=float, default=None,
                        help="ablation: the head's learning rate (default: the cycle's, 5e-4)")
    parser.add_argument("--no-imprint", action="store_true",
                        help="ablation: a new head's rows start from the label names, not imprinted from examples")
    parser.add_argument("--cold-start-patience", action="store_true",
                        help="ablation: patience may stop a cold start after train.min_epochs (default: it runs all its epochs)")
    parser.add_argument("--min-epochs", type=float, default=None,
                        help="ablation: passes before patience may stop a candidate (default: the cycle's)")
    parser.add_argument("--schedule", choices=SCHEDULES, default=None,
                        help="ablation: a cold start's learning-rate schedule (default: the cycle's; the ceiling keeps the default)")
    parser.add_argument("--warmup", type=float, default=0.0, help="with --schedule: its warmup share of the steps")
    parser.add_argument("--continue-lr-scale", type=float, default=None,
                        help="ablation: a warm-started candidate's rates x this (default: the cycle's)")
    parser.add_argument("--continue-epochs", type=int, default=None,
                        help="ablation: a warm-started candidate's passes, all run (0: the cold start's epochs "
                             "and patience; default: the cycle's)")
    parser.add_argument("--no-spread-replay", action="store_true",
                        help="ablation: a continued candidate's every pass covers its replayed rows too")
    parser.add_argument("--no-escalation", action="store_true",
                        help="ablation: never widen a stuck domain's target (escalation_max_level 0)")
    parser.add_argument("--escalation-error-rate", type=float, default=None,
                        help="ablation: the error rate a stuck domain must still err at to be widened "
                             "(default: the cycle's)")
    parser.add_argument("--keep-start", action="store_true",
                        help="ablation: a continued candidate may keep its start (step 0) as its best checkpoint")
    parser.add_argument("--eval-share", type=float, default=None,
                        help="ablation: validation rows scored per training row, at most (default: the cycle's)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="ablation: tokens a training input keeps (default: the cycle's); answers keep the serving cut")
    parser.add_argument("--layer-budget", type=float, default=None,
                        help="ablation: the cycle's layer budget, a fraction of adapting every layer (default: the cycle's)")
    parser.add_argument("--continue-significance", type=float, default=None,
                        help="ablation: the sign test's level for a candidate that continues the champion "
                             "(default: the cycle's; negative: the significance, as for any candidate)")
    parser.add_argument("--no-anchor-evidence", action="store_true",
                        help="ablation: a continuation kept out by too small a gain is not judged again against "
                             "the last proven champion of its line")
    parser.add_argument("--replay-ratio", type=float, default=None,
                        help="ablation (default: the cycle's; negative: retrain on the whole history)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--chains", action="store_true",
                        help="also the transfer-chain table (bench/chains.py) on the same base, as `chains` in the JSON")
    parser.add_argument("--chains-json", type=Path, default=None,
                        help="put the rows of a bench/chains.py JSON written earlier in `chains` instead of rerunning it")
    args = parser.parse_args(argv)
    args.days = args.days or (3 if args.quick else 5)
    if args.groups and args.intents is not None:
        parser.error("--groups sets the intents (all of those domains'); leave out --intents")
    args.intents = args.intents or (20 if args.quick else 40)
    args.per_day = args.per_day or (200 if args.quick else 600)
    out = args.out or RESULTS / ("days_quick.json" if args.quick else "days.json")
    for name in ("days", "intents", "per_day", "ceiling_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.head_lr is not None and not 0 < args.head_lr < 1:
        parser.error(f"--head-lr must be in (0, 1), got {args.head_lr}")
    if args.max_length is not None and args.max_length < 1:
        parser.error(f"--max-length must be >= 1, got {args.max_length}")
    if args.continue_significance is not None and args.continue_significance >= 1:
        parser.error(f"--continue-significance must be under 1, got {args.continue_significance}")
    if args.layer_budget is not None and not 0 < args.layer_budget <= 1:
        parser.error(f"--layer-budget must be in (0, 1], got {args.layer_budget}")
    if args.escalation_error_rate is not None and not 0 <= args.escalation_error_rate <= 1:
        parser.error(f"--escalation-error-rate must be in [0, 1], got {args.escalation_error_rate}")
    if args.tail_ratio is not None and not 1.0 <= args.tail_ratio < float("inf"):
        parser.error(f"--tail-ratio must be a finite number >= 1, got {args.tail_ratio}")
    if args.tail_ratio is not None and args.traffic != "distinct":
        parser.error("--tail-ratio draws each day's distinct queries; it needs --traffic distinct")
    if not 0.0 < args.correction_rate <= 1.0:
        parser.error(f"--correction-rate must be in (0, 1], got {args.correction_rate}")
    if args.warmup and args.schedule is None:
        parser.error("--warmup shapes the --schedule ablation; give --schedule too")
    if not 0.0 <= args.warmup < 1.0:
        parser.error(f"--warmup must be in [0, 1), got {args.warmup}")

    torch.set_num_threads(args.threads)
    load_start = list(os.getloadavg())
    started = time.perf_counter()
    folder = args.data or clinc150.default_path()
    data = load_intents(folder)
    is_clinc = clinc150.available(folder)
    if args.groups:
        if not is_clinc:
            parser.error("--groups names CLINC150's domains; --data holds another set")
        try:
            data = only_groups(data, args.groups)
        except ValueError as error:
            parser.error(str(error))
    # What the JSON calls the data: clinc150, or the CSV set's one domain (its folder's name).
    args.dataset = "clinc150" if is_clinc else next(iter(data.domains))
    available = len({row.intent for row in data.train})
    if args.groups:
        args.intents = available  # every intent of those groups
    if args.intents > available:
        parser.error(f"--intents {args.intents}: {args.dataset} has {available} intents")
    if args.chains and not is_clinc:
        parser.error("--chains needs CLINC150 (its domains make the parent/child pairs); --data holds another set")
    if args.traffic == "distinct":  # found now, not on the day the queries run out
        wanted = args.per_day * args.days
        for seed in args.intents_seeds:
            held = len(domain_subset(data, args.intents, seed).train)
            if wanted > held:
                parser.error(f"--per-day {args.per_day} x --days {args.days} = {wanted} distinct queries, but the "
                             f"{args.intents} intents of --intents-seeds {seed} hold {held} training queries; "
                             "lower --per-day or --days, or use --traffic repeats")
    base = load_base(args.model, "classification")
    work = Path(tempfile.mkdtemp(prefix="adaptune-bench-days-"))
    splits: list[dict] = []
    chains: list[dict] = []
    if args.chains_json is not None:
        chains.extend(json.loads(args.chains_json.read_text())["rows"])

    def save(partial: dict | None = None, complete: bool = False) -> dict:
        result = summary(args, [*splits, *([partial] if partial else [])], started, load_start, complete)
        if chains:
            result["chains"] = chains
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        plot(result["splits"], out.with_suffix(".png"), f"{args.model}: {args.intents} intents, {args.per_day} events/day")
        return result

    try:
        for seed in args.intents_seeds:
            splits.append(run_split(args, data, base, seed, work, save))
        if args.chains:
            from bench.chains import run_chains

            chains.extend(run_chains(model=args.model, data_path=args.data, quick=args.quick, base=base))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save(complete=True)
    for split in splits:
        print(f"intents seed {split['intents_seed']}: {json.dumps(split['targets'])}")
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def summary(args, splits: list[dict], started: float, load_start: list[float], complete: bool) -> dict:
    """The JSON written (after every day, so an interrupted run keeps what it measured)."""
    return {
        "benchmark": "days",
        "dataset": getattr(args, "dataset", "clinc150"),
        "quick": args.quick,
        "model": args.model,
        "days": args.days,
        "intents": args.intents,
        "groups": getattr(args, "groups", None),
        "per_day": args.per_day,
        "traffic": args.traffic,
        "tail_ratio": getattr(args, "tail_ratio", None),
        "correction_rate": getattr(args, "correction_rate", 1.0),
        "ceiling_days": args.ceiling_days,
        "ceiling_epochs": args.ceiling_epochs,
        "heldout_per_intent": args.heldout_per_intent,
        "cycle_config": cycle_config(args).to_json(),
        "splits": splits,
        "rows": splits[0]["rows"] if splits else [],
        "complete": complete,
        "wall_s": time.perf_counter() - started,
        "threads": args.threads,
        "load_average_start": load_start,
        "load_average_end": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    raise SystemExit(main())
