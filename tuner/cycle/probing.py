"""The loss a cycle probes layers with, per task.

Classification probes the bare backbone through the zero-shot head (label names and
declared descriptions), i.e. where the base model's own answer is wrong; generation uses
the response-token LM loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch.nn.functional as F

from tuner.cycle.config import CycleConfig
from tuner.data import Example
from tuner.encoding import batched
from tuner.heads import pooled, zero_shot_head
from tuner.loading import BaseModel
from tuner.objectives import objective_for
from tuner.probe import ProbeObservation, causal_lm_loss, probe_layers


def probe_domain(
    base: BaseModel, examples: Sequence[Example], config: CycleConfig, labels: Sequence[str] = (),
    descriptions: Mapping[str, str] | None = None,
) -> list[ProbeObservation]:
    """Gradient norm per (layer, group) of the base model on ``examples``; the base is left unchanged.

    ``labels`` is the domain's label set for the zero-shot head (default: the examples' own),
    ``descriptions`` its declared descriptions: the head is the one zero-shot Predict answers
    with, so the probe measures where the served base model is wrong.
    """
    if not examples:
        raise ValueError("probe_domain needs at least one example")
    max_length = config.train.max_length
    labels = sorted(set(labels) | {e.target for e in examples})
    objective = objective_for(base, labels, max_length)
    items = objective.encode(list(examples))
    batches = [objective.batch([items[i] for i in chunk]) for chunk in batched(range(len(items)), config.probe_batch_size)]
    if base.task == "classification":
        head = zero_shot_head(base.model, base.tokenizer, labels, base.pooling, max_length=max_length,
                              descriptions=descriptions)
        head.requires_grad_(False)

        def loss_fn(model, batch):
            return F.cross_entropy(head(pooled(model, batch, base.pooling)), batch.labels)

    else:
        loss_fn = causal_lm_loss
    return probe_layers(base.model, batches, loss_fn, groups=tuple(config.groups), show_progress=False)
