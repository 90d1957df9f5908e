"""What a reviewer sees about a held candidate, built once by the cycle and stored with the review.

The gate's numbers against the champion (or the base model), the bias audit per group,
the layers and data window it was trained on, and the held-out inputs where the candidate
and the champion answer differently, side by side with the gold answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tuner.data import Example

# Held-out inputs with different answers stored per review: enough to judge, short to read.
SAMPLE_SIZE = 20


@dataclass(frozen=True)
class Disagreements:
    n_test: int
    n_changed: int
    samples: tuple[dict, ...]

    @property
    def change_rate(self) -> float:
        return self.n_changed / self.n_test if self.n_test else 0.0


def disagreements(
    test: Sequence[Example], candidate: Sequence[str], champion: Sequence[str], limit: int = SAMPLE_SIZE
) -> Disagreements:
    """The rows of ``test`` whose two answers differ (compared stripped), the first ``limit`` as samples."""
    if not len(test) == len(candidate) == len(champion):
        raise ValueError(
            f"answers must cover the test rows: {len(test)} rows, {len(candidate)} candidate, {len(champion)} champion answers"
        )
    changed = [i for i, (ours, theirs) in enumerate(zip(candidate, champion)) if ours.strip() != theirs.strip()]
    samples = tuple(
        {"input": test[i].text, "candidate": candidate[i], "champion": champion[i], "gold": test[i].target,
         "attributes": dict(test[i].attributes)}
        for i in changed[:limit]
    )  # fmt: skip
    return Disagreements(len(test), len(changed), samples)


def build_evidence(
    gate_json: dict, found: Disagreements, *, layers: Sequence[int], groups: Sequence[str],
    data_window: tuple[int, int] | None,
) -> dict:
    """The JSON stored with a review (``gate_json`` is ``GateResult.to_json()``)."""
    return {
        "gate": gate_json,
        "layers": list(layers),
        "module_groups": list(groups),
        "data_window": list(data_window) if data_window else None,
        "n_test": found.n_test,
        "n_changed": found.n_changed,
        "samples": list(found.samples),
    }
