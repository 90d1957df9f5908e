"""``adaptune adapters list|promote|rollback``: the adapter registry from a database file.

Opens ``--db`` directly, so no server may hold it (the error says so); listing opens it
read-only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from server.config import DEFAULT_ADAPTERS_DIR, DEFAULT_DB_PATH


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("adapters", help="list, promote or roll back registered adapters")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help=f"database file (default {DEFAULT_DB_PATH})")
        sub.add_argument("--adapters", type=Path, default=DEFAULT_ADAPTERS_DIR, help=f"adapter folders (default {DEFAULT_ADAPTERS_DIR})")

    listing = actions.add_parser("list", help="every adapter version, per domain")
    common(listing)
    listing.add_argument("--domain", default=None, help="only this domain")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    promote = actions.add_parser("promote", help="make a version its domain's champion")
    common(promote)
    promote.add_argument("--domain", required=True)
    promote.add_argument("--version", required=True)
    promote.set_defaults(func=run_promote)

    rollback = actions.add_parser("rollback", help="retire the champion and restore the previous one")
    common(rollback)
    rollback.add_argument("--domain", required=True)
    rollback.set_defaults(func=run_rollback)


def _registry(args: argparse.Namespace, read_only: bool):
    from server.storage import open_store
    from tuner.registry import AdapterRegistry

    if read_only and not Path(args.db).exists():
        raise ValueError(f"database {str(args.db)!r} does not exist (nothing registered yet)")
    return AdapterRegistry(open_store(args.db, read_only=read_only), args.adapters)


def run_list(args: argparse.Namespace) -> int:
    from tuner.review.store import reviews_by_version

    registry = _registry(args, read_only=True)
    try:
        records = registry.list(args.domain)
        reviews = reviews_by_version(registry.db, args.domain)
    finally:
        registry.db.close()
    if args.json:
        print(json.dumps([_record_json(r, reviews.get((r.domain, r.version))) for r in records], indent=2, default=str))
    else:
        print(format_adapters(records, reviews))
    return 0


def run_promote(args: argparse.Namespace) -> int:
    registry = _registry(args, read_only=False)
    try:
        record = registry.promote(args.domain, args.version)
    finally:
        registry.db.close()
    print(f"{record.domain} {record.version} is now the champion")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    registry = _registry(args, read_only=False)
    try:
        record = registry.rollback(args.domain)
    finally:
        registry.db.close()
    print(f"rolled back {record.domain}: {record.version} is the champion again")
    return 0


def _headline(metrics: dict) -> str:
    for key in ("accuracy", "token_f1"):
        if isinstance(metrics.get(key), (int, float)):
            return f"{key} {metrics[key]:.4f}"
    return "-"


def _review_note(review) -> str:
    """An expert review's outcome, e.g. ``approved by token: checked samples``."""
    if review is None:
        return "-"
    if review.status == "awaiting":
        return "awaiting review"
    return f"{review.status} by {review.decided_by}" + (f": {review.reason}" if review.reason else "")


def _record_json(record, review=None) -> dict:
    return {
        "domain": record.domain,
        "version": record.version,
        "status": record.status,
        "base_model": record.base_model,
        "task": record.task,
        "parent": f"{record.parent_domain}/{record.parent_version}" if record.parent_domain else None,
        "layers": list(record.layers),
        "groups": list(record.module_groups),
        "metrics": {k: v for k, v in record.metrics.items() if isinstance(v, (int, float))},
        "data_window": list(record.data_window) if record.data_window else None,
        "created_at": record.created_at,
        "path": str(record.path),
        "review": None if review is None else {
            "status": review.status, "by": review.decided_by, "at": review.decided_at, "reason": review.reason,
        },
    }


def format_adapters(records, reviews: dict | None = None) -> str:
    if not records:
        return "no adapters registered"
    rows = [
        (
            r.domain, r.version, r.status, r.base_model,
            ",".join(map(str, r.layers)), f"{r.parent_domain}/{r.parent_version}" if r.parent_domain else "-",
            _headline(r.metrics), r.created_at.strftime("%Y-%m-%d %H:%M"),
            _review_note((reviews or {}).get((r.domain, r.version))),
        )
        for r in records
    ]
    header = ("domain", "version", "status", "base", "layers", "parent", "metric", "created", "review")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = lambda row: "  ".join(f"{str(cell):<{w}}" for cell, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header)] + [line(row) for row in rows])
