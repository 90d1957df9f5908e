"""Gathered multi-adapter LoRA: every row of a batch runs its own adapter in two batched products.

PEFT's mixed batches (``adapter_names``) loop over the adapters in every LoRA layer; on
a GPU that is 13-23x slower than one adapter. Here (the Punica / S-LoRA idea, vLLM's
plain-torch path) each targeted ``nn.Linear`` holds its resident adapters stacked in
preallocated zero-filled tensors, ``lora_a [slots + 1, r_max, in]`` and
``lora_b [slots + 1, out, r_max]`` (smaller ranks zero-padded, scaling folded into B),
and a per-row slot index set once per forward picks each row's pair:
``base(x) + bmm(bmm(x, A[idx].T), B[idx].T)``. The extra last slot stays zero: the
base model's rows point at it. A module that an adapter does not target keeps that
adapter's slot zero, so adapters on different layers mix freely.

On a GPU a small model's forward is bound by kernel launches, not arithmetic, so the
delta costs what it launches: the stacks are kept (float32, the master copy) beside a
copy in the dtype the forward computes in (bf16 under CUDA autocast, made once per
change of the slots, so no cast runs per forward), and the second product adds into
the base output in place (``addmm_`` / ``baddbmm_``, one kernel for product and sum).
Autocast would round A and B to bf16 anyway, so the copy changes no result.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from tuner.serving.errors import UnknownAdapterError
from tuner.serving.lora_weights import LoraWeights, ModuleLora
from tuner.serving.types import BASE_ADAPTER


@dataclass
class RowSlots:
    """The batch's per-row slot index, shared by every gathered module of one model."""

    index: torch.Tensor | None = None  # [rows], long, on the model's device
    uniform: int | None = None  # the one slot every row uses, when they all use the same
    used: frozenset[int] = frozenset()
    # The last input cast to the compute dtype and its cast: q, k and v (gate and up) read
    # the same tensor, so it is cast once for all of them.
    cast_from: torch.Tensor | None = None
    cast_to: torch.Tensor | None = None

    def cast(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if x.dtype == dtype:
            return x
        if self.cast_from is not x or self.cast_to is None or self.cast_to.dtype != dtype:
            self.cast_from, self.cast_to = x, x.to(dtype)
        return self.cast_to

    def clear(self) -> None:
        self.index, self.uniform, self.used = None, None, frozenset()
        self.cast_from = self.cast_to = None


class GatheredLinear(nn.Module):
    """A frozen ``nn.Linear`` plus the stacked LoRA pairs of every resident adapter."""

    def __init__(self, base: nn.Linear, rows: RowSlots, slots: int, rank: int) -> None:
        super().__init__()
        self.base = base
        self.rows = rows
        self.slots = slots
        weight = base.weight
        self.register_buffer("lora_a", torch.zeros(slots + 1, rank, base.in_features, device=weight.device), persistent=False)
        self.register_buffer("lora_b", torch.zeros(slots + 1, base.out_features, rank, device=weight.device), persistent=False)
        self.filled: set[int] = set()
        # (lora_a, lora_b) in a compute dtype other than float32, rebuilt after any slot changes.
        self._cast: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def rank(self) -> int:
        return int(self.lora_a.shape[1])

    def set_slot(self, slot: int, lora: ModuleLora) -> None:
        """Copy one adapter's pair into ``slot`` (zero-padded to the stack's rank, grown if needed)."""
        if not 0 <= slot < self.slots:
            raise IndexError(f"slot {slot} is outside 0..{self.slots - 1}")
        expected = (self.base.in_features, self.base.out_features)
        if (lora.a.shape[1], lora.b.shape[0]) != expected:
            raise ValueError(f"LoRA pair {tuple(lora.a.shape)}/{tuple(lora.b.shape)} does not fit a linear of in/out {expected}")
        if lora.rank > self.rank:
            self._grow(lora.rank)
        self.reset_slot(slot)
        self.lora_a[slot, : lora.rank] = lora.a.to(self.lora_a.device)
        self.lora_b[slot, :, : lora.rank] = lora.b.to(self.lora_b.device)
        self.filled.add(slot)
        self._cast.clear()

    def reset_slot(self, slot: int) -> None:
        self.lora_a[slot].zero_()
        self.lora_b[slot].zero_()
        self.filled.discard(slot)
        self._cast.clear()

    def _grow(self, rank: int) -> None:
        grown_a = self.lora_a.new_zeros(self.slots + 1, rank, self.base.in_features)
        grown_b = self.lora_b.new_zeros(self.slots + 1, self.base.out_features, rank)
        grown_a[:, : self.rank] = self.lora_a
        grown_b[:, :, : self.rank] = self.lora_b
        self.lora_a, self.lora_b = grown_a, grown_b
        self._cast.clear()

    def stacks(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lora_a, lora_b)`` in ``dtype``: the float32 masters themselves, or their cached copy."""
        if dtype == self.lora_a.dtype:
            return self.lora_a, self.lora_b
        if dtype not in self._cast:
            self._cast[dtype] = (self.lora_a.to(dtype), self.lora_b.to(dtype))
        return self._cast[dtype]

    def nbytes(self) -> int:
        """Bytes of the float32 stacks and of their compute-dtype copies."""
        tensors = [self.lora_a, self.lora_b, *(t for pair in self._cast.values() for t in pair)]
        return sum(t.numel() * t.element_size() for t in tensors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        rows = self.rows
        if rows.index is None:
            raise RuntimeError("gathered LoRA module called without a row index (use GatheredLora.rows(names))")
        if not (rows.used & self.filled):
            return out  # no row of this batch has an adapter on this module
        dtype = compute_dtype(x)
        lora_a, lora_b = self.stacks(dtype)
        x = rows.cast(x, dtype)
        if rows.uniform is not None:
            down = x.reshape(-1, x.shape[-1]) @ lora_a[rows.uniform].T  # [tokens, r]
            if out.dtype == dtype and out.is_contiguous():
                out.view(-1, out.shape[-1]).addmm_(down, lora_b[rows.uniform].T)
                return out
            return out + (down @ lora_b[rows.uniform].T).reshape(out.shape).to(out.dtype)
        if x.shape[0] != rows.index.shape[0]:
            raise RuntimeError(f"batch of {x.shape[0]} rows but a row index of {rows.index.shape[0]}")
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        down = torch.bmm(flat, lora_a.index_select(0, rows.index).transpose(1, 2))  # [rows, tokens, r]
        up = lora_b.index_select(0, rows.index).transpose(1, 2)  # [rows, r, out]
        if out.dtype == dtype and out.is_contiguous():
            out.view(x.shape[0], -1, out.shape[-1]).baddbmm_(down, up)
            return out
        return out + torch.bmm(down, up).reshape(out.shape).to(out.dtype)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a matmul on ``x`` runs in here: autocast's when it is on for ``x``'s device."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def reference_delta(x: torch.Tensor, pairs: Sequence[ModuleLora | None], out_features: int) -> torch.Tensor:
    """The loop the gathered product must equal: row by row, ``x @ A.T @ B.T`` (zero for None)."""
    rows = [row @ p.a.T @ p.b.T if p is not None else row.new_zeros(*row.shape[:-1], out_features) for row, p in zip(x, pairs)]
    return torch.stack(rows)


def check_targets(model: nn.Module, weights: LoraWeights) -> None:
    """Raise ValueError unless every module the adapter targets is a linear of the right shape in ``model``."""
    for path, lora in weights.modules.items():
        try:
            module = model.get_submodule(path)
        except AttributeError:
            raise ValueError(f"the base model has no module {path!r}") from None
        linear = module.base if isinstance(module, GatheredLinear) else module
        if not isinstance(linear, nn.Linear):
            raise ValueError(f"module {path!r} is a {type(module).__name__}, not a linear layer")
        if (lora.a.shape[1], lora.b.shape[0]) != (linear.in_features, linear.out_features):
            raise ValueError(
                f"module {path!r}: LoRA in/out {(lora.a.shape[1], lora.b.shape[0])} != linear "
                f"{(linear.in_features, linear.out_features)}"
            )


class GatheredLora:
    """Slots for up to ``slots`` adapters on one model tree (a fork: its linears get replaced).

    ``load(name, weights)`` takes a free slot and wraps the modules the adapter targets
    (once per module, for every later adapter too); ``unload`` zeroes the slot; ``rows``
    sets the per-row index for one forward. A name that is not loaded raises
    UnknownAdapterError: nothing silently serves the base.
    """

    def __init__(self, model: nn.Module, slots: int, rank: int = 8) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be a positive integer, got {slots!r}")
        self.model = model
        self.slots = slots
        self.initial_rank = rank
        self.state = RowSlots()
        self.layers: dict[str, GatheredLinear] = {}
        self._slot_of: dict[str, int] = {}
        self._targets: dict[str, tuple[str, ...]] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._slot_of)

    def slot_of(self, name: str) -> int:
        try:
            return self._slot_of[name]
        except KeyError:
            raise UnknownAdapterError(f"adapter {name!r} is not loaded (loaded: {self.names})") from None

    def load(self, name: str, weights: LoraWeights) -> int:
        if name in self._slot_of:
            raise ValueError(f"adapter {name!r} is already loaded")
        if name == BASE_ADAPTER:
            raise ValueError(f"{BASE_ADAPTER!r} names the base model, not an adapter")
        free = sorted(set(range(self.slots)) - set(self._slot_of.values()))
        if not free:
            raise RuntimeError(f"all {self.slots} slots are taken; unload an adapter first")
        check_targets(self.model, weights)
        slot = free[0]
        for path, lora in weights.modules.items():
            self._wrapped(path).set_slot(slot, lora)
        self._slot_of[name] = slot
        self._targets[name] = tuple(weights.modules)
        return slot

    def unload(self, name: str) -> None:
        slot = self.slot_of(name)
        for path in self._targets.pop(name):
            self.layers[path].reset_slot(slot)
        del self._slot_of[name]

    @contextlib.contextmanager
    def rows(self, names: Sequence[str]) -> Iterator[None]:
        """Every forward inside runs row ``i`` with adapter ``names[i]`` (``__base__``: none)."""
        slots = [self.slots if name == BASE_ADAPTER else self.slot_of(name) for name in names]
        device = next(self.model.parameters()).device
        state = self.state
        state.index = torch.tensor(slots, dtype=torch.long, device=device)
        state.used = frozenset(slots)
        state.uniform = slots[0] if len(state.used) == 1 else None
        try:
            yield
        finally:
            state.clear()

    def _wrapped(self, path: str) -> GatheredLinear:
        layer = self.layers.get(path)
        if layer is None:
            linear = self.model.get_submodule(path)
            layer = GatheredLinear(linear, self.state, self.slots, self.initial_rank)
            parent, _, child = path.rpartition(".")
            setattr(self.model.get_submodule(parent) if parent else self.model, child, layer)
            self.layers[path] = layer
        return layer

    def nbytes(self) -> int:
        """Bytes of the preallocated stacks (every slot, padded) and their compute-dtype copies."""
        return sum(layer.nbytes() for layer in self.layers.values())
