"""``adaptune adapters list|promote|rollback``: the adapter registry.

Through a running server's RPCs (``--address``, the local server by default), or with
``--db FILE`` straight from a database file no server holds (listing opens it
read-only). A promotion through the server is picked up by its next Predict.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

from server.commands.connection import add_client_arguments, connect
from server.config import DEFAULT_ADAPTERS_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("adapters", help="list, promote or roll back registered adapters")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        add_client_arguments(sub)
        sub.add_argument("--db", type=Path, default=None, help="use this database file directly instead of a server (none may hold it)")
        sub.add_argument("--adapters", type=Path, default=DEFAULT_ADAPTERS_DIR, help=f"with --db: adapter folders (default {DEFAULT_ADAPTERS_DIR})")

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

    rollback = actions.add_parser(
        "rollback", help="retire the champion and restore the previous one (the domain needs an earlier champion)"
    )
    common(rollback)
    rollback.add_argument("--domain", required=True)
    rollback.set_defaults(func=run_rollback)


def _registry(args: argparse.Namespace, read_only: bool):
    from server.storage import open_store
    from tuner.registry import AdapterRegistry

    if read_only and not Path(args.db).exists():
        raise ValueError(f"database {str(args.db)!r} does not exist (nothing registered yet)")
    return AdapterRegistry(open_store(args.db, read_only=read_only), args.adapters)


def _through_server_or_file(args: argparse.Namespace, on_server: Callable, on_registry: Callable, *, read_only: bool):
    """``on_server(client)`` through the server, or ``on_registry(registry)`` on ``--db`` when given."""
    if args.db is None:
        with connect(args, timeout=30, db_flag=True) as client:
            return on_server(client)
    registry = _registry(args, read_only=read_only)
    try:
        return on_registry(registry)
    finally:
        registry.db.close()


def run_list(args: argparse.Namespace) -> int:
    from tuner.review.store import reviews_by_version

    records, review_list = _through_server_or_file(
        args,
        lambda client: (client.list_adapters(args.domain), client.list_reviews(args.domain)),
        lambda registry: (registry.list(args.domain), list(reviews_by_version(registry.db, args.domain).values())),
        read_only=True,
    )
    reviews = {(r.domain, r.version): r for r in review_list}
    if args.json:
        print(json.dumps([_record_json(r, reviews.get((r.domain, r.version))) for r in records], indent=2, default=str))
    else:
        print(format_adapters(records, reviews))
    return 0


def run_promote(args: argparse.Namespace) -> int:
    record = _through_server_or_file(
        args, lambda client: client.promote_adapter(args.domain, args.version),
        lambda registry: registry.promote(args.domain, args.version), read_only=False,
    )  # fmt: skip
    print(f"{record.domain} {record.version} is now the champion")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    record = _through_server_or_file(
        args, lambda client: client.rollback_adapter(args.domain), lambda registry: registry.rollback(args.domain),
        read_only=False,
    )  # fmt: skip
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
    """A registry record (--db) or a server's AdapterSummary; fields only the record has are added when present."""
    row = {
        "domain": record.domain,
        "version": record.version,
        "status": record.status,
        "base_model": record.base_model,
        "parent": f"{record.parent_domain}/{record.parent_version}" if record.parent_domain else None,
        "layers": list(record.layers),
        "metrics": {k: v for k, v in record.metrics.items() if isinstance(v, (int, float))},
        "created_at": record.created_at,
        "review": None if review is None else {
            "status": review.status, "by": review.decided_by, "at": review.decided_at, "reason": review.reason,
        },
    }
    if hasattr(record, "path"):
        row.update(task=record.task, groups=list(record.module_groups), path=str(record.path),
                   data_window=list(record.data_window) if record.data_window else None)  # fmt: skip
    return row


def format_adapters(records, reviews: dict | None = None) -> str:
    if not records:
        return "no adapters registered"
    rows = [
        (
            r.domain, r.version, r.status, r.base_model,
            ",".join(map(str, r.layers)), f"{r.parent_domain}/{r.parent_version}" if r.parent_domain else "-",
            _headline(r.metrics), r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else "-",
            _review_note((reviews or {}).get((r.domain, r.version))),
        )
        for r in records
    ]
    header = ("domain", "version", "status", "base", "layers", "parent", "metric", "created", "review")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = lambda row: "  ".join(f"{str(cell):<{w}}" for cell, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header)] + [line(row) for row in rows])
