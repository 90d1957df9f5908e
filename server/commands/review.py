"""``adaptune review list|show|approve|reject``: a person's look at held candidates, and the decision.

A domain whose review policy is ``required`` (or ``required_above`` a share of changed
answers) keeps a candidate that passed the gate ``awaiting`` until someone approves it
(it becomes the champion, if the champion is still the one it was compared against) or
rejects it with a reason. Everything goes through the server (``--address``).
"""

from __future__ import annotations

import argparse
import json
import textwrap

from server.commands.connection import add_client_arguments, connect

# Columns of one side-by-side sample line.
SAMPLE_WIDTH = 38


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("review", help="expert review: list, show, approve or reject held candidates")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    common = add_client_arguments

    listing = actions.add_parser("list", help="held candidates, awaiting first")
    common(listing)
    listing.add_argument("--domain", default=None, help="only this domain")
    listing.add_argument("--status", default=None, help="awaiting, approved, rejected or superseded (default: all)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    for name, helptext in (("show", "the evidence of one held candidate"),
                           ("approve", "promote a held candidate"),
                           ("reject", "reject a held candidate (reason required)")):
        sub = actions.add_parser(name, help=helptext)
        common(sub)
        sub.add_argument("domain")
        sub.add_argument("version")
        if name == "show":
            sub.add_argument("--json", action="store_true", help="print JSON")
        else:
            sub.add_argument("--reason", required=name == "reject", default="", help="why (recorded with the decision)")
        sub.set_defaults(func={"show": run_show, "approve": run_approve, "reject": run_reject}[name])


def _client(args: argparse.Namespace):
    return connect(args, timeout=60)


def run_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        reviews = client.list_reviews(args.domain, args.status)
    if args.json:
        print(json.dumps([review_json(r) for r in reviews], indent=2, default=str))
    else:
        print(format_reviews(reviews))
    return 0


def run_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        review = client.get_review(args.domain, args.version)
    print(json.dumps(review_json(review), indent=2, default=str) if args.json else format_review(review))
    return 0


def run_approve(args: argparse.Namespace) -> int:
    with _client(args) as client:
        review = client.approve_candidate(args.domain, args.version, args.reason)
    print(f"approved {review.domain} {review.version} (by {review.decided_by}): it is now the champion")
    return 0


def run_reject(args: argparse.Namespace) -> int:
    with _client(args) as client:
        review = client.reject_candidate(args.domain, args.version, args.reason)
    print(f"rejected {review.domain} {review.version} (by {review.decided_by}): {review.reason}")
    return 0


def review_json(review) -> dict:
    return {k: v for k, v in review.__dict__.items()}


def _champion(review) -> str:
    return review.champion_version or "base model"


def _decision(review) -> str:
    if review.status == "awaiting":
        expires = review.evidence.get("expires_at")
        return f"expires {expires:%Y-%m-%d %H:%M}" if expires else "-"
    return f"{review.decided_by}: {review.reason}"


def format_reviews(reviews) -> str:
    if not reviews:
        return "no candidates held for review"
    rows = []
    for r in reviews:
        gate = r.evidence.get("gate", {})
        metric = gate.get("metric", "")
        before, after = gate.get("reference", {}).get(metric), gate.get("candidate", {}).get(metric)
        rows.append((
            r.domain, r.version, r.status, f"vs {_champion(r)}",
            f"{metric} {before:.3f}->{after:.3f}" if before is not None and after is not None else "-",
            f"{r.change_rate:.0%} changed", r.created_at.strftime("%Y-%m-%d %H:%M"), _decision(r),
        ))  # fmt: skip
    header = ("domain", "version", "status", "compared", "metric", "answers", "held", "decision")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = lambda row: "  ".join(f"{str(cell):<{w}}" for cell, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header)] + [line(row) for row in rows])


def _cell(text: str) -> list[str]:
    return textwrap.wrap(str(text), SAMPLE_WIDTH) or [""]


def format_review(review) -> str:
    """Everything a reviewer needs on one screen: gate, audits, training, and changed answers."""
    ev = review.evidence
    gate = ev.get("gate", {})
    metric = gate.get("metric", "")
    reference = gate.get("reference", {})
    window = ev.get("data_window")
    out = [
        f"{review.domain} {review.version}: {review.status}  (cycle {review.cycle_id}, policy {review.policy}"
        + (f" above {review.threshold:.0%}" if review.policy == "required_above" else "") + ")",
        f"decision: {_decision(review)}",
        "",
        f"gate vs {_champion(review)} on {ev.get('n_test', 0)} held-out examples:",
    ]
    for name in sorted(k for k in gate.get("candidate", {}) if k != "n"):
        theirs = reference.get(name)
        out.append(f"  {name:<16} {theirs if theirs is None else f'{theirs:.4f}'} -> {gate['candidate'][name]:.4f}")
    out.append(f"  gain {gate.get('gain', 0):+.4f} on {metric}; {gate.get('reason', '')}")
    out.append("bias audit:")
    for audit in gate.get("audits", []) or [{"attribute": "(none)", "per_group": {}, "gap": 0, "bound": 0, "passed": True}]:
        groups = ", ".join(f"{g} {v:.3f}" for g, v in audit["per_group"].items())
        out.append(f"  {audit['attribute']}: gap {audit['gap']:.3f} (bound {audit['bound']:g}, "
                   f"{'passed' if audit['passed'] else 'FAILED'}) {groups}")
    out.append(f"trained: layers {ev.get('layers')} x {','.join(ev.get('module_groups', []))}, "
               f"data seq {window[0] + 1}..{window[1]}" if window else "trained: -")
    out.append(f"answers changed: {ev.get('n_changed', 0)} of {ev.get('n_test', 0)} ({review.change_rate:.1%}); "
               f"{len(ev.get('samples', []))} shown" + (" (! marks a wrong candidate answer)" if ev.get("samples") else ""))
    header = ("input", "candidate", f"champion ({_champion(review)})", "gold")
    samples = ev.get("samples", [])
    keys = ("input", "candidate", "champion", "gold")
    widths = [SAMPLE_WIDTH] + [max([len(header[j])] + [len(str(s[k])) for s in samples]) for j, k in enumerate(keys) if j]
    join = lambda parts: " | ".join(p.ljust(w) for p, w in zip(parts, widths)).rstrip()  # noqa: E731
    if samples:
        out.append("  " + join(header))
    for sample in samples:
        cells = [_cell(sample["input"])] + [[str(sample[k])] for k in keys[1:]]
        for row in range(len(cells[0])):
            mark = "!" if row == 0 and sample["candidate"] != sample["gold"] else " "
            out.append(f"{mark} " + join([c[row] if row < len(c) else "" for c in cells]))
    return "\n".join(out)
