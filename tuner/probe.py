"""Layer-sensitivity probe: where would a domain's corrected examples pull the weights?

A few backward passes over a domain's recent corrected examples; for every
(layer, module group) the norm of the loss gradient on that group's base
weights says how much adapting it could reduce the loss. Ranking turns these
observations (stored in the ``probes`` table) into the layers a LoRA adapter
targets. The model is left exactly as it was: weights untouched, the
``requires_grad`` flags, training mode and ``.grad`` fields restored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from recsys.probes import ProbeRecord, new_probe_id
from tuner.architectures import MODULE_GROUPS, group_modules, num_layers

# loss_fn(model, batch) -> scalar loss of the batch (mean over its examples).
LossFn = Callable[[nn.Module, Any], torch.Tensor]


@dataclass(frozen=True)
class ProbeObservation:
    layer: int
    module_group: str
    grad_norm: float
    n_examples: int


def _field(batch: Any, name: str) -> torch.Tensor | None:
    if isinstance(batch, Mapping):
        return batch.get(name)
    return getattr(batch, name, None)


def batch_size(batch: Any) -> int:
    """Examples in a batch: the first dimension of its ``input_ids``."""
    ids = _field(batch, "input_ids")
    if ids is None:
        raise ValueError(f"a probe batch needs input_ids, got {type(batch).__name__} without them")
    return int(ids.shape[0])


def causal_lm_loss(model: nn.Module, batch: Any) -> torch.Tensor:
    """Response-token LM loss: ``labels`` hold -100 on prompt and padding tokens.

    Works with ``tuner.encoding.Batch`` (``generation_batch``) or a mapping with
    input_ids, attention_mask and labels; the causal LM shifts the labels itself.
    """
    labels = _field(batch, "labels")
    if labels is None:
        raise ValueError("causal_lm_loss needs labels (-100 where no loss) in the batch")
    if not bool((labels != -100).any()):
        raise ValueError("causal_lm_loss: the batch has no response tokens (every label is -100)")
    output = model(input_ids=_field(batch, "input_ids"), attention_mask=_field(batch, "attention_mask"), labels=labels)
    return output.loss


def _targets(model: nn.Module, groups: tuple[str, ...]) -> list[tuple[int, str, list[nn.Parameter]]]:
    targets = []
    for layer in range(num_layers(model)):
        for group in groups:
            weights = [module.weight for module in group_modules(model, layer, group).values()]
            targets.append((layer, group, weights))
    return targets


def probe_layers(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: LossFn = causal_lm_loss,
    *,
    groups: tuple[str, ...] = ("attention", "mlp"),
    max_batches: int | None = None,
    show_progress: bool = True,
) -> list[ProbeObservation]:
    """Gradient norm per (layer, module group), averaged over batches weighted by their size.

    Each batch's gradient is taken with ``torch.autograd.grad`` on the group's
    base weights only (nothing accumulates in ``.grad``); the norm over a
    group is the L2 norm across its modules. The model runs in eval mode so a
    fixed model and fixed batches give the same numbers every time. It flips
    ``requires_grad`` on the shared weight tensors while it runs, so do not
    train on the same base model concurrently (serving, under no_grad, is fine).
    """
    bad = [g for g in groups if g not in MODULE_GROUPS]
    if bad or not groups:
        raise ValueError(f"groups {bad or list(groups)} invalid; choose from {list(MODULE_GROUPS)}")
    if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"max_batches must be an int >= 1 or None, got {max_batches!r}")
    targets = _targets(model, tuple(groups))
    params = [p for _, _, weights in targets for p in weights]
    flags = {id(p): p.requires_grad for p in model.parameters()}
    was_training = model.training
    sums = [0.0] * len(targets)
    seen = 0
    model.eval()
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        for index, batch in enumerate(tqdm(batches, desc="probe layers", disable=not show_progress, leave=False)):
            if max_batches is not None and index >= max_batches:
                break
            size = batch_size(batch)
            with torch.enable_grad():
                loss = loss_fn(model, batch)
                if not torch.isfinite(loss):
                    raise ValueError(f"probe loss is {float(loss)} on batch {index}; check the batch and the model")
                grads = torch.autograd.grad(loss, params, allow_unused=True)
            by_param = {id(p): g for p, g in zip(params, grads)}
            for t, (_, _, weights) in enumerate(targets):
                squared = sum(float(by_param[id(w)].pow(2).sum()) for w in weights if by_param[id(w)] is not None)
                sums[t] += math.sqrt(squared) * size
            seen += size
    finally:
        for p in model.parameters():
            p.requires_grad_(flags[id(p)])
        model.train(was_training)
    if seen == 0:
        raise ValueError("probe_layers got no batches: a domain needs corrected examples to probe")
    return [
        ProbeObservation(layer=layer, module_group=group, grad_norm=sums[t] / seen, n_examples=seen)
        for t, (layer, group, _) in enumerate(targets)
    ]


def to_probe_records(
    observations: list[ProbeObservation],
    domain: str,
    base_model: str,
    probe_id: str | None = None,
    cycle_id: str | None = None,
) -> list[ProbeRecord]:
    """The rows for ``recsys.probes.write_probes``: one probe run shares one id."""
    probe_id = probe_id or new_probe_id()
    return [
        ProbeRecord(
            domain=domain,
            base_model=base_model,
            layer=o.layer,
            module_group=o.module_group,
            grad_norm=o.grad_norm,
            n_examples=o.n_examples,
            probe_id=probe_id,
            cycle_id=cycle_id,
        )
        for o in observations
    ]
