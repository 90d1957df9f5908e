"""Example traffic the project writes itself: support, legal and contracts questions.

A few hundred interactions in the shape the service expects from a product backend:
users with home domains and attributes (region, plan), a model that answers with an
intent label, and feedback that is positive when it was right and mostly a correction
when it was wrong. Error rates differ by domain (contracts is hardest) and are higher
for one region, so ranking has a need to find and the bias audit has a gap to measure.
Deterministic for a seed; no files are read.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from recsys.domains import DomainRecord
from recsys.events.model import Feedback, Interaction

EXAMPLE_DOMAINS: tuple[DomainRecord, ...] = (
    DomainRecord("customer_support", None, "Orders, accounts and billing questions from customers"),
    DomainRecord("legal", None, "General legal questions from the in-house legal assistant"),
    DomainRecord("contracts", "legal", "Questions about clauses of customer and supplier contracts"),
)

# domain -> intent -> question templates ({n}, {product}, {party}, {days} are filled in)
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "customer_support": {
        "refund_request": [
            "I want my money back for order {n}, the {product} arrived broken",
            "Can I get a refund on the {product}? It stopped working after two days",
            "please refund order {n}, I returned it last week",
        ],
        "password_reset": [
            "I can't log in, the reset link never arrives",
            "how do I change my password, I forgot the old one",
            "my account is locked after too many login attempts",
        ],
        "shipping_status": [
            "where is my order {n}? it was due yesterday",
            "the tracking for my {product} hasn't moved in {days} days",
            "has order {n} shipped yet",
        ],
        "cancel_subscription": [
            "cancel my subscription before the next billing date",
            "how do I stop the monthly plan, I don't use it anymore",
            "I want to end my membership today",
        ],
        "billing_dispute": [
            "I was charged twice for order {n}",
            "there is a charge on my card I don't recognise from your company",
            "why did my invoice go up this month without notice",
        ],
        "update_address": [
            "I moved, please change the delivery address on order {n}",
            "update my billing address to the new office",
            "can I ship the {product} to a different address",
        ],
    },
    "legal": {
        "gdpr_request": [
            "a customer asked us to delete all their personal data, what do we have to do",
            "how long do we have to answer a data subject access request",
            "can we refuse an erasure request if the customer still owes us money",
        ],
        "liability_question": [
            "are we liable if the {product} we sold injures someone",
            "can a customer sue us for a delay caused by our supplier",
            "what is our exposure if the software outage lasted {days} days",
        ],
        "ip_ownership": [
            "who owns the code a freelancer wrote for us",
            "can we reuse the design {party} made for another client",
            "do we need a licence to use this open source library commercially",
        ],
        "employment_law": [
            "how much notice do we owe an employee we let go after {days} days",
            "can we require staff to work on public holidays",
            "is a non-compete enforceable for a junior engineer",
        ],
        "data_retention": [
            "how long must we keep invoices",
            "can we keep CCTV footage for {days} days",
            "when should we delete old job applications",
        ],
    },
    "contracts": {
        "termination_clause": [
            "can we end the agreement with {party} early without paying a penalty",
            "what notice does the contract require to terminate for convenience",
            "does a breach by {party} let us terminate immediately",
        ],
        "renewal_terms": [
            "does the contract with {party} renew automatically",
            "by when must we object to the renewal to avoid another year",
            "can {party} raise prices at renewal",
        ],
        "payment_terms": [
            "when is the invoice from {party} due, net {days}",
            "is there a late payment fee in our supplier agreement",
            "can we pay {party} in instalments under this contract",
        ],
        "confidentiality": [
            "can we share the contract terms with our auditors",
            "how long does the NDA with {party} last after it ends",
            "is the pricing schedule covered by the confidentiality clause",
        ],
        "indemnification": [
            "who pays if a third party sues over the {product}",
            "does {party} have to cover our legal costs under the indemnity",
            "is the indemnity capped at the contract value",
        ],
        "governing_law": [
            "which country's law applies to the agreement with {party}",
            "where would a dispute with {party} be heard",
            "can we change the governing law in the amendment",
        ],
    },
}

PRODUCTS = ("laptop", "headphones", "coffee machine", "desk chair", "router", "monitor")
PARTIES = ("Acme Logistics", "Northwind", "Globex", "Initech", "Umbrella Services", "Stark Supplies")
REGIONS = ("eu", "us", "apac")
PLANS = ("free", "pro", "enterprise")

# How often the served model answers wrongly, per domain, and extra error for one region.
ERROR_RATE = {"customer_support": 0.15, "legal": 0.3, "contracts": 0.45}
REGION_EXTRA_ERROR = {"eu": 0.0, "us": 0.0, "apac": 0.15}
START = datetime(2025, 11, 3, 8, 0, tzinfo=timezone.utc)
MAX_SPAN = timedelta(days=300)


@dataclass(frozen=True)
class _User:
    user_id: str
    region: str
    plan: str
    home_domains: tuple[str, ...]


def example_interactions(n: int = 360, *, seed: int = 0, users: int = 40) -> list[Interaction]:
    """``n`` interactions over the example domains, identical for the same arguments."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(users, bool) or not isinstance(users, int) or users < 1:
        raise ValueError(f"users must be a positive integer, got {users!r}")
    rng = random.Random(seed)
    population = _users(rng, users)
    domains = list(TEMPLATES)
    events = []
    when = START
    # Gaps average ~5 minutes; large n is compressed so the traffic never reaches the future.
    pace = min(1.0, MAX_SPAN.total_seconds() / (n * 310))
    for i in range(n):
        user = rng.choice(population)
        domain = rng.choice(user.home_domains) if rng.random() < 0.8 else rng.choice(domains)
        intent = rng.choice(list(TEMPLATES[domain]))
        text = rng.choice(TEMPLATES[domain][intent]).format(
            n=rng.randint(10_000, 99_999),
            product=rng.choice(PRODUCTS),
            party=rng.choice(PARTIES),
            days=rng.choice((3, 7, 14, 30, 60, 90)),
        )
        wrong = rng.random() < ERROR_RATE[domain] + REGION_EXTRA_ERROR[user.region]
        output = rng.choice([x for x in TEMPLATES[domain] if x != intent]) if wrong else intent
        feedback, correction = _feedback(rng, wrong, intent)
        when += timedelta(seconds=rng.randint(20, 600) * pace)
        events.append(
            Interaction(
                event_id=f"example-{seed}-{i:05d}",
                user_id=user.user_id,
                domain=domain,
                input_text=text,
                model_output=output,
                feedback=feedback,
                event_time=when,
                correction=correction,
                variant_id="base",
                attributes={"region": user.region, "plan": user.plan, "channel": rng.choice(("web", "app", "email"))},
            )
        )
    return events


def intents(domain: str) -> list[str]:
    """The labels of an example domain."""
    if domain not in TEMPLATES:
        raise KeyError(f"domain {domain!r} is not an example domain; choose from {sorted(TEMPLATES)}")
    return sorted(TEMPLATES[domain])


def _users(rng: random.Random, count: int) -> list[_User]:
    domains = list(TEMPLATES)
    people = []
    for k in range(count):
        home = tuple(rng.sample(domains, rng.choice((1, 1, 2))))
        people.append(_User(f"user-{k:03d}", rng.choice(REGIONS), rng.choice(PLANS), home))
    return people


def _feedback(rng: random.Random, wrong: bool, intent: str) -> tuple[Feedback, str]:
    if not wrong:
        return (Feedback.POSITIVE, "") if rng.random() < 0.9 else (Feedback.NEGATIVE, "")
    return (Feedback.CORRECTED, intent) if rng.random() < 0.75 else (Feedback.NEGATIVE, "")
