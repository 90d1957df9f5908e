"""User + domain -> the variant that answers: domain, adapter chain and versions, stable id.

The domain is the one asked for, else the user's top predicted domain (``routing``).
The adapter is the last champion along the domain's transfer chain that was trained
for this base model and task (``tuner.chains``). Whenever that is not what was asked
for (an unknown user without a domain, a domain without a champion) the answer says
so in ``fallback_reason``. Resolution reads the registry on every request, so a newly
promoted version serves the next request without a restart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from recsys.domains import DomainLabel, UnknownDomainError, check_domain_name, described, domain_labels, get_domain
from tuner.chains import resolve_chain
from tuner.registry import AdapterRegistry
from tuner.serving.errors import NoLabelsError
from tuner.serving.labels import known_labels
from tuner.serving.requests import check_user_id
from tuner.serving.routing import UserRouter
from tuner.serving.types import AdapterRef, Variant


@dataclass(frozen=True)
class ResolvedVariant:
    """A variant plus what the engine needs to run it (not sent to clients)."""

    variant: Variant
    # The adapter folder applied; None when the base model serves.
    adapter_path: Path | None
    # Classification labels: the adapter head's, or the log's for zero-shot.
    labels: tuple[str, ...]
    # Zero-shot: each label's declared description, "" when it has none (() when none has one).
    descriptions: tuple[str, ...] = ()


def variant_id(
    base_model: str, task: str, chain: tuple[AdapterRef, ...], labels: tuple[str, ...] = (),
    descriptions: tuple[str, ...] = (),
) -> str:
    """Stable id of base + versions (sha256, never Python's salted hash).

    A base-only classification variant also hashes its label set, and its labels'
    descriptions when any has one: zero-shot answers change when either does.
    """
    payload = {"base": base_model, "task": task, "chain": [ref.key for ref in chain]}
    if not chain and labels:
        payload["labels"] = list(labels)
        if any(descriptions):
            payload["descriptions"] = list(descriptions)
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return f"var-{digest[:16]}"


class VariantResolver:
    def __init__(self, registry: AdapterRegistry, base_model: str, task: str, router: UserRouter) -> None:
        self.registry = registry
        self.base_model = base_model
        self.task = task
        self.router = router

    def resolve(self, user_id: str, domain: str | None = None, *, base_only: bool = False) -> ResolvedVariant:
        """Raises DomainError (bad name), UnknownDomainError (not registered), NoLabelsError.

        ``base_only``: the bare base model for the same domain, over the same labels as
        the variant (zero-shot), so its answers can be set beside the variant's.
        """
        resolved = self._resolve(user_id, domain)
        if not base_only or resolved.variant.adapter is None:
            return resolved
        variant = resolved.variant
        labels = resolved.labels
        descriptions = self._descriptions(variant.domain, labels)
        base = replace(
            variant,
            variant_id=variant_id(self.base_model, self.task, (), labels, descriptions),
            chain=(),
            fallback=False,
            fallback_reason="the base model was asked for (base_only)",
        )
        return ResolvedVariant(base, None, labels, descriptions)

    def _resolve(self, user_id: str, domain: str | None) -> ResolvedVariant:
        check_user_id(user_id)
        if domain:
            check_domain_name(domain)
            if get_domain(self.registry.db, domain) is None:
                raise UnknownDomainError(f"domain {domain!r} is unknown; register it or log interactions for it first")
            known = self.router.route(user_id).user_known if user_id else False
            return self._for_domain(domain, "request", known)
        route = self.router.route(user_id)
        if route.domain is None:
            who = f"user {user_id!r} has no interactions yet" if user_id else "no user_id was given"
            return self._base("", "default", False, f"{who} and no domain was given; serving the base model")
        return self._for_domain(route.domain, "ranking", True)

    def _for_domain(self, domain: str, source: str, user_known: bool) -> ResolvedVariant:
        chain = resolve_chain(self.registry, domain)
        usable = tuple(r for r in chain if r.base_model == self.base_model and r.task == self.task)
        if not usable:
            if chain:
                other = chain[-1]
                why = (
                    f"the champion {other.version} of {other.domain!r} was trained for base {other.base_model!r} "
                    f"({other.task}), not {self.base_model!r} ({self.task})"
                )
            else:
                why = f"domain {domain!r} and its ancestors have no champion adapter yet"
            return self._base(domain, source, user_known, f"{why}; serving the base model")
        served = usable[-1]
        reason = ""
        if served.domain != domain:
            reason = f"domain {domain!r} has no champion adapter; serving its ancestor {served.domain!r} {served.version}"
        refs = tuple(AdapterRef(r.domain, r.version) for r in usable)
        variant = Variant(
            variant_id=variant_id(self.base_model, self.task, refs),
            domain=domain,
            base_model=self.base_model,
            task=self.task,
            chain=refs,
            fallback=bool(reason),
            fallback_reason=reason,
            domain_source=source,
            user_known=user_known,
        )
        return ResolvedVariant(variant, served.path, tuple(served.labels))

    def _descriptions(self, domain: str, labels: tuple[str, ...]) -> tuple[str, ...]:
        """The domain's declared descriptions of ``labels``, aligned with them (() when none has one)."""
        return aligned_descriptions(domain_labels(self.registry.db, domain) if domain else (), labels)

    def _base(self, domain: str, source: str, user_known: bool, reason: str) -> ResolvedVariant:
        labels: tuple[str, ...] = ()
        # Read once: the names join the log's labels, the descriptions key the zero-shot heads.
        declared = domain_labels(self.registry.db, domain) if domain else ()
        if self.task == "classification":
            names = [label.name for label in declared] if domain else None
            labels = known_labels(self.registry.db, domain or None, declared=names)
            if not labels:
                where = f"domain {domain!r}" if domain else "the log"
                raise NoLabelsError(
                    f"{reason}, but {where} has no labelled interactions: zero-shot classification needs label "
                    "names (declare the domain's labels with UpsertDomain, log corrected or positive interactions, "
                    "or train an adapter)"
                )
        descriptions = aligned_descriptions(declared, labels)
        variant = Variant(
            variant_id=variant_id(self.base_model, self.task, (), labels, descriptions),
            domain=domain,
            base_model=self.base_model,
            task=self.task,
            chain=(),
            fallback=True,
            fallback_reason=reason,
            domain_source=source,
            user_known=user_known,
        )
        return ResolvedVariant(variant, None, labels, descriptions)


def aligned_descriptions(declared: Sequence[DomainLabel], labels: Sequence[str]) -> tuple[str, ...]:
    """The declared descriptions of ``labels``, aligned with them (() when none has one)."""
    texts = described(declared)
    return tuple(texts.get(label, "") for label in labels) if texts else ()
