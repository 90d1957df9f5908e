"""``adaptune variant`` and ``adaptune predict``: what a backend asks at request time.

``variant`` shows which base model and adapter chain serve a user (and why);
``predict`` runs it on texts, optionally beside the bare base model (``--compare-base``).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from typing import Sequence

from server.commands.client_flags import add_tls_flags, tls_options
from server.config import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV, resolve_token


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", help="server HOST:PORT")
    parser.add_argument("--token", default=None, help=f"bearer token (default ${TOKEN_ENV})")
    add_tls_flags(parser)
    parser.add_argument("--user", required=True, help="the user asking (unknown users get a fallback, said so)")
    parser.add_argument("--domain", default=None, help="the domain (default: the user's top predicted domain)")


def register(subparsers: argparse._SubParsersAction) -> None:
    variant = subparsers.add_parser("variant", help="which variant (base + adapter chain) serves a user")
    _connection_arguments(variant)
    variant.set_defaults(func=run_variant)

    predict = subparsers.add_parser("predict", help="predictions of a user's variant for some texts")
    _connection_arguments(predict)
    predict.add_argument("texts", nargs="+", help="inputs, one per argument")
    predict.add_argument("--compare-base", action="store_true", help="also show the bare base model's answers")
    predict.add_argument("--max-new-tokens", type=int, default=None, help="generation only")
    predict.set_defaults(func=run_predict)


def _client(args: argparse.Namespace):
    from server.client import AdaptuneClient

    return AdaptuneClient(args.address, token=resolve_token(args.token), timeout=120, **tls_options(args))


def format_variant(variant) -> str:
    chain = " -> ".join(f"{ref.domain}@{ref.version}" for ref in variant.chain) or "(base model only)"
    lines = [
        f"variant {variant.variant_id}: {variant.base_model} ({variant.task}) + {chain}",
        f"  domain {variant.domain} (from {variant.domain_source}), user known: {variant.user_known}",
    ]
    if variant.fallback:
        lines.append(f"  fallback: {variant.fallback_reason}")
    return "\n".join(lines)


def _answer(prediction) -> str:
    return prediction.text if prediction.text else f"{prediction.label} ({prediction.score:.2f})"


def run_variant(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(format_variant(client.get_variant(args.user, args.domain)))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.predict(args.user, args.texts, args.domain, max_new_tokens=args.max_new_tokens)
        base = client.predict(args.user, args.texts, args.domain, base_only=True) if args.compare_base else None
    print(format_variant(result.variant))
    for index, text in enumerate(args.texts):
        line = f"  {text!r}\n    variant: {_answer(result.predictions[index])}"
        if base is not None:
            line += f"\n    base:    {_answer(base.predictions[index])}"
        print(line)
    return 0


def _demo_user(traffic: Sequence, domain: str) -> str:
    """The user who sent the most events in ``domain``: a known user with history there."""
    counts = Counter(event.user_id for event in traffic if event.domain == domain)
    return counts.most_common(1)[0][0]


def _labeled(traffic: Sequence, domain: str, limit: int) -> list[tuple[str, str]]:
    """(text, right answer) pairs of the domain, taken from the end of the log (latest)."""
    pairs = [(e.input_text, e.label) for e in traffic if e.domain == domain and e.label]
    return pairs[-limit:]


def demo_step(ctx) -> None:
    """A ``server.demo`` step: a personalized variant's answers beside the base model's.

    Picks the domain whose adapter the cycle promoted (else the first ranked), asks for the
    variant of that domain's most active user without naming the domain (routing by the
    ranking), then scores variant and base on the domain's latest labeled interactions.
    """
    promoted = _promoted_domains(ctx)
    domains_by_volume = Counter(event.domain for event in ctx.traffic)
    domain = promoted[0] if promoted else domains_by_volume.most_common(1)[0][0]
    user = _demo_user(ctx.traffic, domain)
    variant = ctx.client.get_variant(user)
    print("  " + format_variant(variant).replace("\n", "\n  "))
    pairs = _labeled(ctx.traffic, domain, limit=60)
    texts = [text for text, _ in pairs]
    tuned = ctx.client.predict(user, texts, domain)
    base = ctx.client.predict(user, texts, domain, base_only=True)
    right: dict[str, int] = defaultdict(int)
    for (text, gold), mine, theirs in zip(pairs, tuned.predictions, base.predictions):
        right["variant"] += mine.label == gold
        right["base"] += theirs.label == gold
    print(f"  {user} in {domain}: variant {tuned.variant.variant_id} vs the bare base model, {len(pairs)} latest labeled queries")
    for (text, gold), mine, theirs in list(zip(pairs, tuned.predictions, base.predictions))[:5]:
        print(f"    {text[:60]!r:64} right: {gold:<24} variant: {mine.label:<24} base: {theirs.label}")
    print(
        f"  accuracy: variant {right['variant'] / len(pairs):.3f}, base {right['base'] / len(pairs):.3f} "
        f"(these queries may include ones the adapter trained on; the cycle's held-out numbers are above)"
    )
    ctx.results["variant"] = {"user": user, "domain": domain, "variant_id": tuned.variant.variant_id, **right}


def _promoted_domains(ctx) -> list[str]:
    """Domains that have a champion now (the cycle just promoted them, or an earlier one did)."""
    return [adapter.domain for adapter in ctx.client.list_adapters() if adapter.status == "champion"]
