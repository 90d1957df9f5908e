"""Targeted LoRA on CLINC150: which layers to adapt for the same budget of examples.

Table 1: LoRA on all layers, the top k, the bottom k and k random layers, each trained
on the same examples for the same epochs (no early stopping), side by side in one run:
train seconds (optimisation steps, plus caching the frozen layers once: see
tuner/frozen_prefix.py), trainable parameters, test accuracy, macro F1,
with ratios to all layers. Target: a top-k row reaches >= 0.95 of the all-layers
accuracy in <= 0.6 of its training time.

Table 2: a child domain's adapter warm-started from its parent domain's adapter vs
trained from scratch, test accuracy against the number of child examples per intent.

Table 3: the frozen-layer cache (``TrainConfig.cache_frozen_layers``) on and off for the
top 1, 2 and half of the layers: median step time against all layers, and the seconds the
one caching pass took, interleaved step by step like table 1.

Writes bench/results/targeted_tuning.json (``rows``: strategy, layers, train_s,
trainable_params, accuracy, macro_f1; ``warm_start``: the second table) and a PNG.

    .venv/bin/python bench/targeted_tuning.py --quick      # a few minutes on two cores
    .venv/bin/python bench/targeted_tuning.py --model smollm2-135m --quick

``--device cuda`` (what bench/gpu.sh runs) times training steps only: LoRA on all
layers, the top quarter and the top 2 of a random-weight SmolLM2-135M-shaped model
(``random_models.py``; the GPU machines have neither CLINC150 nor the embedded
weights), 32 x 128 tokens, interleaved step by step, into
bench/results/gpu/targeted_tuning.json. ``--shape minilm-l6 --device cpu`` runs the
same on the CPU (a check of the code path).
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
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import legend_outside, save, styled  # noqa: E402
import torch  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from tuner.adapters import save_adapter  # noqa: E402
from tuner.config import TrainConfig  # noqa: E402
from tuner.evaluation import evaluate  # noqa: E402
from tuner.loading import load_base  # noqa: E402
from tuner.sources import clinc_split  # noqa: E402
from tuner.training import AdapterTrainer, train_adapter  # noqa: E402
from tuner.data import Example  # noqa: E402
from bench.random_models import SHAPES, random_texts, save_random_model  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_ACCURACY_RATIO = 0.95
TARGET_TIME_RATIO = 0.6


def merge_splits(folder, domains, per_label, seed, test_per_label=None):
    """CLINC splits of several domains together (a multi-domain intent classifier)."""
    parts = [clinc_split(folder, d, per_label=per_label, seed=seed) for d in domains]
    rng = random.Random(seed)
    test = [e for p in parts for e in p.test]
    if test_per_label:
        by_label: dict[str, list] = {}
        for e in test:
            by_label.setdefault(e.target, []).append(e)
        test = [e for group in by_label.values() for e in rng.sample(group, min(test_per_label, len(group)))]
    return [e for p in parts for e in p.train], test


def strategies(num_layers: int, ks: list[int], seed: int) -> list[tuple[str, list[int]]]:
    rng = random.Random(seed)
    chosen = [("all", list(range(num_layers)))]
    for k in ks:
        chosen += [
            (f"top-{k}", list(range(num_layers - k, num_layers))),
            (f"bottom-{k}", list(range(k))),
            (f"random-{k}", sorted(rng.sample(range(num_layers), k))),
        ]
    return chosen


def train_interleaved(base, train, jobs, config, labels, init_from=None, configs=None):
    """Train every (name, layers) job one step at a time in rotating order.

    On a shared machine load comes and goes; interleaving makes every strategy see the
    same conditions, so their time ratios mean something. Each trainer keeps its own RNG,
    so results equal separate runs (tested). ``configs`` overrides ``config`` by job name.
    """
    configs = configs or {}
    trainers = {
        name: AdapterTrainer(base, train, [], layers=layers, config=configs.get(name, config), labels=labels,
                             init_from=init_from)
        for name, layers in jobs
    }
    order = list(trainers)
    rounds = 0
    while not all(t.done for t in trainers.values()):
        for name in order[rounds % len(order):] + order[: rounds % len(order)]:
            if not trainers[name].done:
                trainers[name].step()
        rounds += 1
    return {name: trainer.result() for name, trainer in trainers.items()}


def table1(base, train, test, config, ks, seed, labels):
    rows = []
    jobs = strategies(base.num_layers, ks, seed)
    zero_shot = evaluate(base, test, labels=labels, batch_size=64, max_length=config.max_length)
    print(f"zero-shot accuracy {zero_shot['accuracy']:.4f}  macro F1 {zero_shot['macro_f1']:.4f}", flush=True)
    print(f"training {len(jobs)} strategies interleaved step by step ...", flush=True)
    results = train_interleaved(base, train, jobs, config, labels)
    for name, layers in jobs:
        result = results[name]
        metrics = evaluate(base, test, result.adapter, batch_size=64, max_length=config.max_length)
        rows.append(
            {
                "strategy": name,
                "layers": layers,
                "train_s": result.train_seconds,
                "step_s_median": statistics.median(result.step_seconds),
                # Median step x steps: what train_s is without other processes' spikes.
                "train_s_median_based": statistics.median(result.step_seconds) * result.steps,
                "steps": result.steps,
                "trainable_params": result.trainable_params,
                "lora_params": result.lora_params,
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
            }
        )
        print(f"  {name:<10} layers {layers}: {result.train_seconds:.1f} s, accuracy {metrics['accuracy']:.4f}", flush=True)
    return rows, zero_shot.overall


def table2(base, folder, parent, child, sizes, config, layers, seed, parent_per_intent=None):
    rows = []
    parent_split = clinc_split(folder, parent, per_label=parent_per_intent, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"parent {parent}: {len(parent_split.train)} examples", flush=True)
        parent_result = train_adapter(base, parent_split.train, [], layers=layers, config=config)
        parent_folder = Path(tmp) / "parent"
        save_adapter(parent_result.adapter, parent_folder, domain=parent, version="v0001")
        child_test = clinc_split(folder, child, seed=seed).test
        labels = sorted({e.target for e in child_test})
        zero_shot = evaluate(base, child_test, labels=labels, batch_size=64, max_length=config.max_length)["accuracy"]
        for n in sizes:
            train = clinc_split(folder, child, per_label=n, seed=seed).train
            row = {"per_intent": n, "examples": len(train), "zero_shot": zero_shot}
            for mode, init in (("scratch", None), ("warm", parent_folder)):
                result = train_adapter(base, train, [], layers=layers, config=config, labels=labels, init_from=init)
                row[mode] = evaluate(base, child_test, result.adapter, batch_size=64, max_length=config.max_length)["accuracy"]
                row[f"{mode}_train_s"] = result.train_seconds
            rows.append(row)
            print(f"  {n:>4} per intent: scratch {row['scratch']:.4f}  warm {row['warm']:.4f}", flush=True)
    return rows


def table3(base, train, config, labels, steps: int) -> list[dict]:
    """Median step time with and without the frozen-layer cache, against all layers."""
    layers = base.num_layers
    spans = sorted({1, 2, layers // 2})
    jobs = [("all", list(range(layers)))]
    configs = {}
    for k in spans:
        for cached in (False, True):
            name = f"top-{k} {'cache' if cached else 'no cache'}"
            jobs.append((name, list(range(layers - k, layers))))
            configs[name] = replace(config, max_steps=steps, cache_frozen_layers=cached)
    print(f"\nfrozen-layer cache: {len(jobs)} jobs x {steps} steps, interleaved ...", flush=True)
    results = train_interleaved(base, train, jobs, replace(config, max_steps=steps), labels, configs=configs)
    ref = statistics.median(results["all"].step_seconds)
    rows = []
    for name, job_layers in jobs:
        result = results[name]
        step = statistics.median(result.step_seconds)
        rows.append({"job": name, "layers": job_layers, "cached_layers": result.cached_layers,
                     "step_s_median": step, "step_ratio": step / ref, "cache_s": result.cache_seconds,
                     "examples": len(train)})  # fmt: skip
        print(f"  {name:<16} layers {job_layers}: median step {step:.4f} s (x{step / ref:.2f} of all layers), "
              f"caching {result.cache_seconds:.2f} s", flush=True)
    return rows


def print_table1(rows, zero_shot) -> None:
    ref = rows[0]
    print(f"\n{'strategy':<11}{'layers':<22}{'train_s':>9}{'x time':>8}{'x step':>8}{'params':>10}{'accuracy':>10}{'x acc':>7}{'macro_f1':>10}")
    for r in rows:
        print(
            f"{r['strategy']:<11}{str(r['layers']):<22}{r['train_s']:>9.1f}{r['train_s'] / ref['train_s']:>8.2f}"
            f"{r['step_s_median'] / ref['step_s_median']:>8.2f}{r['trainable_params']:>10}{r['accuracy']:>10.4f}"
            f"{r['accuracy'] / ref['accuracy']:>7.3f}{r['macro_f1']:>10.4f}"
        )
    print(f"{'zero-shot':<11}{'[]':<22}{0:>9.1f}{'':>8}{'':>8}{0:>10}{zero_shot['accuracy']:>10.4f}")


def print_table2(rows) -> None:
    print(f"\n{'per intent':>10}{'examples':>10}{'zero-shot':>11}{'scratch':>9}{'warm':>8}{'warm - scratch':>16}")
    for r in rows:
        print(f"{r['per_intent']:>10}{r['examples']:>10}{r['zero_shot']:>11.4f}{r['scratch']:>9.4f}{r['warm']:>8.4f}{r['warm'] - r['scratch']:>+16.4f}")


def verdicts(rows) -> list[dict]:
    """Top-k rows against the target, on measured time and on median-step time."""
    ref = rows[0]
    out = []
    for r in rows:
        if r["strategy"].startswith("top-"):
            acc = r["accuracy"] / ref["accuracy"]
            raw = r["train_s"] / ref["train_s"]
            robust = r["train_s_median_based"] / ref["train_s_median_based"]
            out.append(
                {
                    "strategy": r["strategy"],
                    "accuracy_ratio": acc,
                    "time_ratio": raw,
                    "time_ratio_median_step": robust,
                    "meets_target": acc >= TARGET_ACCURACY_RATIO and raw <= TARGET_TIME_RATIO,
                    "meets_target_median_step": acc >= TARGET_ACCURACY_RATIO and robust <= TARGET_TIME_RATIO,
                }
            )
    return out


@styled()
def plot(rows, warm_rows, zero_shot, path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(15, 4.5), layout="constrained")
    ref = rows[0]
    names = [r["strategy"] for r in rows]
    x = range(len(rows))
    ax = axes[0]
    ax.bar([i - 0.2 for i in x], [r["accuracy"] / ref["accuracy"] for r in rows], width=0.4, label="accuracy / all layers")
    ax.bar([i + 0.2 for i in x], [r["train_s_median_based"] / ref["train_s_median_based"] for r in rows], width=0.4,
           label="train time / all layers (median step)")
    ax.axhline(TARGET_ACCURACY_RATIO, color="tab:blue", ls=":", lw=1)
    ax.axhline(TARGET_TIME_RATIO, color="tab:orange", ls=":", lw=1)
    ax.set_xticks(list(x), names, rotation=30)
    ax.set_title(f"{title}: same examples, LoRA on different layers\n(zero-shot accuracy {zero_shot['accuracy']:.3f})")
    ax.set_ylabel("ratio to LoRA on all layers")
    legend_outside(ax)
    ax = axes[1]
    if warm_rows:
        ns = [r["per_intent"] for r in warm_rows]
        ax.plot(ns, [r["scratch"] for r in warm_rows], "o-", label="from scratch")
        ax.plot(ns, [r["warm"] for r in warm_rows], "s-", label="warm-started from parent")
        ax.plot(ns, [r["zero_shot"] for r in warm_rows], "--", color="grey", label="zero-shot")
        ax.set_xlabel("child examples per intent")
        ax.set_ylabel("test accuracy (fraction)")
        ax.set_title("child domain: warm start vs scratch")
        legend_outside(ax)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small version (a few minutes on two cores)")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--data", default=None, help="CLINC150 folder (default: ../shared/data/clinc150)")
    parser.add_argument("--k", default=None, help="comma list of k (default: 1 and a quarter of the layers)")
    parser.add_argument("--domains", default=None, help="CLINC domains for table 1 (default: all; quick: 3)")
    parser.add_argument("--per-intent", type=int, default=None, help="training examples per intent in table 1")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--parent", default="banking")
    parser.add_argument("--child", default="credit_cards")
    parser.add_argument("--sizes", default="25,50,100", help="child examples per intent in table 2")
    parser.add_argument("--skip-warm-start", action="store_true")
    parser.add_argument("--skip-cache", action="store_true", help="skip table 3 (frozen-layer cache on/off)")
    parser.add_argument("--cache-steps", type=int, default=30, help="steps per job in table 3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON (default results/targeted_tuning.json; gpu/ with cuda)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: step times on a random model of --shape")
    parser.add_argument("--shape", default=None, choices=sorted(SHAPES), help="step times on random weights of this shape")
    parser.add_argument("--steps", type=int, default=None, help="steps per job in the step-time run (default 12; quick 6)")
    args = parser.parse_args(argv)
    if args.device == "cuda" or args.shape:
        return step_times_main(args)
    args.out = args.out or RESULTS / ("targeted_tuning_quick.json" if args.quick else "targeted_tuning.json")

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    folder = args.data or clinc150.default_path()
    data = clinc150.load(folder)
    base = load_base(args.model, "classification")
    layers = base.num_layers
    ks = [int(k) for k in args.k.split(",")] if args.k else sorted({1, max(1, round(layers / 4))})
    if any(not 1 <= k < layers for k in ks):
        raise SystemExit(f"--k values must be in 1..{layers - 1}, got {ks}")
    domains = args.domains.split(",") if args.domains else (
        ["banking", "credit_cards", "travel"] if args.quick else sorted(data.domains)
    )
    per_intent = args.per_intent or (15 if args.quick else 20)
    epochs = args.epochs or (1 if args.quick else 2)
    config = TrainConfig(
        rank=8, alpha=16, dropout=0.05, lr=2e-3, head_lr=5e-3, batch_size=32, epochs=epochs,
        patience=0, max_length=32, seed=args.seed, progress=False,
    )
    train, test = merge_splits(folder, domains, per_intent, args.seed, test_per_label=10 if args.quick else None)
    labels = sorted({e.target for e in train})
    print(
        f"{args.model} ({layers} layers), {len(domains)} domains, {len(labels)} intents, "
        f"{len(train)} train x {epochs} epochs, {len(test)} test, k = {ks}, {args.threads} threads",
        flush=True,
    )
    started = time.perf_counter()
    rows, zero_shot = table1(base, train, test, config, ks, args.seed, labels)
    warm_rows = []
    warm_layers = list(range(layers - max(ks), layers))
    if not args.skip_warm_start:
        sizes = [int(n) for n in args.sizes.split(",")]
        warm_config = replace(config, epochs=1 if args.quick else 3)
        print(f"\nwarm start: parent {args.parent} -> child {args.child}, layers {warm_layers}", flush=True)
        warm_rows = table2(
            base, folder, args.parent, args.child, sizes, warm_config, warm_layers, args.seed,
            parent_per_intent=50 if args.quick else None,
        )
    cache_rows = [] if args.skip_cache else table3(base, train, config, labels, args.cache_steps)
    print_table1(rows, zero_shot)
    checks = verdicts(rows)
    for v in checks:
        print(
            f"{v['strategy']}: accuracy x{v['accuracy_ratio']:.3f}; time x{v['time_ratio']:.2f} measured -> target "
            + ("met" if v["meets_target"] else "NOT met")
            + f"; x{v['time_ratio_median_step']:.2f} on median step time -> target "
            + ("met" if v["meets_target_median_step"] else "NOT met")
        )
    if warm_rows:
        print_table2(warm_rows)
    png = args.out.with_suffix(".png")
    plot(rows, warm_rows, zero_shot, png, args.model)
    result = {
        "benchmark": "targeted_tuning",
        "model": args.model,
        "quick": args.quick,
        "threads": args.threads,
        "domains": domains,
        "intents": len(labels),
        "train_examples": len(train),
        "test_examples": len(test),
        "epochs": epochs,
        "config": config.to_json(),
        "zero_shot": zero_shot,
        "rows": rows,
        "targets": {"accuracy_ratio": TARGET_ACCURACY_RATIO, "time_ratio": TARGET_TIME_RATIO, "top_k": checks},
        "warm_start": {"parent": args.parent, "child": args.child, "layers": warm_layers, "rows": warm_rows},
        "frozen_cache": cache_rows,
        "seconds": time.perf_counter() - started,
        # 1-minute load average at start and end: others' processes on a shared machine.
        "load_average": [load_start, os.getloadavg()[0]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out} and {png} ({result['seconds']:.0f} s, load average {load_start:.1f} -> {os.getloadavg()[0]:.1f})")
    return 0


def step_times_main(args: argparse.Namespace) -> int:
    """Median step time of all layers, the top quarter and the top 2 on random weights (32 x 128 tokens)."""
    shape = args.shape or "smollm2-135m"
    steps = args.steps or (6 if args.quick else 12)
    batch, seq = 32, 128
    torch.set_num_threads(args.threads)
    load_start = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="adaptune-steps-") as tmp:
        base = load_base(str(save_random_model(shape, Path(tmp) / "model")), "classification", device=args.device)
        n = base.num_layers
        quarter = max(1, -(-n // 4))
        spans = [n] + sorted({quarter, min(2, n - 1)}, reverse=True)
        jobs = [("all" if k == n else f"top-{k}", list(range(n - k, n))) for k in spans]
        labels = [f"label{i}" for i in range(8)]
        texts = random_texts(batch * steps, seq, seed=args.seed)
        train = [Example(str(i), text, labels[i % len(labels)]) for i, text in enumerate(texts)]
        config = TrainConfig(rank=8, alpha=16, lr=1e-3, batch_size=batch, epochs=1, max_steps=steps, patience=0,
                             max_length=seq, seed=args.seed, progress=False)  # fmt: skip
        print(f"{shape} ({n} layers, random weights) on {base.device}: {len(jobs)} jobs x {steps} steps of {batch} x {seq} tokens",
              flush=True)  # fmt: skip
        results = train_interleaved(base, train, jobs, config, labels)
        device_name = torch.cuda.get_device_name(base.device) if base.device.type == "cuda" else "cpu"
    ref = statistics.median(results["all"].step_seconds[1:])
    rows = []
    for name, layers in jobs:
        result = results[name]
        step = statistics.median(result.step_seconds[1:])  # the first step warms kernels up
        rows.append({"job": name, "layers": layers, "step_s_median": step, "step_ratio": step / ref,
                     "cached_layers": result.cached_layers, "cache_s": result.cache_seconds, "steps": result.steps})  # fmt: skip
        print(f"  {name:<8} median step {step:.4f} s (x{step / ref:.2f} of all layers), caching {result.cache_seconds:.2f} s")
    by_job = {row["job"]: row for row in rows}
    top_quarter = by_job[f"top-{quarter}"]["step_ratio"]
    out = {
        "device": device_name,
        "torch": torch.__version__,
        "shape": shape,
        "quick": args.quick,
        "batch": batch,
        "seq": seq,
        "steps": steps,
        "autocast": "bf16" if args.device == "cuda" else "none (float32)",
        "all_layers_step_s": ref,
        "top_quarter": f"top-{quarter}",
        "top_quarter_step_s": by_job[f"top-{quarter}"]["step_s_median"],
        "top_2_step_s": by_job["top-2"]["step_s_median"],
        "top_quarter_vs_all": top_quarter,
        "targets": {"top_quarter_at_most_0_3_of_all": top_quarter <= 0.3},
        "rows": rows,
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
    }
    folder = RESULTS / "gpu" if args.device == "cuda" else RESULTS
    path = args.out or folder / (f"targeted_tuning{'_steps' if args.device != 'cuda' else ''}{'_quick' if args.quick else ''}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"targets: {out['targets']}\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
