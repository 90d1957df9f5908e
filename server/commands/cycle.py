"""``adaptune cycle``: run a targeted tuning cycle on the server and print its progress live.

The server ranks the domains of the events since the last cycle, probes and tunes the
top ones on their most important layers, gates each candidate against its champion and
promotes or keeps it. ``--history N`` lists the last cycles instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, TextIO

from server.commands.client_flags import add_tls_flags, tls_options
from server.config import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV, resolve_token


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cycle",
        help="run a targeted tuning cycle on the server (rank, probe, tune, gate, promote)",
        description="Run one cycle over the events since the last one, printing its progress as it happens. "
        "Options left out take the server's configured values.",
    )
    parser.add_argument("--address", default=None, help=f"server HOST:PORT (default {DEFAULT_HOST}:{DEFAULT_PORT})")
    parser.add_argument("--token", default=None, help=f"bearer token (default ${TOKEN_ENV})")
    add_tls_flags(parser)
    parser.add_argument("--max-domains", type=int, default=None, help="tune at most this many domains")
    parser.add_argument("--budget", type=float, default=None,
                        help="compute budget per domain: fraction (0, 1] of the cost of adapting every layer")
    parser.add_argument("--min-examples", type=int, default=None, help="new labeled examples a domain needs")
    parser.add_argument("--domains", default=None, help="only these domains, comma separated")
    parser.add_argument("--dry-run", action="store_true", help="rank and plan only: nothing trained or registered")
    parser.add_argument("--json", action="store_true", help="print the cycle's summary as JSON at the end")
    parser.add_argument("--history", type=int, default=None, metavar="N", help="list the last N cycles instead")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.client import AdaptuneClient

    address = args.address or f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    token = resolve_token(args.token)
    domains = tuple(d.strip() for d in (args.domains or "").split(",") if d.strip())
    with AdaptuneClient(address, token=token, timeout=60, **tls_options(args)) as client:
        if args.history is not None:
            print(format_cycles(client.list_cycles(args.history)))
            return 0
        printer = EventPrinter(sys.stdout)
        finished = client.run_cycle(
            on_event=printer, max_domains=args.max_domains, layer_budget=args.budget,
            min_examples=args.min_examples, dry_run=args.dry_run, domains=domains,
        )  # fmt: skip
    if args.json:
        print(json.dumps(finished.summary, indent=2))
    return 0


class EventPrinter:
    """One line per event; training steps overwrite each other on a terminal."""

    def __init__(self, out: TextIO, indent: str = "") -> None:
        self.out = out
        self.indent = indent
        self._inline = False

    def __call__(self, event) -> None:
        if event.stage == "training" and event.step and self.out.isatty():
            self.out.write(f"\r{self.indent}  train {event.domain}: {event.message}\033[K")
            self.out.flush()
            self._inline = True
            return
        if self._inline:
            self.out.write("\n")
            self._inline = False
        self.out.write(self.indent + format_event(event) + "\n")
        if event.stage == "finished" and event.summary:
            self.out.write(self.indent + format_summary(event.summary).replace("\n", "\n" + self.indent) + "\n")
        self.out.flush()


_LABELS: dict[str, Callable] = {
    "started": lambda e: f"cycle {e.cycle_id}: {e.message}",
    "ranked": lambda e: f"  ranked: {e.message}",
    "skipped": lambda e: f"  skip {e.domain}: {e.message}",
    "planned": lambda e: f"  plan {e.domain}: {e.message}",
    "probing": lambda e: f"  probe {e.domain}: {e.message}",
    "training": lambda e: f"  train {e.domain}: {e.message}",
    "evaluated": lambda e: f"  gate {e.domain} {e.adapter_version}: {e.message}",
    "promoted": lambda e: f"  PROMOTED {e.domain} {e.adapter_version}",
    "kept": lambda e: f"  kept the current model of {e.domain} ({e.adapter_version} rejected)",
    "finished": lambda e: f"finished: {e.message}" + (f"\nreport: {e.report_path}" if e.report_path else ""),
    "failed": lambda e: f"FAILED: {e.message}",
}


def format_event(event) -> str:
    return _LABELS.get(event.stage, lambda e: f"  {e.stage} {e.domain}: {e.message}")(event)


def format_summary(summary: dict) -> str:
    """Before/after per tuned domain, on the same held-out rows."""
    rows = summary.get("domains") or []
    if not rows:
        return "no domain was tuned" + (" (dry run)" if summary.get("dry_run") else "")
    header = ("domain", "version", "layers", "params", "before", "after", "gain", "decision")
    lines = []
    for d in rows:
        gate = d["gate"]
        metric = gate["metric"]
        reference = gate["reference"]
        lines.append((
            d["domain"], d["version"], ",".join(map(str, d["layers"])), f"{d['train']['trainable_params']:,}",
            f"{reference[metric]:.4f} ({reference['kind']})", f"{gate['candidate'][metric]:.4f}", f"{gate['gain']:+.4f}",
            "promoted" if gate["decision"] == "promote" else "kept current",
        ))  # fmt: skip
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *lines]]
    return f"held-out {rows[0]['gate']['metric']} before and after:\n" + "\n".join(text)


def format_cycles(records) -> str:
    if not records:
        return "no cycles yet"
    lines = []
    for r in records:
        promoted = r.summary.get("promoted") or []
        what = f"promoted {promoted}" if promoted else (r.error or "nothing promoted")
        lines.append(f"{r.cycle_id}  {r.status:<11}  seq {r.watermark_from + 1}..{r.watermark_to}  {what}")
    return "\n".join(lines)


def demo_step(ctx) -> None:
    """A ``server.demo`` step: one cycle on the demo's traffic, progress and before/after printed."""
    ctx.results["cycle"] = ctx.client.run_cycle(on_event=EventPrinter(sys.stdout, indent="  "))
