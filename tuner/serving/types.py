"""What serving answers with: plain data (no torch), shared by the engine and the client."""

from __future__ import annotations

from dataclasses import dataclass, field

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch

DOMAIN_SOURCES = ("request", "ranking", "default")


@dataclass(frozen=True)
class AdapterRef:
    domain: str
    version: str

    @property
    def key(self) -> str:
        """The adapter's name inside the shared PEFT model: one name per version."""
        return f"{self.domain}@{self.version}"


@dataclass(frozen=True)
class Variant:
    """Base model + adapter chain that answers a user's request in a domain.

    ``chain`` lists the champions along the domain's transfer chain, root first; the
    last one is the adapter applied (a child is warm-started from its parent, so it
    already carries the chain). An empty chain means the base model serves (zero-shot
    for classification). ``variant_id`` is the same for the same base and versions.
    """

    variant_id: str
    domain: str
    base_model: str
    task: str
    chain: tuple[AdapterRef, ...] = ()
    fallback: bool = False
    fallback_reason: str = ""
    domain_source: str = "request"
    user_known: bool = True

    @property
    def adapter(self) -> AdapterRef | None:
        return self.chain[-1] if self.chain else None

    @property
    def adapter_key(self) -> str:
        return self.chain[-1].key if self.chain else BASE_ADAPTER


@dataclass(frozen=True)
class Prediction:
    # Classification: the label and its softmax probability.
    label: str = ""
    score: float = 0.0
    # Generation: the decoded response.
    text: str = ""


@dataclass(frozen=True)
class PredictResult:
    variant: Variant
    predictions: list[Prediction] = field(default_factory=list)
