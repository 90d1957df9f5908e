"""Progress events of a running cycle: what the servicer streams and the CLI prints.

Decisions are announced twice: ``evaluated`` says what the gate decided, and
``promoted`` / ``kept`` follow only after the cycle committed, so a client never hears
"promoted" for an adapter that a failed commit left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

STAGES = (
    "started", "ranked", "skipped", "planned", "probing", "training", "evaluated",
    "promoted", "kept", "finished", "failed",
    # Expert review (tuner.review): a passing candidate held for a person; a held one expired.
    "awaiting_review", "expired",
)  # fmt: skip


@dataclass(frozen=True)
class CycleEvent:
    cycle_id: str
    stage: str
    domain: str = ""
    message: str = ""
    step: int = 0
    total_steps: int = 0
    loss: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    adapter_version: str = ""
    # On ``finished`` (and ``failed`` when there is one): the cycle's summary and report.
    summary: dict[str, Any] | None = None
    report_path: str = ""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {list(STAGES)}, got {self.stage!r}")


EventSink = Callable[[CycleEvent], None]


def ignore(_: CycleEvent) -> None:
    """The sink when nobody listens."""
