"""Transfer chains that pay: a few-shot child domain warm-started from its parent.

A parent domain has plenty of data; a new child (a new tenant, a sub-product) shares most
of its parent's labels, adds a few of its own, and has only 5, 10 or 25 examples per
label. For each child size, side by side on the same examples and test rows:

- ``scratch``: a fresh adapter trained on the child's examples;
- ``parent_as_is``: the parent's adapter with a head over the child's labels (the
  parent's rows for the labels it knows, the label-name embedding for the others),
  not trained: what the child gets before it has a single example;
- ``warm_start``: the parent's adapter, the rows of labels the parent lacks imprinted
  from the child's examples (``tuner.inheritance``), trained on them as a child trains
  (``tuner.chains.child_config``: LoRA and head at a tenth of their rates);
- ``warm_start_parent_lr``: the same at the from-scratch rates (LoRA and head): the
  ablation that shows what the lower rates buy;
- ``full_data``: scratch on all the child's training rows (about 50 per label),
  selected on CLINC's validation queries: roughly what any start can reach, so
  ``full_data - scratch`` is the room a warm start has.

Each trains with the settings a cycle would give it (``chains_configs``: the cycle's
defaults, the continuing schedule for a warm start), so the gain is the one a user gets.

The parent trains on all its intents and is selected on validation accuracy, as a
cycle's champion is; the child's queries are never the parent's (``split_pool``: each
child label's training rows halved, the parent trains on one half, the child draws from
the other). Pair sets (``--pairs``): ``rotation`` (default) makes every CLINC150
domain group a parent, its child 10 of its intents plus 5 of the next group's, so no pair
is chosen for how it turns out; ``tenant`` gives 30-label children of two-group parents;
``small`` the two 15-label pairs measured first. Each child size is averaged over
several samplings of the child's examples. Target: warm start beats scratch by >= 3
points at 5 and 10 examples per label on every pair; ``verdict`` also says, per size, on
how many pairs it does, the mean gain, and how it does where the data leaves room.

``run_chains(...)`` returns the rows (``pair``, ``per_label``, ``scratch``,
``parent_as_is``, ``warm_start``, ``full_data``, ``by_labels``, ...); ``bench/days.py
--chains`` (or ``--chains-json``) puts them in ``days.json``.

    .venv/bin/python bench/chains.py --sizes 5,10 --threads 1   # bench/results/chains.json
    .venv/bin/python bench/chains.py --quick --pairs small      # bench/results/chains_small_quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from tuner.adapters import save_adapter  # noqa: E402
from tuner.chains import child_config  # noqa: E402
from tuner.config import TrainConfig  # noqa: E402
from tuner.cycle.config import CycleConfig, default_train_config  # noqa: E402
from tuner.data import Example  # noqa: E402
from tuner.evaluation import evaluate  # noqa: E402
from tuner.loading import BaseModel, load_base  # noqa: E402
from tuner.predict import classify  # noqa: E402
from tuner.targeting import prepare_adapter  # noqa: E402
from tuner.training import train_adapter  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_GAIN = 0.03
TARGET_SIZES = (5, 10)


@dataclass(frozen=True)
class ChainPair:
    """A parent made of CLINC domains and a child: ``shared`` of the parent's intents plus ``new`` ones."""

    name: str
    parent: tuple[str, ...]
    shared: int
    new_from: str
    new: int

    @property
    def parent_name(self) -> str:
        return "+".join(self.parent)


# A tenant of a product: 30 labels, two thirds of them its parent's, a third its own.
TENANT_PAIRS = (
    ChainPair("finance>payroll", parent=("banking", "credit_cards"), shared=20, new_from="work", new=10),
    ChainPair("home>kitchen", parent=("home", "utility"), shared=20, new_from="kitchen_and_dining", new=10),
)
# Small children (15 labels): scratch is already within a few points of what any
# start reaches, so they show where warm start has little left to add (--small).
SMALL_PAIRS = (
    ChainPair("banking>cards", parent=("banking",), shared=10, new_from="credit_cards", new=5),
    ChainPair("home>utility", parent=("home",), shared=10, new_from="utility", new=5),
)


# Every CLINC domain group as a parent, its child's new labels from the next group: no
# pair chosen for how it turns out (--pairs rotation).
CLINC_DOMAINS = ("banking", "credit_cards", "kitchen_and_dining", "home", "auto_and_commute", "travel", "utility",
                 "work", "small_talk", "meta")
ROTATION_PAIRS = tuple(
    ChainPair(f"{parent}>{child}", parent=(parent,), shared=10, new_from=child, new=5)
    for parent, child in zip(CLINC_DOMAINS, CLINC_DOMAINS[1:] + CLINC_DOMAINS[:1])
)
PAIR_SETS = {"rotation": ROTATION_PAIRS, "tenant": TENANT_PAIRS, "small": SMALL_PAIRS}


def select_pairs(pair_set: str, only: str | None) -> tuple[ChainPair, ...]:
    """The pairs of ``pair_set`` named in ``only`` (comma-separated; None: all of them)."""
    pairs = PAIR_SETS[pair_set]
    if not only:
        return pairs
    wanted = only.split(",")
    unknown = sorted(set(wanted) - {p.name for p in pairs})
    if unknown:
        raise ValueError(f"--only: no pair {unknown} in --pairs {pair_set}")
    return tuple(p for p in pairs if p.name in wanted)


def _parent_intents(data: clinc150.Clinc150, pair: ChainPair) -> set[str]:
    return {intent for domain in pair.parent for intent in data.domains[domain]}


def _examples(rows: list[clinc150.LabeledText], intents: set[str], split: str, domain: str) -> list[Example]:
    return [Example(f"{split}-{i}", r.text, r.intent, domain=domain) for i, r in enumerate(rows) if r.intent in intents]


def _sample(examples: list[Example], per_label: int | None, seed: int) -> list[Example]:
    """At most ``per_label`` examples of each label (all when None), in a fixed order."""
    if per_label is None:
        return list(examples)
    by_label: dict[str, list[Example]] = {}
    for e in examples:
        by_label.setdefault(e.target, []).append(e)
    rng = random.Random(seed)
    return [e for label in sorted(by_label) for e in rng.sample(by_label[label], min(per_label, len(by_label[label])))]


def split_pool(examples: list[Example], child_labels: set[str], seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(the parent's rows, the child's pool): each child label's rows halved at random
    (``seed``), the first half the parent's (where it knows the label), the second the
    child's; every row of the other labels the parent's."""
    by_label: dict[str, list[Example]] = {}
    for e in examples:
        by_label.setdefault(e.target, []).append(e)
    rng = random.Random(seed)
    parent: list[Example] = []
    child: list[Example] = []
    for label in sorted(by_label):
        rows = by_label[label]
        if label not in child_labels:
            parent.extend(rows)
            continue
        rows = rng.sample(rows, len(rows))
        half = len(rows) // 2
        parent.extend(rows[:half])
        child.extend(rows[half:])
    return parent, child


def child_intents(data: clinc150.Clinc150, pair: ChainPair, seed: int) -> list[str]:
    """The child's label set: a seeded subset of the parent's intents plus a few new ones."""
    rng = random.Random(f"{pair.name}-{seed}")
    shared = rng.sample(sorted(_parent_intents(data, pair)), pair.shared)
    new = rng.sample(sorted(data.domains[pair.new_from]), pair.new)
    return sorted(shared + new)


def _accuracy(base: BaseModel, test: list[Example], adapter, max_length: int) -> float:
    return evaluate(base, test, adapter, batch_size=64, max_length=max_length)["accuracy"]


def _split_accuracy(base: BaseModel, test: list[Example], adapter, new_labels: set[str], max_length: int) -> dict:
    """Accuracy on all test rows, on the labels the parent knows (``shared``) and on the child's own (``new``)."""
    preds = classify(base, [e.text for e in test], adapter, batch_size=64, max_length=max_length)
    hits = [(p.label == e.target, e.target in new_labels) for p, e in zip(preds, test)]

    def share(rows: list[bool]) -> float | None:
        return sum(rows) / len(rows) if rows else None

    return {
        "all": share([hit for hit, _ in hits]),
        "shared": share([hit for hit, new in hits if not new]),
        "new": share([hit for hit, new in hits if new]),
    }


@dataclass(frozen=True)
class PairSetup:
    """A pair's trained parent (saved in ``parent_folder``) and its child's label set, rows and test rows."""

    parent_folder: Path
    parent_examples: int
    parent_s: float
    labels: list[str]
    child_train: list[Example]
    test: list[Example]
    new_labels: list[str]


def setup_pair(
    base: BaseModel,
    data: clinc150.Clinc150,
    pair: ChainPair,
    *,
    layers: list[int],
    config: TrainConfig,
    parent_per_label: int | None,
    test_per_label: int | None,
    work: Path,
) -> PairSetup:
    """Train and save the pair's parent; the child's labels, training rows and test rows.

    The child's queries are not the parent's: each child label's training rows are halved
    (``split_pool``), the parent trains on the first half of the labels they share (and all
    rows of its others), the child draws from the second halves. A child tenant's traffic is
    its own; drawing both from the same rows would let the parent have trained on the very
    queries the child then learns from (and flatter the inherited rows).
    """
    parent_intents = _parent_intents(data, pair)
    labels = child_intents(data, pair, 0)
    parent_rows, child_rows = split_pool(_examples(data.train, parent_intents | set(labels), "train", "pool"), set(labels))
    parent_train = _sample([replace(e, domain="parent") for e in parent_rows if e.target in parent_intents],
                           parent_per_label, 0)
    # Selected on validation accuracy like a cycle's champion: the last step of a long
    # constant-rate run is not what a parent would be (seen: 4 points under the best one).
    parent_val = _examples(data.val, parent_intents, "val", "parent")
    started = time.perf_counter()
    parent = train_adapter(base, parent_train, parent_val, layers=layers, config=config)
    parent_s = time.perf_counter() - started
    parent_folder = work / pair.name.replace(">", "-")
    save_adapter(parent.adapter, parent_folder, domain="parent", version="v0001")
    return PairSetup(
        parent_folder=parent_folder,
        parent_examples=len(parent_train),
        parent_s=parent_s,
        labels=labels,
        child_train=[replace(e, domain="child") for e in child_rows],
        test=_sample(_examples(data.test, set(labels), "test", "child"), test_per_label, 0),
        new_labels=sorted(set(labels) - parent_intents),
    )


def train_child(
    base: BaseModel, setup: PairSetup, per_label: int, seed: int, *, layers: list[int], config: TrainConfig,
    init_from: Path | None,
) -> dict:
    """Train a child on ``per_label`` of its rows (sampling ``seed``); its accuracy: all, shared, new labels."""
    result = train_adapter(base, _sample(setup.child_train, per_label, seed), [], layers=layers,
                           config=replace(config, seed=seed), labels=setup.labels, init_from=init_from)
    return _split_accuracy(base, setup.test, result.adapter, set(setup.new_labels), config.max_length)


def run_pair(
    base: BaseModel,
    data: clinc150.Clinc150,
    pair: ChainPair,
    *,
    sizes: list[int],
    seeds: list[int],
    layers: list[int],
    configs: ChainConfigs,
    parent_per_label: int | None,
    test_per_label: int | None,
    work: Path,
) -> list[dict]:
    """One pair's rows: each child size, the three strategies averaged over ``seeds``."""
    config = configs.scratch
    setup = setup_pair(base, data, pair, layers=layers, config=config, parent_per_label=parent_per_label,
                       test_per_label=test_per_label, work=work)
    parent_folder, labels, child_train, test, new_labels = (
        setup.parent_folder, setup.labels, setup.child_train, setup.test, setup.new_labels)
    # The parent as is: its LoRA and head rows, the child's label set, no child example seen.
    as_is, _ = prepare_adapter(base, layers=layers, config=config, labels=labels, init_from=parent_folder)
    parent_as_is = _accuracy(base, test, as_is.eval(), config.max_length)
    zero_shot = evaluate(base, test, labels=labels, batch_size=64, max_length=config.max_length)["accuracy"]
    # The room any start has: the child trained from scratch on all its training rows (~50 per label).
    full = train_adapter(base, child_train, _examples(data.val, set(labels), "val", "child"), layers=layers,
                         config=config, labels=labels)
    full_data = _accuracy(base, test, full.adapter, config.max_length)
    print(f"{pair.name}: parent {pair.parent_name} ({setup.parent_examples} examples, {setup.parent_s:.0f} s); child labels "
          f"{len(labels)} ({len(new_labels)} new: {new_labels}); test {len(test)}; zero-shot {zero_shot:.3f}, "
          f"parent as is {parent_as_is:.3f}, all {len(child_train)} child examples {full_data:.3f}", flush=True)
    rows = []
    runs = (
        ("scratch", None, configs.scratch),
        ("warm_start", parent_folder, configs.warm),
        ("warm_start_parent_lr", parent_folder, configs.parent_rate),
    )
    for n in sizes:
        scores: dict[str, list[float]] = {name: [] for name, _, _ in runs}
        parts: dict[str, list[dict]] = {name: [] for name, _, _ in runs}
        for seed in tqdm(seeds, desc=f"{pair.name} {n}/label", leave=False):
            for name, init, cfg in runs:
                split = train_child(base, setup, n, seed, layers=layers, config=cfg, init_from=init)
                scores[name].append(split["all"])
                parts[name].append(split)
        row = {
            "pair": pair.name,
            "parent": pair.parent_name,
            "child_labels": len(labels),
            "new_labels": len(new_labels),
            "per_label": n,
            "examples": n * len(labels),
            "seeds": len(seeds),
            "zero_shot": zero_shot,
            "scratch": statistics.mean(scores["scratch"]),
            "parent_as_is": parent_as_is,
            "warm_start": statistics.mean(scores["warm_start"]),
            "warm_start_parent_lr": statistics.mean(scores["warm_start_parent_lr"]),
            "full_data": full_data,
            # Accuracy on the labels the parent knows and on the child's own, per strategy.
            "by_labels": {
                name: {part: statistics.mean(s[part] for s in splits) for part in ("shared", "new")}
                for name, splits in parts.items()
            },
            "runs": scores,
        }
        row["gain"] = row["warm_start"] - row["scratch"]
        rows.append(row)
        print(f"  {n:>3}/label: scratch {row['scratch']:.3f}  parent as is {parent_as_is:.3f}  "
              f"warm start {row['warm_start']:.3f}  ({row['gain']:+.3f}; at the parent's rate "
              f"{row['warm_start_parent_lr']:.3f}); shared/new labels: scratch "
              f"{row['by_labels']['scratch']['shared']:.3f}/{row['by_labels']['scratch']['new']:.3f}, warm start "
              f"{row['by_labels']['warm_start']['shared']:.3f}/{row['by_labels']['warm_start']['new']:.3f}", flush=True)
    return rows


@dataclass(frozen=True)
class ChainConfigs:
    """The settings each start trains with: a cycle's own, so the table measures what a user gets.

    ``scratch``: a new domain's first candidate (``CycleConfig.train_config``, cold start; also
    the parent and ``full_data``); ``warm``: a child's first candidate (the continuing schedule,
    at ``tuner.chains.child_config``'s rates); ``parent_rate``: the same at the cold start's rates.
    """

    scratch: TrainConfig
    parent_rate: TrainConfig

    @property
    def warm(self) -> TrainConfig:
        return child_config(self.parent_rate)


def chains_configs(cycle: CycleConfig | None = None) -> ChainConfigs:
    """``cycle``'s settings (default: the cycle's defaults) for each start, without a progress bar."""
    cycle = cycle or CycleConfig(train=replace(default_train_config(), progress=False))
    return ChainConfigs(scratch=cycle.train_config(warm_start=False),
                        parent_rate=cycle.train_config(warm_start=True, from_parent=True))


def run_chains(
    *,
    model: str = "minilm-l6",
    data_path: str | Path | None = None,
    quick: bool = False,
    sizes: list[int] | None = None,
    pairs: tuple[ChainPair, ...] | None = None,
    threads: int | None = None,
    base: BaseModel | None = None,
) -> list[dict]:
    """The chains table: one row per (pair, child examples per label).

    ``base`` reuses a loaded classification base (``bench/days.py`` passes its own);
    ``threads`` sets torch's threads (None leaves them as they are).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    data = clinc150.load(data_path)
    base = base or load_base(model, "classification")
    layers = list(range(base.num_layers - 2, base.num_layers))
    configs = chains_configs()
    seeds = [1, 2] if quick else [1, 2, 3]
    with tempfile.TemporaryDirectory() as tmp:
        return [
            row
            for pair in pairs or ROTATION_PAIRS
            for row in run_pair(
                base, data, pair, sizes=sizes or [5, 10, 25], seeds=seeds, layers=layers, configs=configs,
                parent_per_label=50 if quick else None, test_per_label=15 if quick else None, work=Path(tmp),
            )
        ]


def verdict(rows: list[dict]) -> dict:
    """Warm start beats scratch by >= TARGET_GAIN at every target size, on every pair; and,
    per size, how often and by how much it does, where there was room to (``full_data``
    at least TARGET_GAIN above scratch: no start can win more than the data holds), and
    where no accuracy could (scratch above ``1 - TARGET_GAIN``: the gain would need more
    than every test row right)."""
    checked = [r for r in rows if r["per_label"] in TARGET_SIZES]
    per_size = {}
    for n in TARGET_SIZES:
        mine = [r for r in checked if r["per_label"] == n]
        roomy = [r for r in mine if r.get("full_data") is not None and r["full_data"] - r["scratch"] >= TARGET_GAIN]
        per_size[str(n)] = {
            "pairs": len(mine),
            "mean_gain": statistics.mean(r["gain"] for r in mine) if mine else None,
            "pairs_met": sum(r["gain"] >= TARGET_GAIN for r in mine),
            "pairs_with_room": len(roomy),
            "pairs_with_room_met": sum(r["gain"] >= TARGET_GAIN for r in roomy),
            "pairs_out_of_reach": sum(round(r["scratch"] + TARGET_GAIN, 9) > 1 for r in mine),
            "worst_gain": min((r["gain"] for r in mine), default=None),
        }
    return {
        "target_gain": TARGET_GAIN,
        "sizes": list(TARGET_SIZES),
        "min_gain": min((r["gain"] for r in checked), default=None),
        # Every target size must have been run: a run of 5 a label alone proves nothing about 10.
        "met": all(size["pairs"] for size in per_size.values()) and all(r["gain"] >= TARGET_GAIN for r in checked),
        "per_size": per_size,
    }


def verdict_lines(check: dict) -> list[str]:
    """The verdict in words; sizes the run did not include (``--sizes 25``) are said to be missing."""
    head = f"target: warm start >= scratch + {TARGET_GAIN:.2f} at {list(TARGET_SIZES)} per label -> "
    if check["min_gain"] is None:
        return [head + f"not judged (no row at {list(TARGET_SIZES)} per label in this run)"]
    lines = [head + ("met" if check["met"] else "NOT met") + f" (smallest gain {check['min_gain']:+.3f})"]
    for n, size in check["per_size"].items():
        if not size["pairs"]:
            lines.append(f"  {n}/label: not run")
            continue
        lines.append(f"  {n}/label: met on {size['pairs_met']} of {size['pairs']} pairs, {size['pairs_with_room_met']} of the "
                     f"{size['pairs_with_room']} with room; out of reach of any accuracy on {size['pairs_out_of_reach']}")
    return lines


def print_table(rows: list[dict]) -> None:
    width = max([len(r["pair"]) for r in rows] + [4]) + 2
    print(f"\n{'pair':<{width}}{'per label':>10}{'scratch':>9}{'parent as is':>14}{'warm start':>12}{'gain':>8}"
          f"{'parent lr':>12}{'all data':>10}")
    for r in rows:
        print(f"{r['pair']:<{width}}{r['per_label']:>10}{r['scratch']:>9.3f}{r['parent_as_is']:>14.3f}"
              f"{r['warm_start']:>12.3f}{r['gain']:>+8.3f}{r['warm_start_parent_lr']:>12.3f}{r['full_data']:>10.3f}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    from tuner.reports.style import legend_outside, save, styled

    with styled():
        pairs = list(dict.fromkeys(r["pair"] for r in rows))
        cols = min(len(pairs), 4)
        grid = -(-len(pairs) // cols)
        fig, axes = plt.subplots(grid, cols, figsize=(5 * cols, 3.6 * grid), squeeze=False, layout="constrained")
        for ax in axes.flat[len(pairs):]:
            ax.set_visible(False)
        for ax, pair in zip(axes.flat, pairs):
            mine = [r for r in rows if r["pair"] == pair]
            ns = [r["per_label"] for r in mine]
            for key, style, label in (("scratch", "o-", "from scratch"), ("warm_start", "s-", "warm start from parent"),
                                      ("warm_start_parent_lr", "^-", "warm start at the from-scratch rate"),
                                      ("parent_as_is", "--", "parent as is"), ("zero_shot", ":", "zero-shot base"),
                                      ("full_data", "-.", "scratch on all the child's data")):
                ax.plot(ns, [r[key] for r in mine], style, label=label)
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(ns, [str(n) for n in ns])
            ax.set_xlabel("child examples per label")
            ax.set_ylabel("child test accuracy (fraction, 0-1)")
            ax.set_title(f"{pair} ({mine[0]['child_labels']} labels, {mine[0]['new_labels']} new)", fontsize=9)
        legend_outside(axes[0][-1])
        save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smaller: 50 parent examples and 15 test rows per label, 2 samplings per size")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default=None, help="CLINC150 folder (default: ../shared/data/clinc150)")
    parser.add_argument("--sizes", default="5,10,25", help="child examples per label")
    parser.add_argument("--pairs", choices=list(PAIR_SETS), default="rotation",
                        help="rotation: every CLINC group as the parent of a 15-label child; tenant: 30-label "
                             "children of two-group parents; small: banking>cards and home>utility")
    parser.add_argument("--only", default=None, help="comma-separated pair names of the set to run (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        pairs = select_pairs(args.pairs, args.only)
    except ValueError as error:
        parser.error(str(error))
    stem = "chains" if args.pairs == "rotation" else f"chains_{args.pairs}"
    out = args.out or RESULTS / (f"{stem}_quick.json" if args.quick else f"{stem}.json")
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    rows = run_chains(model=args.model, data_path=args.data, quick=args.quick,
                      sizes=[int(n) for n in args.sizes.split(",")], threads=args.threads, pairs=pairs)
    print_table(rows)
    check = verdict(rows)
    print("\n".join(verdict_lines(check)))
    png = out.with_suffix(".png")
    plot(rows, png)
    result = {
        "benchmark": "chains",
        "model": args.model,
        "quick": args.quick,
        "threads": args.threads,
        "pairs": [vars(p) for p in pairs],
        "rows": rows,
        "target": check,
        "seconds": time.perf_counter() - started,
        # 1-minute load average at start and end: others' processes on a shared machine.
        "load_average": [load_start, os.getloadavg()[0]],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out} and {png} ({result['seconds']:.0f} s, load average {load_start:.1f} -> {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
