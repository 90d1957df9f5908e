"""How a child's head inherits from its parent's: shared rows by name, new rows imprinted.

A warm start copies the parent's trained head rows for the labels both know
(``targeting._copy_head_rows``, by name, whatever their order in either head). A label
the parent never had would otherwise start from its name's embedding: the base model's
zero-shot guess, poor for terse intent names. With a few child examples of that label
at hand, imprinting (Qi et al., CVPR 2018) places its row at the mean of their
normalised embeddings under the parent's encoder, already tuned to the domain; the
name's embedding counts as one more example, a prior that matters most with one or two.
Its norm starts at the mean of the inherited rows' (the head does not normalise its rows,
so a row's norm is its label's scale), and the new rows' bias at the one shift from the
inherited rows' mean that fits the child's examples best (each new example scored against
its row imprinted without it): a centroid under the tuned encoder otherwise outscores the
inherited rows on their own queries. A cold start (no parent)
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

    ``inherited`` are the labels whose rows came from the parent: the new rows take their
    mean norm and their mean bias, shifted to fit ``examples`` where some are of inherited
    labels (``_level_shift``). A label without examples keeps its name's row.
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
    held_out = []
    for label, group in by_label.items():
        i = row[label]
        own = vectors[start : start + len(group)]
        members = torch.cat([F.normalize(head.weight[i], dim=-1)[None], own])
        scale = head.weight[i].norm() if norm is None else norm
        head.weight[i] = F.normalize(members.mean(dim=0), dim=-1) * scale
        if bias is not None:
            head.bias[i] = bias
            held_out.append(_held_out_scores(members, own, scale) * head.scale + bias)
        start += len(group)
    shared = [e for e in examples if e.target in inherited]
    if held_out and shared:
        new_targets = [row[label] for label, group in by_label.items() for _ in group]
        shift = _level_shift(adapter, base, shared, vectors, new_targets, torch.cat(held_out), max_length)
        head.bias[[row[label] for label in by_label]] += shift
    return list(by_label)


def _held_out_scores(members: torch.Tensor, own: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Each example's cosine score (x ``scale``) with its row imprinted without it: what an
    unseen query of the label scores, not the flattering score of a row built from itself."""
    others = members.sum(dim=0)[None] - own  # the name's row and the other examples
    return (own * F.normalize(others, dim=-1)).sum(dim=-1) * scale


def _level_shift(
    adapter: Adapter, base: BaseModel, shared: Sequence[Example], new_vectors: torch.Tensor,
    new_targets: list[int], held_out: torch.Tensor, max_length: int,
) -> torch.Tensor:
    """The one bias shift of the new rows that fits the child's examples best (least
    cross-entropy over all its examples, each new one scored on its own row without it).

    An imprinted row sits at its examples' centroid under the parent's encoder, where every
    query of the domain lands near (the tuned space is narrow); an inherited row sits where
    the parent's training left it, which scores its own queries lower. Unshifted, the new
    rows take the shared labels' queries: a travel parent trained with the head at 5e-4 put
    64% of its child's travel queries on two imprinted utility rows (``bench/chains.py``
    travel>utility). The loss is convex in the shift: a golden-section search finds it.
    """
    head = adapter.head
    row = {label: i for i, label in enumerate(adapter.labels)}
    shared_vectors = F.normalize(_embed(adapter, base, [e.text for e in shared], max_length), dim=-1)
    vectors = torch.cat([shared_vectors, new_vectors])
    device = head.weight.device
    targets = torch.tensor([row[e.target] for e in shared] + new_targets, device=device)
    logits = head.scale * vectors @ head.weight.T + head.bias
    own = torch.arange(len(shared), len(targets), device=device)
    logits[own, targets[own]] = held_out
    new_rows = torch.zeros(head.weight.shape[0], dtype=torch.bool, device=device)
    new_rows[targets[own]] = True

    def loss(shift: float) -> float:
        return F.cross_entropy(logits + shift * new_rows, targets).item()

    bound = 2 * float(head.scale) * float(head.weight.norm(dim=-1).max())  # the widest gap two rows' scores can have
    low, high = -bound, bound
    ratio = (5**0.5 - 1) / 2
    for _ in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(a) <= loss(b):
            high = b
        else:
            low = a
    return torch.tensor((low + high) / 2, device=device)


def _embed(adapter: Adapter, base: BaseModel, texts: list[str], max_length: int) -> torch.Tensor:
    """Pooled embeddings under the adapter's encoder, in eval mode (no dropout)."""
    training = adapter.model.training
    adapter.model.eval()
    try:
        return embed_texts(adapter.model, base.tokenizer, texts, base.pooling, max_length=max_length)
    finally:
        adapter.model.train(training)
