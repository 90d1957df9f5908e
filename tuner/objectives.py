"""What a task trains on: how examples become batches and batches become a loss.

One class per task, so the training loop and the evaluation stay task-agnostic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from tuner.adapters import Adapter
from tuner.data import Example
from tuner.device import autocast, to_device
from tuner.encoding import IGNORE_INDEX, Batch, classification_batch, encode_pairs, encode_texts, generation_batch
from tuner.heads import pooled_on_device
from tuner.loading import BaseModel


@dataclass(frozen=True)
class BatchScore:
    """Summed loss, the number of loss terms, and correct predictions (classification)."""

    loss_sum: float
    count: int
    correct: int = 0


class ClassificationObjective:
    """Cross-entropy of the adapter's head over the pooled backbone output."""

    def __init__(self, base: BaseModel, labels: Sequence[str], max_length: int, label_smoothing: float = 0.0) -> None:
        self.base = base
        self.index = {label: i for i, label in enumerate(labels)}
        self.max_length = max_length
        self.label_smoothing = label_smoothing

    def encode(self, examples: Sequence[Example]) -> list[tuple[list[int], int]]:
        ids = encode_texts(self.base.tokenizer, [e.text for e in examples], self.max_length)
        return [(row, self.index[e.target]) for row, e in zip(ids, examples)]

    def encode_rejected(self, examples: Sequence[Example]) -> list[tuple[list[int], int]]:
        """Rejected answers (``target`` is the answer users said was wrong) as items whose label
        is ``-(index + 1)``: the loss pushes that label down instead of up. Labels the head
        lacks are left out."""
        known = [e for e in examples if e.target in self.index]
        ids = encode_texts(self.base.tokenizer, [e.text for e in known], self.max_length)
        return [(row, -(self.index[e.target] + 1)) for row, e in zip(ids, known)]

    @staticmethod
    def length(item: tuple[list[int], int]) -> int:
        """Tokens of an encoded item (what its cached states take)."""
        return len(item[0])

    def batch(self, items: Sequence[tuple[list[int], int]]) -> Batch:
        batch = classification_batch([i for i, _ in items], [label for _, label in items], self.base.tokenizer.pad_token_id)
        return to_device(batch, self.base.model)

    def logits(self, adapter: Adapter, batch: Batch) -> torch.Tensor:
        return adapter.head(pooled_on_device(adapter.model, batch, self.base.pooling))

    def loss(self, adapter: Adapter, batch: Batch) -> torch.Tensor:
        """The training loss (smoothed); ``score`` reports the plain cross-entropy.

        A rejected answer (label ``-(index + 1)``, ``encode_rejected``) adds the complementary
        label's loss, -log(1 - p(rejected label)): it says only which label is wrong.
        """
        logits, labels = self.logits(adapter, batch), batch.labels
        chosen = labels >= 0
        if bool(chosen.all()):
            return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        total = logits.new_zeros(())
        if bool(chosen.any()):
            total = total + F.cross_entropy(logits[chosen], labels[chosen], label_smoothing=self.label_smoothing,
                                            reduction="sum")
        rejected = ~chosen
        wrong = (-labels[rejected] - 1).unsqueeze(1)
        p_wrong = logits[rejected].float().softmax(dim=-1).gather(1, wrong).squeeze(1)
        total = total - torch.log1p(-p_wrong.clamp(max=1.0 - 1e-6)).sum()
        return total / len(labels)

    @torch.no_grad()
    def score(self, adapter: Adapter, batch: Batch) -> BatchScore:
        logits = self.logits(adapter, batch)
        loss = F.cross_entropy(logits, batch.labels, reduction="sum")
        correct = int((logits.argmax(dim=-1) == batch.labels).sum())
        return BatchScore(float(loss), len(batch), correct)


class GenerationObjective:
    """Next-token cross-entropy on the response tokens only (prompt tokens are -100)."""

    def __init__(self, base: BaseModel, max_length: int) -> None:
        self.base = base
        self.max_length = max_length

    def encode(self, examples: Sequence[Example]) -> list[tuple[list[int], list[int]]]:
        return encode_pairs(self.base.tokenizer, [e.text for e in examples], [e.target for e in examples], self.max_length)

    @staticmethod
    def length(item: tuple[list[int], list[int]]) -> int:
        """Tokens of an encoded item: prompt and response."""
        return len(item[0]) + len(item[1])

    def batch(self, items: Sequence[tuple[list[int], list[int]]]) -> Batch:
        return to_device(generation_batch(items, self.base.tokenizer.pad_token_id), self.base.model)

    def token_losses(self, model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token losses (0 where ignored) and the mask of counted tokens, shifted."""
        with autocast(model):
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1].float()
        targets = batch.labels[:, 1:]
        losses = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
        ).view(targets.shape)
        return losses, targets != IGNORE_INDEX

    def loss(self, adapter: Adapter, batch: Batch) -> torch.Tensor:
        losses, mask = self.token_losses(adapter.model, batch)
        return losses.sum() / mask.sum().clamp(min=1)

    @torch.no_grad()
    def score(self, adapter: Adapter, batch: Batch) -> BatchScore:
        losses, mask = self.token_losses(adapter.model, batch)
        return BatchScore(float(losses.sum()), int(mask.sum()))

    @torch.no_grad()
    def example_losses(self, model: torch.nn.Module, batch: Batch) -> tuple[list[float], list[int]]:
        """Per example: summed response-token loss and the number of response tokens."""
        losses, mask = self.token_losses(model, batch)
        return losses.sum(dim=1).tolist(), mask.sum(dim=1).tolist()


def objective_for(base: BaseModel, labels: Sequence[str], max_length: int, label_smoothing: float = 0.0):
    """The task's objective; ``label_smoothing`` applies to classification training only."""
    if base.task == "classification":
        return ClassificationObjective(base, labels, max_length, label_smoothing)
    return GenerationObjective(base, max_length)
