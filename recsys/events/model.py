"""The interaction event as the rest of adaptune sees it (no protobuf here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Feedback(str, Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    CORRECTED = "corrected"


@dataclass
class Interaction:
    event_id: str
    user_id: str
    domain: str
    input_text: str
    model_output: str
    feedback: Feedback
    event_time: datetime
    correction: str = ""
    variant_id: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    # Ingest order, assigned by the store; None before the event is stored.
    seq: int | None = None

    @property
    def label(self) -> str | None:
        """The answer this event teaches: the correction, or the output when it was right."""
        if self.feedback is Feedback.CORRECTED:
            return self.correction
        if self.feedback is Feedback.POSITIVE:
            return self.model_output
        return None
