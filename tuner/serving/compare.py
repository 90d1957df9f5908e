"""How closely an exported (merged, int8, distilled) model follows the variant it came from.

Both sides answer the same texts; the report gives the agreement rate (same label, or
the same greedy text), each side's accuracy against gold labels when there are any,
the largest logit difference (classification), and each side's seconds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn

from tuner.config import DEFAULT_MAX_LENGTH
from tuner.encoding import encode_prompts, encode_texts
from tuner.evaluation import token_f1
from tuner.heads import ClassifierHead
from tuner.serving.forward import classify_logits, generate_rows
from tuner.serving.requests import GenerationOptions


@dataclass
class Runner:
    """A model ready to answer texts: backbone + head (classification) or a causal LM."""

    model: nn.Module
    tokenizer: object
    task: str
    pooling: str | None = None
    head: ClassifierHead | None = None
    labels: tuple[str, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH
    batch_size: int = 32

    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        ids = encode_texts(self.tokenizer, texts, self.max_length)
        return classify_logits(
            self.model, self.head, ids, pooling=self.pooling, pad_id=self.tokenizer.pad_token_id, batch_size=self.batch_size
        )

    def labels_of(self, logits: torch.Tensor) -> list[str]:
        return [self.labels[i] for i in logits.argmax(dim=-1).tolist()]

    def texts(self, texts: Sequence[str], max_new_tokens: int = 32) -> list[str]:
        prompts = encode_prompts(self.tokenizer, texts, self.max_length)
        options = GenerationOptions(max_new_tokens=max_new_tokens)
        return [p.text for p in generate_rows(self.model, self.tokenizer, prompts, options, adapter=None, batch_size=self.batch_size)]


@dataclass(frozen=True)
class AgreementReport:
    n: int
    agreement: float
    reference_accuracy: float | None
    candidate_accuracy: float | None
    max_abs_logit_diff: float | None
    reference_seconds: float
    candidate_seconds: float
    # Generation: mean token F1 of each side against the gold responses.
    reference_token_f1: float | None = None
    candidate_token_f1: float | None = None

    @property
    def accuracy_delta(self) -> float | None:
        if self.reference_accuracy is None or self.candidate_accuracy is None:
            return None
        return self.candidate_accuracy - self.reference_accuracy

    def to_json(self) -> dict:
        return {**asdict(self), "accuracy_delta": self.accuracy_delta}


def _timed(call):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def compare(
    reference: Runner, candidate: Runner, texts: Sequence[str], gold: Sequence[str] | None = None, *, max_new_tokens: int = 32
) -> AgreementReport:
    """Run both on ``texts`` (same order) and compare; ``gold`` labels or responses are optional."""
    if not texts:
        raise ValueError("compare needs at least one text")
    if gold is not None and len(gold) != len(texts):
        raise ValueError(f"gold has {len(gold)} entries for {len(texts)} texts")
    if reference.task != candidate.task:
        raise ValueError(f"cannot compare a {reference.task} model with a {candidate.task} model")
    n = len(texts)
    if reference.task == "classification":
        ref_logits, ref_s = _timed(lambda: reference.logits(texts))
        cand_logits, cand_s = _timed(lambda: candidate.logits(texts))
        ref_labels, cand_labels = reference.labels_of(ref_logits), candidate.labels_of(cand_logits)
        same_head = reference.labels == candidate.labels
        diff = float((ref_logits - cand_logits).abs().max()) if same_head else None
        agree = sum(a == b for a, b in zip(ref_labels, cand_labels)) / n

        def accuracy(labels: list[str]) -> float | None:
            return None if gold is None else sum(a == b for a, b in zip(labels, gold)) / n

        return AgreementReport(n, agree, accuracy(ref_labels), accuracy(cand_labels), diff, ref_s, cand_s)
    ref_texts, ref_s = _timed(lambda: reference.texts(texts, max_new_tokens))
    cand_texts, cand_s = _timed(lambda: candidate.texts(texts, max_new_tokens))
    agree = sum(a == b for a, b in zip(ref_texts, cand_texts)) / n

    def exact(outs: list[str]) -> float | None:
        return None if gold is None else sum(a.strip() == b.strip() for a, b in zip(outs, gold)) / n

    def f1(outs: list[str]) -> float | None:
        return None if gold is None else sum(token_f1(b, a) for a, b in zip(outs, gold)) / n

    return AgreementReport(n, agree, exact(ref_texts), exact(cand_texts), None, ref_s, cand_s, f1(ref_texts), f1(cand_texts))
