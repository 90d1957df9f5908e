"""Load a base model for a task, offline, frozen, in eval mode.

Classification uses the bare backbone (``AutoModel``: a BERT encoder or a causal LM's
decoder stack) so every adapter's head can share it; generation uses the causal LM.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch import nn
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from tuner.architectures import UnsupportedArchitectureError, num_layers, spec_for, spec_for_model_type
from tuner.catalog import InvalidCheckpointError, resolve_model
from tuner.device import device_of, resolve_device
from tuner.errors import TuningError, UnknownTaskError

TASKS = ("classification", "generation")
ENCODER_FAMILIES = ("bert",)


@dataclass
class BaseModel:
    """A loaded base model: shared, frozen, never modified by training or adapters."""

    name: str
    family: str
    task: str
    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    path: Path

    @property
    def is_encoder(self) -> bool:
        return self.family in ENCODER_FAMILIES

    @property
    def pooling(self) -> str | None:
        """How classification pools tokens: mean for encoders, last token for causal LMs."""
        if self.task != "classification":
            return None
        return "mean" if self.is_encoder else "last"

    @property
    def num_layers(self) -> int:
        return num_layers(self.model)

    @property
    def device(self) -> torch.device:
        return device_of(self.model)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def fork(self) -> nn.Module:
        """A new module tree that shares this model's weight tensors.

        PEFT injects LoRA layers by replacing modules in the tree it is given; doing that
        on a fork leaves ``self.model`` untouched (and usable by other threads) without
        copying any weights. Never merge an adapter into a fork: the weights are shared.
        """
        memo: dict[int, object] = {id(t): t for t in self.model.parameters()}
        memo.update({id(t): t for t in self.model.buffers()})
        return copy.deepcopy(self.model, memo)


def check_task(task: str) -> str:
    if task not in TASKS:
        raise UnknownTaskError(f"task {task!r} is unknown; choose from {list(TASKS)}")
    return task


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide load reports and progress bars (expected 'unexpected lm_head' notes)."""
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_base(name_or_path: str, task: str, *, device: str = "auto") -> BaseModel:
    """Resolve a catalog name or checkpoint folder and load it for ``task`` on ``device``.

    ``device`` is ``auto`` (CUDA when present), ``cpu`` or ``cuda``; the weights stay
    float32 (CUDA forwards run under bf16 autocast, see ``tuner.device``).

    Raises UnknownModelError / InvalidCheckpointError (naming the value) for a bad
    name or folder, UnknownTaskError for a bad task, and TuningError when the model
    cannot do the task (generation on an encoder).
    """
    check_task(task)
    target = resolve_device(device)
    source = resolve_model(name_or_path)
    if task == "generation" and source.family in ENCODER_FAMILIES:
        raise TuningError(f"task 'generation' needs a causal LM; model {name_or_path!r} is an encoder ({source.family})")
    loader = AutoModel if task == "classification" else AutoModelForCausalLM
    try:
        with _quiet_transformers():
            spec_for_model_type(AutoConfig.from_pretrained(source.path).model_type)
            model = loader.from_pretrained(source.path, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(source.path)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        if isinstance(error, UnsupportedArchitectureError):
            raise
        raise InvalidCheckpointError(f"checkpoint {str(source.path)!r} could not be loaded: {error}") from error
    spec_for(model)  # the loaded class must have the layout the spec describes
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise InvalidCheckpointError(f"tokenizer of {str(source.path)!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # Inputs are cut to what the model can place (tuner.encoding.token_limit).
        tokenizer.model_max_length = min(tokenizer.model_max_length, positions)
    model.eval()
    model.requires_grad_(False)
    model.to(target)
    return BaseModel(
        name=source.name, family=source.family, task=task, model=model, tokenizer=tokenizer, path=source.path
    )
