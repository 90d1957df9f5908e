"""How a child's head inherits from its parent's: shared rows by name, new rows imprinted.

A warm start copies the parent's trained head rows for the labels both know
(``targeting._copy_head_rows``, by name, whatever their order in either head). A label
the parent never had would otherwise start from its name's embedding: the base model's
zero-shot guess, poor for terse intent names. With a few child examples of that label
at hand, imprinting (Qi et al., CVPR 2018) places its row at the mean of their
normalised embeddings under the parent's encoder, already tuned to the domain; the
name's embedding counts as one more example, a prior that matters most with one or two.
Its norm starts at the mean of the inherited rows' (the head does not normalise its rows,
so a row's norm is its label's scale), and its bias so that the new labels' examples
score, on average, what the child's examples of inherited labels score on their rows
(each new example against its row imprinted without it): a centroid under the tuned
encoder otherwise outscores the inherited rows on their own queries. A cold start (no parent)
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
    texts = [text for label in by_label for text in by_label[label]]
    vectors = F.normalize(_embed(adapter, base, texts, max_length), dim=-1)
    kept = [row[label] for label in inherited]
    bias = head.bias[kept].mean() if kept else None
    norm = head.weight[kept].norm(dim=-1).mean() if kept else None
    start = 0
    new_scores = []
    for label, group in by_label.items():
        i = row[label]
        own = vectors[start : start + len(group)]
        members = torch.cat([F.normalize(head.weight[i], dim=-1)[None], own])
        scale = head.weight[i].norm() if norm is None else norm
        head.weight[i] = F.normalize(members.mean(dim=0), dim=-1) * scale
        if bias is not None:
            head.bias[i] = bias
            new_scores.append(_held_out_scores(members, own, scale) * head.scale + bias)
        start += len(group)
    if new_scores:
        _level_new_rows(head, [row[label] for label in by_label], torch.cat(new_scores), adapter, base, examples,
                        inherited, max_length)
    return list(by_label)


def _held_out_scores(members: torch.Tensor, own: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Each example's cosine score (x ``scale``) with its row imprinted without it: what an
    unseen query of the label scores, not the flattering score of a row built from itself."""
    others = members.sum(dim=0)[None] - own  # the name's row and the other examples
    return (own * F.normalize(others, dim=-1)).sum(dim=-1) * scale


def _level_new_rows(
    head, new_rows: list[int], new_scores: torch.Tensor, adapter: Adapter, base: BaseModel,
    examples: Sequence[Example], inherited: Sequence[str], max_length: int,
) -> None:
    """Shift the new rows' bias so their examples score, on average, what the inherited
    rows' examples score on theirs.

    An imprinted row sits at its examples' centroid under the parent's encoder, where every
    query of the domain lands near (the tuned space is narrow); an inherited row sits where
    the parent's training left it, which scores its own queries lower. Unlevelled, the new
    rows take the shared labels' queries: a travel parent trained with the head at 5e-4 put
    64% of its child's travel queries on two imprinted utility rows (``bench/chains.py``
    travel>utility). Without examples of inherited labels there is nothing to level against.
    """
    row = {label: i for i, label in enumerate(adapter.labels)}
    shared = [e for e in examples if e.target in inherited]
    if not shared:
        return
    vectors = F.normalize(_embed(adapter, base, [e.text for e in shared], max_length), dim=-1)
    targets = torch.tensor([row[e.target] for e in shared], device=head.weight.device)
    inherited_scores = head.scale * (vectors * head.weight[targets]).sum(dim=-1) + head.bias[targets]
    head.bias[new_rows] += inherited_scores.mean() - new_scores.mean()


def _embed(adapter: Adapter, base: BaseModel, texts: list[str], max_length: int) -> torch.Tensor:
    """Pooled embeddings under the adapter's encoder, in eval mode (no dropout)."""
    training = adapter.model.training
    adapter.model.eval()
    try:
        return embed_texts(adapter.model, base.tokenizer, texts, base.pooling, max_length=max_length)
    finally:
        adapter.model.train(training)
