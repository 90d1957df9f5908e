"""Predictions from a base model, with or without an adapter.

Classification without an adapter is zero-shot: cosine similarity between the pooled
input and the pooled label names. Generation decodes greedily, or samples with a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from tuner.adapters import Adapter
from tuner.config import DEFAULT_MAX_LENGTH
from tuner.encoding import batched, classification_batch, encode_prompts, encode_texts, pad_left
from tuner.device import autocast
from tuner.heads import pooled_on_device, zero_shot_head
from tuner.loading import BaseModel


def max_length_for(adapter: Adapter | None, max_length: int | None) -> int:
    """The caller's limit, else the one the adapter was trained with (inputs cut alike)."""
    if max_length is not None:
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length!r}")
        return max_length
    if adapter is not None:
        return int(adapter.info.train_config.get("max_length", DEFAULT_MAX_LENGTH))
    return DEFAULT_MAX_LENGTH


@dataclass(frozen=True)
class Prediction:
    # Classification: the label and its softmax probability.
    label: str = ""
    score: float = 0.0
    # Generation: the decoded response.
    text: str = ""


def _classifier(
    base: BaseModel, adapter: Adapter | None, labels: Sequence[str] | None, max_length: int,
    descriptions: Mapping[str, str] | None = None,
):
    if adapter is not None:
        if labels is not None and tuple(labels) != adapter.labels:
            raise ValueError("labels are fixed by the adapter's head; do not pass other labels with an adapter")
        return adapter.model, adapter.head, list(adapter.labels)
    if not labels:
        raise ValueError("zero-shot classification without an adapter needs labels")
    head = zero_shot_head(base.model, base.tokenizer, labels, base.pooling, max_length=max_length, descriptions=descriptions)
    return base.model, head, list(labels)


@torch.no_grad()
def classify(
    base: BaseModel,
    inputs: Sequence[str],
    adapter: Adapter | None = None,
    *,
    labels: Sequence[str] | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> list[Prediction]:
    """Each input's label and probability; zero-shot over ``labels`` (with their ``descriptions``) without an adapter."""
    max_length = max_length_for(adapter, max_length)
    model, head, label_list = _classifier(base, adapter, labels, max_length, descriptions)
    ids = encode_texts(base.tokenizer, inputs, max_length)
    out: list[Prediction | None] = [None] * len(ids)
    # Batches of similar length: little compute goes to padding (answers come back in input order).
    for chunk in batched(sorted(range(len(ids)), key=lambda i: len(ids[i])), batch_size):
        batch = classification_batch([ids[i] for i in chunk], None, base.tokenizer.pad_token_id)
        probs = torch.softmax(head(pooled_on_device(model, batch, base.pooling)), dim=-1)
        scores, best = probs.max(dim=-1)
        for row, score, index in zip(chunk, scores, best):
            out[row] = Prediction(label=label_list[int(index)], score=float(score))
    return out  # type: ignore[return-value]


@torch.no_grad()
def generate(
    base: BaseModel,
    inputs: Sequence[str],
    adapter: Adapter | None = None,
    *,
    batch_size: int = 8,
    max_length: int | None = None,
    max_new_tokens: int = 32,
    sample: bool = False,
    seed: int = 0,
    temperature: float = 1.0,
) -> list[Prediction]:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
    if sample and not temperature > 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature!r}")
    model = adapter.model if adapter is not None else base.model
    tokenizer = base.tokenizer
    prompts = encode_prompts(tokenizer, inputs, max_length_for(adapter, max_length))
    out: list[Prediction] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for chunk in batched(range(len(prompts)), batch_size):
            input_ids, mask = (t.to(base.device) for t in pad_left([prompts[i] for i in chunk], tokenizer.pad_token_id))
            options = {"do_sample": True, "temperature": temperature} if sample else {"do_sample": False}
            with autocast(model):
                tokens = model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    **options,
                )
            new = tokens[:, input_ids.shape[1] :]
            out += [Prediction(text=tokenizer.decode(row, skip_special_tokens=True).strip()) for row in new]
    return out


def predict(
    base: BaseModel,
    inputs: Sequence[str],
    adapter: Adapter | None = None,
    *,
    labels: Sequence[str] | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    max_new_tokens: int = 32,
    sample: bool = False,
    seed: int = 0,
    temperature: float = 1.0,
) -> list[Prediction]:
    """One Prediction per input, from ``base`` alone or ``base`` + ``adapter``."""
    if adapter is not None and adapter.info.task != base.task:
        raise ValueError(f"adapter task {adapter.info.task!r} does not match the base's task {base.task!r}")
    if base.task == "classification":
        return classify(base, inputs, adapter, labels=labels, batch_size=batch_size, max_length=max_length)
    return generate(
        base,
        inputs,
        adapter,
        batch_size=batch_size,
        max_length=max_length,
        max_new_tokens=max_new_tokens,
        sample=sample,
        seed=seed,
        temperature=temperature,
    )
