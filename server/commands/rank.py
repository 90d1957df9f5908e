"""``adaptune rank``: which domains and layers to tune, with the evidence, as a table.

Through a running server (``--address``), or straight from a database file opened
read-only when no server holds it (``--db``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from server.commands.client_flags import add_tls_flags, tls_options
from server.config import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV, resolve_token


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rank",
        help="rank domains and adapter layers from the interaction log",
        description="Rank where tuning pays (domains by predicted demand x error rate) and the layers to adapt "
        "per domain under a compute budget, with the evidence behind each row.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--address", default=None, help=f"server HOST:PORT (default {DEFAULT_HOST}:{DEFAULT_PORT})")
    source.add_argument("--db", type=Path, default=None, help="read this database file directly (no server running)")
    parser.add_argument("--token", default=None, help=f"bearer token (default ${TOKEN_ENV})")
    add_tls_flags(parser)
    parser.add_argument("--user", default=None, help="rank for this user (an unknown user gets the cold-start ranking)")
    parser.add_argument("--top-k", type=int, default=3, help="domains to show, 1..100 (default 3)")
    parser.add_argument("--budget", type=float, default=None,
                        help="layer budget, fraction of all-layers cost (default: recsys.layers.DEFAULT_LAYER_BUDGET, 0.35)")
    parser.add_argument("--domain", default=None, help="only this domain")
    parser.add_argument("--base-model", default=None, help="whose probes rank layers (default: the most probed)")
    parser.add_argument("--heatmap", type=Path, default=None, help="also write a layer-importance heatmap PNG here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 2 with one line on an expected failure (empty log, no probes for --base-model)."""
    from recsys.ranking import RankingError

    try:
        return _run(args)
    except (RankingError, LookupError) as exc:
        print(f"adaptune rank: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from recsys.layers import DEFAULT_LAYER_BUDGET
    from recsys.targets import TargetRequest

    request = TargetRequest(
        user_id=args.user or "",
        top_k=args.top_k,
        layer_budget=DEFAULT_LAYER_BUDGET if args.budget is None else args.budget,
        domain=args.domain or "",
        base_model=args.base_model or "",
    )
    ranking = _from_db(args.db, request) if args.db else _from_server(args, request)
    if args.json:
        print(json.dumps(_as_json(ranking), indent=2))
    else:
        print(format_ranking(ranking))
    if args.heatmap:
        print(f"heatmap: {_heatmap(ranking, args.heatmap)}")
    return 0


def _from_db(path: Path, request):
    from recsys.targets import TargetRanker
    from server.storage import open_store

    db = open_store(path, read_only=True)
    try:
        return TargetRanker().rank(db, request, include_importance=True)
    finally:
        db.close()


def _from_server(args: argparse.Namespace, request):
    from server.client import AdaptuneClient

    address = args.address or f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    token = resolve_token(args.token)
    with AdaptuneClient(address, token=token, timeout=120, **tls_options(args)) as client:
        return client.rank_targets(
            user_id=request.user_id or None,
            top_k=request.top_k,
            layer_budget=request.layer_budget,
            domain=request.domain or None,
            base_model=request.base_model or None,
            include_importance=args.heatmap is not None,
        )


def _heatmap(ranking, path: Path) -> Path:
    """From the full matrix when we have it (--db), else from the returned domains' rows."""
    from recsys.layers import importance_from_rows
    from tuner.reports.layer_heatmap import plot_layer_heatmap

    if not ranking.base_model:
        raise ValueError("no layer probes recorded yet: nothing to draw (run a tuning cycle or a probe first)")
    importance = ranking.importance
    if importance is None:
        importance = importance_from_rows(
            ranking.base_model,
            {d.score.domain: d.importance for d in ranking.domains},
            {d.score.domain: d.probe_count for d in ranking.domains},
            ranking.num_layers,
        )
    return plot_layer_heatmap(importance, path, ranking.selections or _selections(ranking))


def _selections(ranking) -> dict:
    from recsys.layers import LayerSelection

    return {
        d.score.domain: LayerSelection(
            targets=tuple(sorted((s.layer, s.module_group) for s in d.layers)), cost=d.layer_cost, captured=0.0
        )
        for d in ranking.domains
    }


def compress_layers(layers: Iterable[int]) -> str:
    """[29, 28, 27, 25] -> '25,27-29'."""
    ordered = sorted(set(layers))
    parts: list[str] = []
    start = prev = None
    for layer in ordered + [None]:
        if start is not None and (layer is None or layer != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if layer is not None and start is None:
            start = layer
        prev = layer
    return ",".join(parts)


def _layers_cell(targets) -> str:
    if not targets.layers:
        return "-"
    by_group: dict[str, list[int]] = {}
    for score in targets.layers:
        by_group.setdefault(score.module_group, []).append(score.layer)
    sources = {s.source for s in targets.layers}
    source = sources.pop() if len(sources) == 1 else "probe+cf"
    groups = "; ".join(f"{group} {compress_layers(layers)}" for group, layers in sorted(by_group.items()))
    return f"{groups} (cost {targets.layer_cost:.2f}, {source})"


def format_ranking(ranking) -> str:
    """A header saying what was ranked and how, then one row per domain with its evidence."""
    if ranking.user_id:
        who = f"for user {ranking.user_id!r}" + (
            " (cold start: unknown user, popular-and-struggling domains)" if ranking.cold_start else ""
        )
    else:
        who = "global (mean predicted affinity x need over all users)"
    layers = (
        f"layers of {ranking.base_model} ({ranking.num_layers} layers) under budget {ranking.layer_budget:g}"
        if ranking.base_model
        else "no layer probes yet: domains only"
    )
    lines = [
        f"ranking {who}",
        f"{ranking.method.upper()} on {ranking.events_used:,} events; {layers}",
        "",
    ]
    header = ["#", "domain", "score", "affinity", "need", "errors", "events", "neg", "corr", "users", "probes", "layers"]
    rows = []
    for rank, targets in enumerate(ranking.domains, start=1):
        s = targets.score
        rows.append([
            str(rank), s.domain, f"{s.score:.4f}", f"{s.affinity:.3f}", f"{s.need:.3f}", f"{s.error_rate:.1%}",
            f"{s.event_count:,}", f"{s.negative_count:,}", f"{s.corrected_count:,}", f"{s.user_count:,}",
            str(targets.probe_count), _layers_cell(targets),
        ])
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]
    align_left = {1, 11}

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in align_left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines.append(line(header))
    lines.extend(line(r) for r in rows)
    lines += [
        "",
        "score = affinity x need; affinity = predicted use of the domain (ALS/BPR), need = error rate smoothed "
        "toward the global one; errors = (negative + corrected) / events.",
    ]
    return "\n".join(lines)


def _as_json(ranking) -> dict:
    return {
        "user_id": ranking.user_id,
        "cold_start": ranking.cold_start,
        "method": ranking.method,
        "events_used": ranking.events_used,
        "base_model": ranking.base_model,
        "num_layers": ranking.num_layers,
        "layer_budget": ranking.layer_budget,
        "domains": [
            {
                **asdict(d.score),
                "probe_count": d.probe_count,
                "layer_cost": d.layer_cost,
                "layers": [asdict(s) for s in d.layers],
            }
            for d in ranking.domains
        ],
    }


def demo_step(ctx) -> None:
    """A ``server.demo`` step: the global ranking of what the demo's traffic says to tune."""
    ranking = ctx.client.rank_targets(top_k=3)
    ctx.results["ranking"] = ranking
    print("  " + format_ranking(ranking).replace("\n", "\n  "))
