"""How a child's head inherits from its parent's: shared rows by name, new rows imprinted.

A warm start copies the parent's trained head rows for the labels both know
(``targeting._copy_head_rows``, by name, whatever their order in either head). A label
the parent never had would otherwise start from its name's embedding: the base model's
zero-shot guess, poor for terse intent names. With a few child examples of that label
at hand, imprinting (Qi et al., CVPR 2018) places its row at the mean of their
normalised embeddings under the parent's encoder, already tuned to the domain; the
name's embedding counts as one more example, a prior that matters most with one or two.
Its norm and bias start at the means of the inherited rows' (the head does not normalise
its rows, so a row's norm is its label's scale), level with them. A cold start (no parent)
imprints every row the same way under the base encoder, keeping the name row's norm and
a zero bias: its first head is then the nearest-centroid classifier of its examples, which
does not depend on how the labels are named.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from tuner.adapters import Adapter
from tuner.data import Example
from tuner.heads import embed_texts
from tuner.loading import BaseModel


@torch.no_grad()
def imprint_rows(
    adapter: Adapter,
    base: BaseModel,
    examples: Sequence[Example],
    labels: Sequence[str],
    inherited: Sequence[str],
    max_length: int,
) -> list[str]:
    """Imprint the head rows of ``labels`` from ``examples``; return the labels imprinted.

    ``inherited`` are the labels whose rows came from the parent (their mean norm and bias
    are the new rows'). A label without examples keeps its name's row.
    """
    head = adapter.head
    if head is None:
        return []
    row = {label: i for i, label in enumerate(adapter.labels)}
    by_label: dict[str, list[str]] = {}
    for example in examples:
        if example.target in labels:
            by_label.setdefault(example.target, []).append(example.text)
    if not by_label:
        return []
    training = adapter.model.training
    adapter.model.eval()
    try:
        texts = [text for label in by_label for text in by_label[label]]
        vectors = F.normalize(embed_texts(adapter.model, base.tokenizer, texts, base.pooling, max_length=max_length), dim=-1)
    finally:
        adapter.model.train(training)
    kept = [row[label] for label in inherited]
    bias = head.bias[kept].mean() if kept else None
    norm = head.weight[kept].norm(dim=-1).mean() if kept else None
    start = 0
    for label, group in by_label.items():
        i = row[label]
        members = torch.cat([F.normalize(head.weight[i], dim=-1)[None], vectors[start : start + len(group)]])
        head.weight[i] = F.normalize(members.mean(dim=0), dim=-1) * (head.weight[i].norm() if norm is None else norm)
        if bias is not None:
            head.bias[i] = bias
        start += len(group)
    return list(by_label)
