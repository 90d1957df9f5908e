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
  (``tuner.chains.child_config``: LoRA at a tenth of the rate, the head at full rate);
- ``warm_start_parent_lr``: the same at the from-scratch rate, as children trained
  before: the ablation that shows what the lower rate buys.

Two parent/child pairs from different CLINC150 domain groups, each child size averaged
over several samplings of the child's examples. Target: warm start beats scratch by
>= 3 points at 5 and 10 examples per label on every pair.

``run_chains(...)`` returns the rows (``pair``, ``per_label``, ``scratch``,
``parent_as_is``, ``warm_start``, ...); ``bench/days.py`` puts them in ``days.json``.

    .venv/bin/python bench/chains.py --quick --threads 1   # bench/results/chains_quick.json
    .venv/bin/python bench/chains.py --threads 1           # bench/results/chains.json
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
from tuner.data import Example  # noqa: E402
from tuner.evaluation import evaluate  # noqa: E402
from tuner.loading import BaseModel, load_base  # noqa: E402
from tuner.targeting import prepare_adapter  # noqa: E402
from tuner.training import train_adapter  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_GAIN = 0.03
TARGET_SIZES = (5, 10)


@dataclass(frozen=True)
class ChainPair:
    """A parent CLINC domain and a child: ``shared`` of the parent's intents plus ``new`` ones."""

    name: str
    parent: str
    shared: int
    new_from: str
    new: int


PAIRS = (
    ChainPair("banking>cards", parent="banking", shared=10, new_from="credit_cards", new=5),
    ChainPair("home>utility", parent="home", shared=10, new_from="utility", new=5),
)


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


def child_intents(data: clinc150.Clinc150, pair: ChainPair, seed: int) -> list[str]:
    """The child's label set: a seeded subset of the parent's intents plus a few new ones."""
    rng = random.Random(f"{pair.name}-{seed}")
    shared = rng.sample(sorted(data.domains[pair.parent]), pair.shared)
    new = rng.sample(sorted(data.domains[pair.new_from]), pair.new)
    return sorted(shared + new)


def _accuracy(base: BaseModel, test: list[Example], adapter, max_length: int) -> float:
    return evaluate(base, test, adapter, batch_size=64, max_length=max_length)["accuracy"]


def run_pair(
    base: BaseModel,
    data: clinc150.Clinc150,
    pair: ChainPair,
    *,
    sizes: list[int],
    seeds: list[int],
    layers: list[int],
    config: TrainConfig,
    parent_per_label: int | None,
    test_per_label: int | None,
    work: Path,
) -> list[dict]:
    """One pair's rows: each child size, the three strategies averaged over ``seeds``."""
    parent_intents = set(data.domains[pair.parent])
    parent_train = _sample(_examples(data.train, parent_intents, "train", pair.parent), parent_per_label, 0)
    started = time.perf_counter()
    parent = train_adapter(base, parent_train, [], layers=layers, config=config)
    parent_s = time.perf_counter() - started
    parent_folder = work / pair.name.replace(">", "-")
    save_adapter(parent.adapter, parent_folder, domain=pair.parent, version="v0001")
    labels = child_intents(data, pair, 0)
    child_train = _examples(data.train, set(labels), "train", "child")
    test = _sample(_examples(data.test, set(labels), "test", "child"), test_per_label, 0)
    new_labels = sorted(set(labels) - parent_intents)
    # The parent as is: its LoRA and head rows, the child's label set, no child example seen.
    as_is, _ = prepare_adapter(base, layers=layers, config=config, labels=labels, init_from=parent_folder)
    parent_as_is = _accuracy(base, test, as_is.eval(), config.max_length)
    zero_shot = evaluate(base, test, labels=labels, batch_size=64, max_length=config.max_length)["accuracy"]
    print(f"{pair.name}: parent {pair.parent} ({len(parent_train)} examples, {parent_s:.0f} s); child labels "
          f"{len(labels)} ({len(new_labels)} new: {new_labels}); test {len(test)}; zero-shot {zero_shot:.3f}, "
          f"parent as is {parent_as_is:.3f}", flush=True)
    rows = []
    runs = (
        ("scratch", None, config),
        ("warm_start", parent_folder, child_config(config)),
        ("warm_start_parent_lr", parent_folder, config),
    )
    for n in sizes:
        scores: dict[str, list[float]] = {name: [] for name, _, _ in runs}
        for seed in tqdm(seeds, desc=f"{pair.name} {n}/label", leave=False):
            train = _sample(child_train, n, seed)
            for name, init, cfg in runs:
                result = train_adapter(base, train, [], layers=layers, config=replace(cfg, seed=seed),
                                       labels=labels, init_from=init)
                scores[name].append(_accuracy(base, test, result.adapter, config.max_length))
        row = {
            "pair": pair.name,
            "parent": pair.parent,
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
            "runs": scores,
        }
        row["gain"] = row["warm_start"] - row["scratch"]
        rows.append(row)
        print(f"  {n:>3}/label: scratch {row['scratch']:.3f}  parent as is {parent_as_is:.3f}  "
              f"warm start {row['warm_start']:.3f}  ({row['gain']:+.3f}; at the parent's rate "
              f"{row['warm_start_parent_lr']:.3f})", flush=True)
    return rows


def run_chains(
    *,
    model: str = "minilm-l6",
    data_path: str | Path | None = None,
    quick: bool = False,
    sizes: list[int] | None = None,
    pairs: tuple[ChainPair, ...] = PAIRS,
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
    config = TrainConfig(
        rank=8, alpha=16, dropout=0.05, lr=2e-3, head_lr=5e-3, batch_size=16, epochs=3,
        patience=0, max_length=32, progress=False,
    )
    seeds = [1, 2] if quick else [1, 2, 3]
    with tempfile.TemporaryDirectory() as tmp:
        return [
            row
            for pair in pairs
            for row in run_pair(
                base, data, pair, sizes=sizes or [5, 10, 25], seeds=seeds, layers=layers, config=config,
                parent_per_label=50 if quick else None, test_per_label=15 if quick else None, work=Path(tmp),
            )
        ]


def verdict(rows: list[dict]) -> dict:
    """Warm start beats scratch by >= TARGET_GAIN at every target size, on every pair."""
    checked = [r for r in rows if r["per_label"] in TARGET_SIZES]
    return {
        "target_gain": TARGET_GAIN,
        "sizes": list(TARGET_SIZES),
        "min_gain": min((r["gain"] for r in checked), default=None),
        "met": bool(checked) and all(r["gain"] >= TARGET_GAIN for r in checked),
    }


def print_table(rows: list[dict]) -> None:
    print(f"\n{'pair':<15}{'per label':>10}{'scratch':>9}{'parent as is':>14}{'warm start':>12}{'gain':>8}"
          f"{'parent lr':>12}")
    for r in rows:
        print(f"{r['pair']:<15}{r['per_label']:>10}{r['scratch']:>9.3f}{r['parent_as_is']:>14.3f}"
              f"{r['warm_start']:>12.3f}{r['gain']:>+8.3f}{r['warm_start_parent_lr']:>12.3f}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    from tuner.reports.style import legend_outside, save, styled

    with styled():
        pairs = list(dict.fromkeys(r["pair"] for r in rows))
        fig, axes = plt.subplots(1, len(pairs), figsize=(6.5 * len(pairs), 4), squeeze=False, layout="constrained")
        for ax, pair in zip(axes[0], pairs):
            mine = [r for r in rows if r["pair"] == pair]
            ns = [r["per_label"] for r in mine]
            for key, style, label in (("scratch", "o-", "from scratch"), ("warm_start", "s-", "warm start from parent"),
                                      ("warm_start_parent_lr", "^-", "warm start at the from-scratch rate"),
                                      ("parent_as_is", "--", "parent as is"), ("zero_shot", ":", "zero-shot base")):
                ax.plot(ns, [r[key] for r in mine], style, label=label)
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(ns, [str(n) for n in ns])
            ax.set_xlabel("child examples per label")
            ax.set_ylabel("child test accuracy (fraction, 0-1)")
            ax.set_title(f"{pair} ({mine[0]['child_labels']} labels, {mine[0]['new_labels']} new)")
        legend_outside(axes[0][-1])
        save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smaller: 50 parent examples and 15 test rows per label, 2 samplings per size")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default=None, help="CLINC150 folder (default: ../shared/data/clinc150)")
    parser.add_argument("--sizes", default="5,10,25", help="child examples per label")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or RESULTS / ("chains_quick.json" if args.quick else "chains.json")
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    rows = run_chains(model=args.model, data_path=args.data, quick=args.quick,
                      sizes=[int(n) for n in args.sizes.split(",")], threads=args.threads)
    print_table(rows)
    check = verdict(rows)
    print(f"target: warm start >= scratch + {TARGET_GAIN:.2f} at {list(TARGET_SIZES)} per label -> "
          + ("met" if check["met"] else "NOT met") + f" (smallest gain {check['min_gain']:+.3f})")
    png = out.with_suffix(".png")
    plot(rows, png)
    result = {
        "benchmark": "chains",
        "model": args.model,
        "quick": args.quick,
        "threads": args.threads,
        "pairs": [vars(p) for p in PAIRS],
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
