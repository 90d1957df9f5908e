"""Zero-shot heads of the bare base model, one per label set, cached.

A base-model variant classifies by cosine similarity to its labels' embeddings (names,
and descriptions where declared: ``tuner.heads.zero_shot_head``); embedding them costs a
forward pass, so heads are kept for the most recent label sets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from tuner.heads import ClassifierHead, zero_shot_head
from tuner.loading import BaseModel


class ZeroShotHeads:
    def __init__(self, base: BaseModel, *, max_length: int, tokenizer_lock: threading.Lock, capacity: int = 32) -> None:
        self._base = base
        self._max_length = max_length
        self._tokenizer_lock = tokenizer_lock
        self._capacity = capacity
        self._heads: OrderedDict[tuple[tuple[str, ...], tuple[str, ...]], ClassifierHead] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, labels: tuple[str, ...], descriptions: tuple[str, ...] = ()) -> ClassifierHead:
        """The head over ``labels``; ``descriptions`` (aligned with them, or ()) shape their rows."""
        if not labels:
            raise ValueError("zero-shot classification needs at least one label")
        if descriptions and len(descriptions) != len(labels):
            raise ValueError(f"{len(descriptions)} descriptions for {len(labels)} labels")
        key = (labels, descriptions)
        with self._lock:
            head = self._heads.get(key)
            if head is not None:
                self._heads.move_to_end(key)
                return head
            # The bare base never carries LoRA layers, so this may run beside a forward pass on the fork.
            with self._tokenizer_lock:
                head = zero_shot_head(
                    self._base.model, self._base.tokenizer, labels, self._base.pooling, max_length=self._max_length,
                    descriptions=dict(zip(labels, descriptions)),
                )
            head.eval().requires_grad_(False)
            self._heads[key] = head
            while len(self._heads) > self._capacity:
                self._heads.popitem(last=False)
            return head
