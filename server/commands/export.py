"""``adaptune export``: a domain's variant as a standalone checkpoint, checked against the variant.

``--merged``: the LoRA adapter merged into a copy of its base model (plain transformers
checkpoint + head). ``--int8``: the same, dynamically quantized to int8 for CPU. Either
is then evaluated against the unmerged variant on held-out examples (``--data``: the
domain's stored interactions by default, a JSONL file, or a CLINC150 folder): agreement
rate, both accuracies, largest logit difference. The database is only read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from server.commands.device_option import add_device_argument
from server.config import DEFAULT_ADAPTERS_DIR, DEFAULT_DB_PATH
from tuner.config import DEFAULT_MAX_LENGTH


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a variant merged (or int8) and compare it with the unmerged variant",
        description="Write a domain's adapter merged into its base model (--merged) or also int8-quantized (--int8) "
        "to --out, then report how closely it follows the unmerged variant on held-out examples.",
    )
    parser.add_argument("--domain", required=True, help="the variant's domain")
    parser.add_argument("--version", default=None, help="adapter version (default: the domain's champion)")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--merged", action="store_true", help="LoRA merged into a float32 copy of the base")
    kind.add_argument("--int8", action="store_true", help="merged, then dynamic int8 quantization of every Linear")
    parser.add_argument("--out", type=Path, required=True, help="export folder (must not exist)")
    add_data_arguments(parser)
    parser.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                        help=f"tokens per input (default {DEFAULT_MAX_LENGTH})")
    parser.add_argument("--limit", type=int, default=None, help="evaluate on at most this many held-out examples")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the registry and the held-out examples come from (shared with ``adaptune distill``)."""
    parser.add_argument("--data", default="db", help="'db' (stored interactions, default), a JSONL file or a CLINC150 folder")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help=f"database file (default {DEFAULT_DB_PATH})")
    parser.add_argument("--adapters", type=Path, default=DEFAULT_ADAPTERS_DIR, help=f"adapter folders (default {DEFAULT_ADAPTERS_DIR})")
    parser.add_argument("--per-label", type=int, default=None, help="CLINC150: at most this many training examples per intent")
    parser.add_argument("--validation", type=float, default=0.1, help="JSONL/db: validation fraction (default 0.1)")
    parser.add_argument("--test", type=float, default=0.1, help="JSONL/db: test fraction (default 0.1, as tune)")
    parser.add_argument("--seed", type=int, default=0)


def open_registry(args: argparse.Namespace):
    """The registry of ``--db`` opened read-only (no server may hold it for writing)."""
    from server.storage import open_store
    from tuner.registry import AdapterRegistry

    if not Path(args.db).exists():
        raise ValueError(f"database {str(args.db)!r} does not exist (nothing registered yet)")
    return AdapterRegistry(open_store(args.db, read_only=True), args.adapters)


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")


def run(args: argparse.Namespace) -> int:
    from server.commands.tune import load_split
    from tuner.serving.export_variant import export_variant, find_record

    check_limit(args.limit)
    if args.max_length < 1:
        raise ValueError(f"--max-length must be >= 1, got {args.max_length}")
    if Path(args.out).exists():
        raise FileExistsError(f"--out {str(args.out)!r} already exists")
    registry = open_registry(args)
    try:
        find_record(registry, args.domain, args.version)  # before reading any data
        split = load_split(args, registry.db)
        examples = split.test[: args.limit] if args.limit else split.test
        if not examples:
            raise ValueError(f"--data {args.data!r} has no held-out (test) examples for domain {args.domain!r}")
        outcome = export_variant(
            registry, args.domain, args.out, kind="int8" if args.int8 else "merged", examples=examples,
            version=args.version, max_length=args.max_length, device=args.device,
        )  # fmt: skip
    finally:
        registry.db.close()
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(format_outcome(outcome))
    return 0


def format_outcome(outcome) -> str:
    report, info = outcome.report, outcome.info
    accuracy = lambda value: "-" if value is None else f"{value:.4f}"  # noqa: E731
    lines = [
        f"exported {info.domain} {info.version} ({info.kind}{', ' + info.quantization if info.quantization else ''}) "
        f"to {outcome.folder}",
        f"  lineage {' -> '.join(info.lineage)} on {info.source_base_model}; variant {info.variant_id}",
        f"  on {report.n} held-out examples: agreement with the unmerged variant {report.agreement:.4f}",
        f"  accuracy: variant {accuracy(report.reference_accuracy)}, export {accuracy(report.candidate_accuracy)}",
        f"  seconds: variant {report.reference_seconds:.3f}, export {report.candidate_seconds:.3f}",
    ]
    if report.max_abs_logit_diff is not None:
        lines.append(f"  largest logit difference {report.max_abs_logit_diff:.2e}")
    return "\n".join(lines)
