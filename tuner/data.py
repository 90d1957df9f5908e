"""Training examples from interactions, and a deterministic train/validation/test split.

An interaction teaches its ``label``: the correction when one was given, the model's
own output when feedback was positive. Negative feedback without a correction says
what is wrong but not what is right, so it is not an example. The split hashes the
event id: an event stays in the same split however much data arrives later.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from recsys.events.model import Interaction
from tuner.errors import EmptyTrainingSetError, UnseenLabelError


@dataclass(frozen=True)
class Example:
    event_id: str
    text: str
    # A label (classification) or a response (generation).
    target: str
    domain: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    seq: int | None = None

    def group(self, attribute: str) -> str:
        """The example's group for an audit attribute; ``domain`` is built in."""
        if attribute == "domain":
            return self.domain
        return self.attributes.get(attribute, "(none)")


@dataclass(frozen=True)
class DataSplit:
    train: list[Example]
    validation: list[Example]
    test: list[Example]

    @property
    def data_window(self) -> tuple[int, int] | None:
        """The smallest and largest ingest ``seq`` among all examples (None when unknown)."""
        seqs = [e.seq for e in self.train + self.validation + self.test if e.seq is not None]
        return (min(seqs), max(seqs)) if seqs else None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def _example(interaction: Interaction, target: str) -> Example:
    return Example(
        event_id=interaction.event_id,
        text=interaction.input_text,
        target=target,
        domain=interaction.domain,
        attributes=dict(interaction.attributes),
        seq=interaction.seq,
    )


def example_from(interaction: Interaction) -> Example | None:
    """The example an interaction teaches, or None (negative feedback, empty answer)."""
    label = interaction.label
    return _example(interaction, label) if label else None


def rejected_example(interaction: Interaction) -> Example:
    """A rejected answer as an example whose ``target`` is the answer that was wrong (it
    teaches which label the input is not; ``tuner.objectives.ClassificationObjective``)."""
    return _example(interaction, interaction.model_output)


def examples_from_interactions(interactions: Iterable[Interaction]) -> list[Example]:
    return [example for example in map(example_from, interactions) if example is not None]


def split_bucket(event_id: str, salt: str = "") -> float:
    """A stable number in [0, 1) from the event id (sha256, not Python's salted hash)."""
    digest = hashlib.sha256(f"{salt}{event_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_examples(
    examples: Sequence[Example], *, validation: float = 0.1, test: float = 0.1, salt: str = ""
) -> DataSplit:
    """Assign each example to test, validation or train by the hash of its event id."""
    for name, value in (("validation", validation), ("test", test)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} fraction must be in [0, 1), got {value!r}")
    if validation + test >= 1.0:
        raise ValueError(f"validation + test fractions must be < 1, got {validation + test!r}")
    parts: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for example in examples:
        bucket = split_bucket(example.event_id, salt)
        name = "test" if bucket < test else "validation" if bucket < test + validation else "train"
        parts[name].append(example)
    return DataSplit(**parts)


def split_interactions(interactions: Iterable[Interaction], **fractions: float) -> DataSplit:
    return split_examples(examples_from_interactions(interactions), **fractions)


def require_training_examples(train: Sequence[Example], what: str = "training set") -> None:
    if not train:
        raise EmptyTrainingSetError(
            f"the {what} is empty: no interaction has a correction or positive feedback to learn from"
        )


def unseen_labels(known: Iterable[str], examples: Iterable[Example]) -> dict[str, int]:
    """Labels of ``examples`` that are not in ``known``, with their counts."""
    known_set = set(known)
    return dict(sorted(Counter(e.target for e in examples if e.target not in known_set).items()))


def check_labels(known: Iterable[str], examples: Iterable[Example], where: str) -> None:
    """Raise UnseenLabelError naming the labels in ``examples`` the head cannot predict.

    A label that never occurs in training cannot be learned and would silently count
    as an error, so it is refused instead (drop such examples first if that is wanted).
    """
    missing = unseen_labels(known, examples)
    if missing:
        raise UnseenLabelError(f"labels {sorted(missing)} in the {where} are unseen in training (counts {missing})")


def drop_unseen(known: Iterable[str], examples: Sequence[Example]) -> tuple[list[Example], int]:
    """The examples whose labels are known, and how many were dropped."""
    known_set = set(known)
    kept = [e for e in examples if e.target in known_set]
    return kept, len(examples) - len(kept)
