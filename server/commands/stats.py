"""``adaptune stats``: what a running server has stored, per domain and feedback (through the RPC)."""

from __future__ import annotations

import argparse
import json

from recsys.events.model import Feedback
from recsys.events.query import InteractionStats
from server.commands.client_flags import add_tls_flags, tls_options
from server.config import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV, resolve_token


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="interaction counts of a running server",
        description="Ask a running server how many interactions it stored, per domain and feedback.",
    )
    parser.add_argument("--address", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", help="server HOST:PORT")
    parser.add_argument("--token", default=None, help=f"bearer token (default ${TOKEN_ENV})")
    add_tls_flags(parser)
    parser.add_argument("--domain", default=None, help="only this domain")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.client import AdaptuneClient

    with AdaptuneClient(args.address, token=resolve_token(args.token), timeout=30, **tls_options(args)) as client:
        stats = client.interaction_stats(domain=args.domain)
    if args.json:
        print(json.dumps({"total": stats.total, "users": stats.users, "by_domain": stats.by_domain()}, indent=2))
    else:
        print(format_stats(stats))
    return 0


def format_stats(stats: InteractionStats) -> str:
    """A fixed-width table: one row per domain, one column per feedback, totals last."""
    columns = [f.value for f in Feedback]
    table = stats.by_domain()
    width = max([len("domain"), len("total"), *map(len, table)])
    lines = [f"{'domain':<{width}}  " + "  ".join(f"{c:>9}" for c in columns) + f"  {'total':>9}"]
    for domain, counts in table.items():
        cells = [counts.get(c, 0) for c in columns]
        lines.append(f"{domain:<{width}}  " + "  ".join(f"{n:>9}" for n in cells) + f"  {sum(cells):>9}")
    sums = [sum(counts.get(c, 0) for counts in table.values()) for c in columns]
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{n:>9}" for n in sums) + f"  {stats.total:>9}")
    lines.append(f"{stats.users} distinct users")
    return "\n".join(lines)
