"""Run the frozen layers below the lowest adapted layer once per example, not once per step.

With LoRA on layers k..L-1, the embeddings and layers 0..k-1 never change during training,
so their output for an example is the same on every epoch. Training computes it once
(in eval mode: no dropout below layer k; the adapted layers and LoRA keep theirs), keeps
it, and each step runs only layers k..L-1 on it. The forward pass then costs
(L - k) / L of the whole model's, as the backward pass already did.

How: during a step, layers 0..k-1 are swapped for a pass-through and a forward pre-hook on
layer k replaces its input with the cached states, right-padded to the batch's width.
Padded positions never reach a real token (they are masked keys, or later than every real
token for causal models) nor the loss. The model's own forward still builds the
attention mask and position embeddings, so nothing architecture-specific is rewritten.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from tuner.architectures import find_layers
from tuner.encoding import Batch, batched

# Cached states above this size are not kept; training then runs the whole model each step.
MAX_CACHE_BYTES = 1 << 30


class _PassThrough(nn.Module):
    """Stands in for a frozen layer whose output is already cached."""

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states


class _Captured(Exception):
    """Stops a forward pass once the input of layer k is known (nothing above it is needed)."""

    def __init__(self, hidden: torch.Tensor) -> None:
        super().__init__("captured")
        self.hidden = hidden


def _hidden_argument(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def cache_bytes(lengths: Sequence[int], hidden_size: int, dtype: torch.dtype) -> int:
    """Memory the cached states of examples of these token lengths take."""
    return sum(lengths) * hidden_size * torch.empty((), dtype=dtype).element_size()


def pad_states(states: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    """Right-pad (length, hidden) states with zeros into one (batch, width, hidden) tensor."""
    first = states[0]
    out = first.new_zeros((len(states), width, first.shape[-1]))
    for row, state in enumerate(states):
        out[row, : state.shape[0]] = state
    return out


class FrozenPrefix:
    """Layers 0..depth-1 of one adapter's model, cached per example and skipped in steps."""

    def __init__(self, model: nn.Module, depth: int) -> None:
        _, self.layers = find_layers(model)
        if not 0 < depth < len(self.layers):
            raise ValueError(f"a frozen prefix needs 0 < depth < {len(self.layers)}, got {depth}")
        self.model = model
        self.depth = depth
        self._skip = _PassThrough()

    @torch.no_grad()
    def states(self, batch: Batch) -> list[torch.Tensor]:
        """The input of layer ``depth`` for each row of a right-padded batch, unpadded."""

        def capture(module: nn.Module, args: tuple, kwargs: dict) -> None:
            raise _Captured(_hidden_argument(args, kwargs))

        handle = self.layers[self.depth].register_forward_pre_hook(capture, with_kwargs=True)
        was_training = self.model.training
        self.model.eval()
        try:
            self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        except _Captured as captured:
            hidden = captured.hidden
        else:
            raise RuntimeError(f"layer {self.depth} never ran in the model's forward pass")
        finally:
            handle.remove()
            self.model.train(was_training)
        lengths = batch.attention_mask.sum(dim=1).tolist()
        if any(not bool(batch.attention_mask[row, :n].all()) for row, n in enumerate(lengths)):
            raise ValueError("frozen-prefix caching needs right-padded batches")
        return [hidden[row, :n].clone() for row, n in enumerate(lengths)]

    def encode(
        self, items: Sequence, make_batch: Callable[[list], Batch], length: Callable[[Any], int], batch_size: int
    ) -> list[torch.Tensor]:
        """Cached states of every item, in the items' order.

        Items run in batches of similar length (``length`` counts an item's tokens), so
        little compute goes to padding; ``make_batch`` pads items as training does.
        """
        order = sorted(range(len(items)), key=lambda i: length(items[i]))
        states: list[torch.Tensor | None] = [None] * len(items)
        for chunk in batched(order, batch_size):
            for index, state in zip(chunk, self.states(make_batch([items[i] for i in chunk]))):
                states[index] = state
        return states  # type: ignore[return-value]

    @contextlib.contextmanager
    def feeding(self, states: Sequence[torch.Tensor], width: int) -> Iterator[None]:
        """Within the block, the model starts at layer ``depth`` from ``states``."""
        hidden = pad_states(states, width)

        def replace(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
            if _hidden_argument(args, kwargs).shape != hidden.shape:
                raise ValueError(f"cached states {tuple(hidden.shape)} do not fit this batch")
            if args:
                return (hidden, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": hidden}

        originals = [self.layers[i] for i in range(self.depth)]
        for i in range(self.depth):
            self.layers[i] = self._skip
        handle = self.layers[self.depth].register_forward_pre_hook(replace, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()
            for i, layer in enumerate(originals):
                self.layers[i] = layer
