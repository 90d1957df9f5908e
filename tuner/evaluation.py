"""Held-out metrics, overall and per group of any attribute (domain, region, ...).

Classification: accuracy and macro precision, recall and F1 from scikit-learn, the
macro average taken over the labels present in the evaluated examples. Generation:
exact match, token F1 (bag of whitespace tokens, SQuAD style) and the mean response
token loss.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from tuner.adapters import Adapter
from tuner.data import Example, check_labels
from tuner.encoding import batched
from tuner.loading import BaseModel
from tuner.objectives import GenerationObjective
from tuner.predict import classify, generate, max_length_for


@dataclass
class Metrics:
    task: str
    n: int
    overall: dict[str, float]
    # attribute -> group value -> metrics (each with its own "n").
    groups: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # The answer per evaluated example, in order: expert review shows where two models differ.
    predictions: list[str] = field(default_factory=list, repr=False)

    def __getitem__(self, metric: str) -> float:
        return self.overall[metric]

    def to_json(self) -> dict:
        data = asdict(self)
        del data["predictions"]
        return data


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    if not y_true:
        return {"n": 0}
    present = sorted(set(y_true))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=present, average="macro", zero_division=0
    )
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
    }


def _tokens(text: str) -> list[str]:
    return re.sub(r"\s+", " ", text.strip().lower()).split()


def token_f1(reference: str, prediction: str) -> float:
    ref, pred = _tokens(reference), _tokens(prediction)
    if not ref or not pred:
        return float(ref == pred)
    common = sum((Counter(ref) & Counter(pred)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def generation_metrics(
    references: Sequence[str], predictions: Sequence[str], loss_sums: Sequence[float], token_counts: Sequence[int]
) -> dict[str, float]:
    if not references:
        return {"n": 0}
    n = len(references)
    return {
        "n": n,
        "exact_match": sum(_tokens(r) == _tokens(p) for r, p in zip(references, predictions)) / n,
        "token_f1": sum(token_f1(r, p) for r, p in zip(references, predictions)) / n,
        "loss": sum(loss_sums) / max(sum(token_counts), 1),
    }


def _by_group(examples: Sequence[Example], attribute: str) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        groups[example.group(attribute)].append(i)
    return dict(sorted(groups.items()))


def evaluate(
    base: BaseModel,
    examples: Sequence[Example],
    adapter: Adapter | None = None,
    *,
    labels: Sequence[str] | None = None,
    group_by: Sequence[str] = ("domain",),
    batch_size: int = 32,
    max_length: int | None = None,
    max_new_tokens: int = 32,
    allow_unseen: bool = False,
    remembered: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> Metrics:
    """Metrics of ``base`` (+ ``adapter``) on ``examples``, overall and per group.

    Classification without an adapter is zero-shot over ``labels`` (and their
    ``descriptions``, as serving answers). A label the head
    cannot predict raises UnseenLabelError unless ``allow_unseen`` (then it counts as
    a miss, e.g. when comparing an older champion on newer data). ``remembered``: labels this
    adapter already predicted, by event id (classification only): those rows are not run
    again (``tuner.cycle.remembered``).
    """
    if not examples:
        raise ValueError("evaluate needs at least one example")
    if base.task == "classification":
        known = adapter.labels if adapter is not None else tuple(labels or ())
        if not allow_unseen:
            check_labels(known, examples, "evaluation set")
        remembered = remembered or {}
        preds = [remembered.get(e.event_id, "") if e.event_id else "" for e in examples]
        todo = [i for i, e in enumerate(examples) if not (e.event_id and e.event_id in remembered)]
        if todo:
            fresh = classify(base, [examples[i].text for i in todo], adapter, labels=labels, batch_size=batch_size,
                             max_length=max_length, descriptions=descriptions)  # fmt: skip
            for i, prediction in zip(todo, fresh, strict=True):
                preds[i] = prediction.label
        truth = [e.target for e in examples]
        answers = preds

        def compute(idx: list[int]) -> dict[str, float]:
            return classification_metrics([truth[i] for i in idx], [preds[i] for i in idx])

    else:
        if remembered:
            raise ValueError("remembered predictions are only reused for classification")
        texts = [p.text for p in generate(base, [e.text for e in examples], adapter, max_length=max_length, max_new_tokens=max_new_tokens)]
        objective = GenerationObjective(base, max_length_for(adapter, max_length))
        items = objective.encode(examples)
        model = adapter.model if adapter is not None else base.model
        sums: list[float] = []
        counts: list[int] = []
        for chunk in batched(range(len(items)), batch_size):
            s, c = objective.example_losses(model, objective.batch([items[i] for i in chunk]))
            sums += s
            counts += c
        truth = [e.target for e in examples]
        answers = texts

        def compute(idx: list[int]) -> dict[str, float]:
            return generation_metrics(
                [truth[i] for i in idx], [texts[i] for i in idx], [sums[i] for i in idx], [counts[i] for i in idx]
            )

    everything = list(range(len(examples)))
    groups = {attribute: {value: compute(idx) for value, idx in _by_group(examples, attribute).items()} for attribute in group_by}
    return Metrics(task=base.task, n=len(examples), overall=compute(everything), groups=groups,
                   predictions=list(answers))
