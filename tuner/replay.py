"""Replay: what of a domain's history a cycle trains on besides its new examples.

A warm-started candidate already learned the history; retraining on all of it makes
every night cost more than the last. Instead a cycle trains on the new examples plus a
class-balanced sample of the old ones (the idea of Avalanche's ``ClassBalancedBuffer``:
every label keeps a fair share, so rare labels are not forgotten), sized as a multiple
of the new examples: the cost follows what is new, not the size of the log. The sample
is deterministic: the same examples and seed give the same rows, whatever their order.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

from tuner.data import Example


def _rank(seed: int, event_id: str) -> bytes:
    """A stable pseudo-random position of an example (same seed and id: same position)."""
    return hashlib.sha256(f"{seed}:{event_id}".encode()).digest()


def balanced_quotas(counts: dict[str, int], size: int) -> dict[str, int]:
    """How many of each label to take so the total is min(size, all) and shares are as equal as counts allow.

    Water-filling: every label gets an equal share; a label with fewer examples gives
    its unused share to the others. Labels are visited in sorted order for the remainder.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be an integer >= 0, got {size!r}")
    quotas = {label: 0 for label in counts}
    remaining, open_labels = min(size, sum(counts.values())), sorted(label for label, n in counts.items() if n > 0)
    while remaining and open_labels:
        share = max(1, remaining // len(open_labels))
        for label in list(open_labels):
            take = min(share, counts[label] - quotas[label], remaining)
            quotas[label] += take
            remaining -= take
            if quotas[label] == counts[label]:
                open_labels.remove(label)
            if not remaining:
                break
    return quotas


def class_balanced_sample(
    examples: Sequence[Example], size: int, seed: int = 0, key: Callable[[Example], str] = lambda e: e.target
) -> list[Example]:
    """``min(size, len(examples))`` examples, balanced over ``key`` (the label), deterministic by seed."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[key(example)].append(example)
    quotas = balanced_quotas({label: len(group) for label, group in groups.items()}, size)
    chosen = [
        example
        for label, group in sorted(groups.items())
        for example in sorted(group, key=lambda e: _rank(seed, e.event_id))[: quotas[label]]
    ]
    return sorted(chosen, key=lambda e: (e.seq or 0, e.event_id))


@dataclass(frozen=True)
class ReplayPolicy:
    """New examples plus ``ratio`` x as many replayed from history (at least ``minimum``).

    ``ratio`` None replays the whole history (every cycle retrains on everything).
    """

    ratio: float | None = 0.5
    minimum: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ratio is not None and (
            isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float))
            or not math.isfinite(self.ratio) or self.ratio < 0
        ):
            raise ValueError(f"replay_ratio must be a number >= 0 or None, got {self.ratio!r}")
        if isinstance(self.minimum, bool) or not isinstance(self.minimum, int) or self.minimum < 0:
            raise ValueError(f"replay_min must be an integer >= 0, got {self.minimum!r}")

    def size(self, new: int, history: int) -> int:
        """How many history examples to replay next to ``new`` new ones."""
        if self.ratio is None:
            return history
        return min(history, max(self.minimum, math.ceil(self.ratio * new)))

    def training_set(self, new: Sequence[Example], history: Sequence[Example]) -> list[Example]:
        """The new examples and the replayed ones, in ingest order."""
        replayed = class_balanced_sample(history, self.size(len(new), len(history)), self.seed)
        return sorted([*new, *replayed], key=lambda e: (e.seq or 0, e.event_id))
