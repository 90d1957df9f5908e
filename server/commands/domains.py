"""``adaptune domains add|list``: the domains and their parents (the transfer-learning chains).

Register a parent before traffic names its child: a domain first seen in traffic is
created without a parent, so ``legal -> contracts`` must exist before contracts trains.
Through a running server (``--address``).
"""

from __future__ import annotations

import argparse
import json

from recsys.domains import REVIEW_POLICIES
from server.commands.connection import add_client_arguments, connect


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("domains", help="add or list domains and their parents")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create or update a domain (its parent, its description)")
    add.add_argument("name", help="1-64 lowercase letters, digits, '_' or '-'")
    add.add_argument("--parent", default=None, help="parent domain (it must exist): adapters warm-start from it")
    add.add_argument("--description", default="", help="what the domain's traffic is about")
    add.add_argument(
        "--labels", default=None,
        help="the domain's label set, comma-separated names, each optionally NAME=description "
             "(replaces the stored set; omitted: the set is kept)",
    )  # fmt: skip
    add.add_argument("--clear-labels", action="store_true", help="remove the domain's declared label set")
    add.add_argument(
        "--review", default=None, choices=list(REVIEW_POLICIES),
        help="expert review policy (omitted: kept; a new domain gets auto)",
    )  # fmt: skip
    add.add_argument(
        "--review-threshold", type=float, default=0.0,
        help="for --review required_above: the share of held-out answers a candidate may change without a review",
    )  # fmt: skip
    add_client_arguments(add)
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="every domain with its parent")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_client_arguments(listing)
    listing.set_defaults(func=run_list)


def run_add(args: argparse.Namespace) -> int:
    with connect(args, timeout=30) as client:
        record = client.upsert_domain(
            args.name, args.parent, args.description, labels=parse_labels(args.labels), clear_labels=args.clear_labels,
            review_policy=args.review, review_threshold=args.review_threshold,
        )  # fmt: skip
    print(f"domain {record.name}" + (f" (parent {record.parent})" if record.parent else " (no parent)")
          + f", {len(record.labels)} declared labels, review {record.review_policy or 'auto'}")


def parse_labels(text: str | None) -> list[tuple[str, str]] | None:
    """``a,b=what b means`` -> [("a", ""), ("b", "what b means")]; None keeps the stored set.

    Duplicates are passed on, for the server to refuse by name."""
    if text is None:
        return None
    labels = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, description = item.partition("=")
        labels.append((name.strip(), description.strip()))
    if not labels:
        raise ValueError("--labels names no label: pass comma-separated names, or --clear-labels to remove the set")
    return labels
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connect(args, timeout=30) as client:
        records = client.list_domains()
    if args.json:
        print(json.dumps([
            {"name": r.name, "parent": r.parent, "description": r.description, "review_policy": r.review_policy,
             "review_threshold": r.review_threshold, "labels": [{"name": l.name, "description": l.description} for l in r.labels]}
            for r in records
        ], indent=2))  # fmt: skip
    else:
        print(format_domains(records))
    return 0


def format_domains(records) -> str:
    if not records:
        return "no domains yet"
    rows = [(r.name, r.parent or "-", r.review_policy or "auto", str(len(r.labels)), r.description) for r in records]
    header = ("domain", "parent", "review", "labels", "description")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    return "\n".join(
        ("  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:4])) + f"  {row[4]}").rstrip() for row in [header, *rows]
    )
