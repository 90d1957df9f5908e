"""``adaptune domains add|list``: the domains and their parents (the transfer-learning chains).

Register a parent before traffic names its child: a domain first seen in traffic is
created without a parent, so ``legal -> contracts`` must exist before contracts trains.
Through a running server (``--address``).
"""

from __future__ import annotations

import argparse
import json

from server.commands.connection import add_client_arguments, connect


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("domains", help="add or list domains and their parents")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create or update a domain (its parent, its description)")
    add.add_argument("name", help="1-64 lowercase letters, digits, '_' or '-'")
    add.add_argument("--parent", default=None, help="parent domain (it must exist): adapters warm-start from it")
    add.add_argument("--description", default="", help="what the domain's traffic is about")
    add_client_arguments(add)
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="every domain with its parent")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_client_arguments(listing)
    listing.set_defaults(func=run_list)


def run_add(args: argparse.Namespace) -> int:
    with connect(args, timeout=30) as client:
        record = client.upsert_domain(args.name, args.parent, args.description)
    print(f"domain {record.name}" + (f" (parent {record.parent})" if record.parent else " (no parent)"))
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connect(args, timeout=30) as client:
        records = client.list_domains()
    if args.json:
        print(json.dumps([{"name": r.name, "parent": r.parent, "description": r.description} for r in records], indent=2))
    else:
        print(format_domains(records))
    return 0


def format_domains(records) -> str:
    if not records:
        return "no domains yet"
    rows = [(r.name, r.parent or "-", r.description) for r in records]
    header = ("domain", "parent", "description")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in [header, *rows])
