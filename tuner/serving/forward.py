"""One forward pass over rows that belong to different adapters, then each row's own head.

The gathered LoRA slots (``gathered.py``; ``"__base__"`` for no adapter) let every
LoRA-targeted layer add each row's own adapter delta in two batched products while the
base weights run once for the whole batch. Rows are sorted by length before chunking so padding stays small;
answers come back in the rows' order.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from tuner.device import autocast, device_of, to_device
from tuner.encoding import batched, classification_batch, pad_left, pool
from tuner.heads import ClassifierHead
from tuner.serving.gathered import GatheredLora
from tuner.serving.requests import GenerationOptions
from tuner.serving.types import BASE_ADAPTER, Prediction


@dataclass(frozen=True)
class Row:
    """One input to classify: token ids, the resident adapter's name, and that variant's head."""

    ids: list[int]
    adapter: str
    head: ClassifierHead
    labels: tuple[str, ...]


@torch.no_grad()
def classify_rows(
    model: nn.Module,
    rows: Sequence[Row],
    *,
    pooling: str,
    pad_id: int,
    adapters: GatheredLora | None = None,
    batch_size: int = 64,
) -> list[Prediction]:
    """Label and softmax score per row; with ``adapters`` each row runs its own adapter."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
    out: list[Prediction | None] = [None] * len(rows)
    for chunk in batched(order, batch_size):
        batch = to_device(classification_batch([rows[i].ids for i in chunk], None, pad_id), model)
        selected = adapters.rows([rows[i].adapter for i in chunk]) if adapters is not None else contextlib.nullcontext()
        with selected, autocast(model):
            hidden = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        pooled = pool(hidden.float(), batch.attention_mask, pooling)
        by_head: dict[int, list[int]] = defaultdict(list)
        for position, i in enumerate(chunk):
            by_head[id(rows[i].head)].append(position)
        for positions in by_head.values():
            first = rows[chunk[positions[0]]]
            probs = torch.softmax(first.head(pooled[positions]), dim=-1)
            scores, best = probs.max(dim=-1)
            for position, score, label in zip(positions, scores.tolist(), best.tolist()):
                out[chunk[position]] = Prediction(label=first.labels[label], score=float(score))
    return out  # type: ignore[return-value]


@torch.no_grad()
def classify_logits(
    model: nn.Module, head: ClassifierHead, ids: Sequence[list[int]], *, pooling: str, pad_id: int, batch_size: int = 64
) -> torch.Tensor:
    """Raw logits of one head over ``ids`` in order (exports are compared on these)."""
    parts = []
    for chunk in batched(range(len(ids)), batch_size):
        batch = to_device(classification_batch([ids[i] for i in chunk], None, pad_id), model)
        with autocast(model):
            hidden = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        parts.append(head(pool(hidden.float(), batch.attention_mask, pooling)))
    return torch.cat(parts) if parts else torch.zeros(0)


@torch.no_grad()
def generate_rows(
    model: nn.Module,
    tokenizer,
    prompts: Sequence[list[int]],
    options: GenerationOptions,
    *,
    adapter: str | None,
    adapters: GatheredLora | None = None,
    batch_size: int = 8,
) -> list[Prediction]:
    """Decoded responses of one request; ``adapter`` is a resident name in ``adapters`` (None: a plain model).

    Sampling draws from a generator seeded by ``options.seed`` in a forked RNG, so the
    same request gives the same text whatever else the process is doing.
    """
    out: list[Prediction] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        for chunk in batched(range(len(prompts)), batch_size):
            input_ids, mask = (t.to(device_of(model)) for t in pad_left([prompts[i] for i in chunk], tokenizer.pad_token_id))
            decoding = {"do_sample": True, "temperature": options.temperature} if options.sample else {"do_sample": False}
            if adapter is not None and adapters is None:
                raise ValueError(f"adapter {adapter!r} was asked for but no adapters are resident")
            name = adapter if adapter is not None else BASE_ADAPTER
            selected = adapters.rows([name] * len(chunk)) if adapters is not None else contextlib.nullcontext()
            with selected, autocast(model):
                tokens = model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    max_new_tokens=options.max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    **decoding,
                )
            new = tokens[:, input_ids.shape[1] :]
            out += [Prediction(text=tokenizer.decode(row, skip_special_tokens=True).strip()) for row in new]
    return out
