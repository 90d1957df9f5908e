"""How much of its parent's LoRA a child starts with: the share that fits the child's examples.

A parent's LoRA is tuned to the parent's queries; on a child's own traffic it can generalise
worse than a part of it (weight-space interpolation between a pre-trained and a fine-tuned
model, WiSE-FT, Wortsman et al., CVPR 2022, is often more robust off the fine-tuning
distribution than either end). Seen on a 30-label tenant (``bench/chains.py`` finance>payroll,
untrained warm start, 10 examples a label): the parent's LoRA at full strength 0.940 on the
child's test queries, at a quarter 0.962, its shared labels higher too (0.957 -> 0.967).
How much to keep is the child's to say, not a constant: each share of ``SCALES`` is tried
(LoRA's B matrices at that share of the parent's, so the update is that share of the
parent's), the child's new rows imprinted under it (``tuner.inheritance``, their bias
fitted), and the share whose head answers the child's examples best is kept: accuracy,
the gate's own metric, each new example scored on its row imprinted without it (so it does
not flatter the new rows) and each example of an inherited label on the parent's row, which
never saw it. Ties keep more of the parent: a few dozen examples tell shares apart only
coarsely, and the parent whole is what the chain promises. Chosen on cross-entropy instead,
the share fell to a quarter or none on most pairs and cost 0.2 to 0.4 points on average
(``bench/chains.py`` rotation, README "Transfer chains"): a sharper, tuned head pays for
its confident errors there more than its accuracy says. The child then trains from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from tuner.adapters import Adapter
from tuner.data import Example
from tuner.inheritance import head_fit, imprint_rows
from tuner.loading import BaseModel

# Shares of the parent's LoRA update tried, most of the parent first (ties keep it).
SCALES = (1.0, 0.75, 0.5, 0.25, 0.0)


@dataclass(frozen=True)
class ScaleFit:
    """The share of the parent's LoRA kept, and the child's examples' (accuracy, cross-entropy)
    at each share tried."""

    scale: float
    scores: dict[float, tuple[float, float]]


@torch.no_grad()
def fit_parent_scale(
    adapter: Adapter,
    base: BaseModel,
    examples: Sequence[Example],
    new: Sequence[str],
    inherited: Sequence[str],
    max_length: int,
) -> ScaleFit:
    """Scale the parent's LoRA (already copied into ``adapter``) to the share of ``SCALES``
    that fits ``examples`` best and imprint the rows of ``new`` under it; the head's
    inherited rows are left as copied. Without examples to judge by, the parent stays whole."""
    lora_b = [p for name, p in adapter.model.named_parameters() if ".lora_B." in name]
    parent_b = [p.detach().clone() for p in lora_b]
    head = adapter.head
    start_weight, start_bias = head.weight.detach().clone(), head.bias.detach().clone()

    def set_scale(scale: float) -> tuple[float, float] | None:
        for param, parent in zip(lora_b, parent_b):
            param.copy_(parent * scale)
        head.weight.copy_(start_weight)
        head.bias.copy_(start_bias)
        imprint = imprint_rows(adapter, base, examples, new, inherited, max_length) if new else None
        if imprint is not None and imprint.accuracy is not None:
            return imprint.accuracy, imprint.loss
        return head_fit(adapter, base, examples, max_length)

    scores = {}
    for scale in SCALES:
        score = set_scale(scale)
        if score is None:  # nothing to judge by: no example of any of the head's labels
            set_scale(1.0)
            return ScaleFit(1.0, {})
        accuracy, loss = score
        scores[scale] = (accuracy, loss)
    best = max(SCALES, key=lambda scale: scores[scale][0])  # max keeps the first of equals: more of the parent
    set_scale(best)
    return ScaleFit(best, scores)
