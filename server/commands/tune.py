"""``adaptune tune``: train, evaluate and register a LoRA adapter for one domain.

Data: a JSONL file of interactions (format in ``tuner.sources``), a CLINC150 folder
(its own splits; ``--domain`` picks the CLINC domain), or ``db`` for the interactions
stored in ``--db``. The database is opened for writing, so no server may hold it; the
command says so instead of waiting.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from server.commands.device_option import add_device_argument
from server.config import DEFAULT_ADAPTERS_DIR, DEFAULT_DB_PATH
from tuner.config import DEFAULT_MAX_LENGTH

TASK_CHOICES = ("classification", "generation")


def parse_layers(text: str) -> list[int] | str:
    """``4,5`` / ``0-3,5`` -> sorted layer indices; ``all`` stays ``all`` (resolved on the model)."""
    if text.strip() == "all":
        return "all"
    layers: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "-" in part[1:]:
                low, high = part.split("-", 1) if not part.startswith("-") else (part, part)
                layers.update(range(int(low), int(high) + 1))
            else:
                layers.add(int(part))
    except ValueError:
        raise ValueError(f"--layers {text!r} is not a list like 4,5 or 0-3 or 'all'") from None
    if not layers:
        raise ValueError(f"--layers {text!r} names no layer")
    return sorted(layers)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="train a layer-targeted LoRA adapter for a domain, evaluate it and register it",
        description="Train LoRA on the chosen layers only (warm-started from the parent domain's champion), "
        "evaluate it on held-out examples against the base model, and register it as a candidate.",
    )
    parser.add_argument("--domain", required=True, help="domain to tune (for CLINC150 data: its domain, e.g. banking)")
    parser.add_argument("--data", required=True, help="a JSONL file of interactions, a CLINC150 folder, or 'db'")
    parser.add_argument("--layers", required=True, help="layers to adapt: 4,5 or 0-3 or all")
    parser.add_argument("--groups", default="attention,mlp", help="module groups (default attention,mlp)")
    parser.add_argument("--model", default="minilm-l6", help="catalog name or checkpoint folder (default minilm-l6)")
    parser.add_argument("--task", default="classification", choices=TASK_CHOICES)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help=f"database file (default {DEFAULT_DB_PATH})")
    parser.add_argument("--adapters", type=Path, default=DEFAULT_ADAPTERS_DIR, help=f"adapter folders (default {DEFAULT_ADAPTERS_DIR})")
    parser.add_argument("--per-label", type=int, default=None, help="CLINC150: at most this many training examples per intent")
    parser.add_argument("--validation", type=float, default=0.1, help="JSONL/db: validation fraction (default 0.1)")
    parser.add_argument("--test", type=float, default=0.1, help="JSONL/db: test fraction (default 0.1)")
    hyper = parser.add_argument_group("training (see tuner.config.TrainConfig)")
    hyper.add_argument("--rank", type=int, default=8)
    hyper.add_argument("--alpha", type=float, default=16.0)
    hyper.add_argument("--dropout", type=float, default=0.05)
    hyper.add_argument("--lr", type=float, default=1e-3)
    hyper.add_argument("--batch-size", type=int, default=32)
    hyper.add_argument("--epochs", type=int, default=3)
    hyper.add_argument("--max-steps", type=int, default=None)
    hyper.add_argument("--patience", type=int, default=3)
    hyper.add_argument("--eval-every", type=int, default=0, help="steps between validations (0: once per epoch)")
    hyper.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                       help=f"tokens an input keeps (default {DEFAULT_MAX_LENGTH})")
    hyper.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from-scratch", action="store_true", help="do not warm-start from the parent's champion")
    parser.add_argument("--promote", action="store_true",
                        help="make the new adapter the domain's champion (refused, exit 1, when --audit fails)")
    parser.add_argument("--audit", default=None, metavar="ATTRIBUTE", help="also audit the metric gap between groups of this attribute")
    parser.add_argument("--audit-bound", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.set_defaults(func=run)


def load_split(args: argparse.Namespace, db):
    from recsys.datasets import clinc150
    from recsys.events.query import fetch_interactions
    from tuner.data import split_interactions
    from tuner.sources import clinc_split, jsonl_split

    if args.data == "db":
        events = fetch_interactions(db, domain=args.domain)
        return split_interactions(events, validation=args.validation, test=args.test)
    path = Path(args.data)
    if path.is_dir():
        if not clinc150.available(path):
            raise ValueError(f"--data folder {str(path)!r} is not a CLINC150 folder (no data_full.json and domains.json)")
        return clinc_split(path, args.domain, per_label=args.per_label, seed=args.seed)
    if not path.exists():
        raise ValueError(f"--data {args.data!r} does not exist (give a JSONL file, a CLINC150 folder or 'db')")
    if not path.is_file():
        raise ValueError(f"--data {args.data!r} is neither a JSONL file, a CLINC150 folder nor 'db'")
    return jsonl_split(path, args.domain, validation=args.validation, test=args.test)


def run(args: argparse.Namespace) -> int:
    layers = parse_layers(args.layers)
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]

    import torch

    from server.storage import open_store
    from tuner.audit import bias_audit
    from tuner.config import TrainConfig
    from tuner.loading import load_base
    from tuner.registry import AdapterRegistry
    from tuner.tune import tune_domain

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    config = TrainConfig(
        rank=args.rank, alpha=args.alpha, dropout=args.dropout, lr=args.lr, batch_size=args.batch_size,
        epochs=args.epochs, max_steps=args.max_steps, patience=args.patience, eval_every=args.eval_every,
        max_length=args.max_length, seed=args.seed, progress=not args.quiet,
    )
    db = open_store(args.db)
    try:
        split = load_split(args, db)
        base = load_base(args.model, args.task, device=args.device)
        if layers == "all":
            layers = list(range(base.num_layers))
        group_by = ("domain",) + ((args.audit,) if args.audit else ())
        registry = AdapterRegistry(db, args.adapters)
        outcome = tune_domain(
            base, registry, split, domain=args.domain, layers=layers, groups=groups, config=config,
            warm_start=not args.from_scratch, group_by=group_by,
        )
        record = outcome.record
        audit = None
        if args.audit:
            metric = "accuracy" if args.task == "classification" else "token_f1"
            audit = bias_audit(outcome.metrics, args.audit, metric=metric, bound=args.audit_bound)
        refused = args.promote and audit is not None and not audit.passed
        if args.promote and not refused:
            record = registry.promote(record.domain, record.version)
    finally:
        db.close()
    if args.json:
        print(json.dumps({**_as_json(record, outcome, split, audit), "promotion_refused": refused}, indent=2, default=str))
    else:
        print(_as_text(record, outcome, split, audit))
    if refused:
        print(
            f"adaptune tune: not promoted: {record.domain} {record.version} failed the bias audit on {audit.attribute} "
            f"(gap {audit.gap:.4f} > bound {audit.bound}); it stays a candidate and the champion is unchanged",
            file=sys.stderr,
        )
        return 1
    return 0


def _as_json(record, outcome, split, audit) -> dict:
    return {
        "domain": record.domain,
        "version": record.version,
        "status": record.status,
        "path": str(record.path),
        "parent": f"{record.parent_domain}/{record.parent_version}" if record.parent_domain else None,
        "layers": list(record.layers),
        "groups": list(record.module_groups),
        "data": split.sizes(),
        "metrics": outcome.metrics.overall,
        "baseline": outcome.baseline.overall,
        "steps": outcome.result.steps,
        "best_step": outcome.result.best_step,
        "train_seconds": outcome.result.train_seconds,
        "trainable_params": outcome.result.trainable_params,
        "learning_curve": str(outcome.curve),
        "audit": audit.to_json() if audit else None,
    }


def _as_text(record, outcome, split, audit) -> str:
    result, metrics, baseline = outcome.result, outcome.metrics.overall, outcome.baseline.overall
    key = "accuracy" if "accuracy" in metrics else "token_f1"
    sizes = split.sizes()
    lines = [
        f"registered {record.domain} {record.version} ({record.status}) at {record.path}",
        f"  data: {sizes['train']} train, {sizes['validation']} validation, {sizes['test']} test examples",
        f"  layers {list(record.layers)} x {','.join(record.module_groups)}: {result.trainable_params} trainable parameters, "
        f"{result.steps} steps (best {result.best_step}{', stopped early' if result.stopped_early else ''}), "
        f"{result.train_seconds:.1f} s training",
        f"  test {key} {metrics[key]:.4f} (base {baseline[key]:.4f})"
        + (f", macro F1 {metrics['macro_f1']:.4f} (base {baseline['macro_f1']:.4f})" if "macro_f1" in metrics else ""),
        f"  learning curve: {outcome.curve}",
    ]
    if record.parent_domain:
        lines.insert(1, f"  warm-started from {record.parent_domain} {record.parent_version} ({result.warm_started_modules} modules copied)")
    if audit:
        lines.append(
            f"  bias audit on {audit.attribute}: {audit.metric} gap {audit.gap:.4f} (bound {audit.bound}) "
            + ("passed" if audit.passed else "FAILED")
        )
    return "\n".join(lines)
