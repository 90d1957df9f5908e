"""Text to tensors: tokenising, padding into batches, pooling hidden states.

Classification batches are right-padded (the last real token is at ``length - 1``);
generation prompts for ``generate`` are left-padded so new tokens follow directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    # Generation: token targets (-100 where no loss); classification: label indices.
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


# Where a label's words meet: a lower letter then a capital (PayBill), an acronym's end
# (ATMFee), a digit then a capitalised word (W2Form); and the separators names may hold.
_CASE_BREAK = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[0-9])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[_\-.:/\s]+")


def label_text(label: str) -> str:
    """How a label reads as text for zero-shot matching: its words, however the name joins them.

    ``pay_bill``, ``pay-bill``, ``billing/pay.bill`` and ``PayBill`` (SNIPS-style names) read
    as words, so the label embedding a zero-shot answer and a new head start from is that
    of the words, not of word pieces of one long token.
    """
    return _SEPARATORS.sub(" ", _CASE_BREAK.sub(" ", label)).strip() or label


def token_limit(tokenizer: PreTrainedTokenizerBase, max_length: int) -> int:
    """``max_length``, but never more tokens than the model has positions for.

    ``load_base`` sets the tokenizer's ``model_max_length`` to the model's position count,
    so a requested length above it cuts the input instead of indexing past the position
    table (a small custom checkpoint, or a tiny test model).
    """
    return min(max_length, int(getattr(tokenizer, "model_max_length", max_length) or max_length))


def encode_texts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids with the model's own special tokens (e.g. [CLS] ... [SEP]), truncated."""
    if not texts:
        return []
    limit = token_limit(tokenizer, max_length)
    return tokenizer(list(texts), truncation=True, max_length=limit, add_special_tokens=True)["input_ids"]


def prompt_text(tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """The chat template's user turn when the tokenizer has one, else ``text`` + newline."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
        )
    return f"{text}\n"


def encode_prompts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Prompt ids for generation, keeping the end of a prompt that is too long."""
    prefix = [] if getattr(tokenizer, "chat_template", None) or tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    max_length = token_limit(tokenizer, max_length)
    encoded = []
    for text in texts:
        ids = prefix + tokenizer(prompt_text(tokenizer, text), add_special_tokens=False)["input_ids"]
        encoded.append(ids[-max_length:])
    return encoded


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str], max_length: int
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids + eos) with the prompt cut from the left to fit."""
    if tokenizer.eos_token_id is None:
        raise ValueError("generation needs a tokenizer with an eos token")
    max_length = token_limit(tokenizer, max_length)
    prompt_ids = encode_prompts(tokenizer, prompts, max_length)
    pairs = []
    for prompt, response in zip(prompt_ids, responses):
        answer = tokenizer(response, add_special_tokens=False)["input_ids"][: max_length - 1] + [tokenizer.eos_token_id]
        keep = max(1, max_length - len(answer))
        pairs.append((prompt[-keep:], answer[: max_length - 1]))
    return pairs


def pad_right(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def pad_left(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    return ids, mask


def classification_batch(ids: Sequence[Sequence[int]], label_ids: Sequence[int] | None, pad_id: int) -> Batch:
    input_ids, mask = pad_right(ids, pad_id)
    labels = None if label_ids is None else torch.tensor(list(label_ids), dtype=torch.long)
    return Batch(input_ids, mask, labels)


def generation_batch(pairs: Sequence[tuple[list[int], list[int]]], pad_id: int) -> Batch:
    """Prompt + response, loss only on the response tokens (prompt and padding are -100)."""
    input_ids, mask = pad_right([p + r for p, r in pairs], pad_id)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for row, (prompt, response) in enumerate(pairs):
        labels[row, len(prompt) : len(prompt) + len(response)] = torch.tensor(response, dtype=torch.long)
    return Batch(input_ids, mask, labels)


def batched(indices: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield list(indices[start : start + size])


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """One vector per sequence: mask-weighted mean, or the last real token (right padding)."""
    if how == "mean":
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    if how == "last":
        last = attention_mask.sum(dim=1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling {how!r} is unknown; choose 'mean' or 'last'")
