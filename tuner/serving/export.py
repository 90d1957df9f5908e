"""Standalone checkpoints of a variant: LoRA merged into a copy of the base, optionally int8.

An export folder is a Hugging Face checkpoint (``config.json``, tokenizer, weights in
safetensors) plus ``head.safetensors`` + ``labels.json`` (classification) and
``adaptune_export.json`` (kind, where it came from, pooling). A ``merged`` export
loads with plain transformers; an ``int8`` one holds int8 weights
(``model_int8.safetensors``, see ``quantize``) and loads with ``load_export``.
Folders are written under a temporary name and renamed into place.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from peft import get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from tuner.adapters import Adapter, quiet_peft
from tuner.config import DEFAULT_MAX_LENGTH
from tuner.heads import ClassifierHead
from tuner.loading import BaseModel, load_base
from tuner.serving.compare import Runner
from tuner.serving.quantize import QUANTIZATION, int8_tensors, load_int8, quantize_int8

EXPORT_INFO_FILE = "adaptune_export.json"
INT8_WEIGHTS_FILE = "model_int8.safetensors"
KINDS = ("merged", "int8", "distilled")
FORMAT_VERSION = 1


class ExportError(ValueError):
    """An export folder that is missing, incomplete or of an unknown format."""


@dataclass(frozen=True)
class ExportInfo:
    kind: str
    task: str
    family: str
    pooling: str | None
    labels: tuple[str, ...]
    # What was merged: the base and the adapter lineage, root first ("domain@version").
    source_base_model: str
    domain: str = ""
    version: str = ""
    lineage: tuple[str, ...] = ()
    variant_id: str = ""
    quantization: str | None = None
    # Free-form provenance (distillation: teacher, student, layers, report).
    details: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExportInfo":
        return cls(**{**data, "labels": tuple(data.get("labels") or ()), "lineage": tuple(data.get("lineage") or ())})


@dataclass
class ExportedModel:
    model: nn.Module
    tokenizer: object
    head: ClassifierHead | None
    info: ExportInfo
    folder: Path

    def runner(self, *, max_length: int = DEFAULT_MAX_LENGTH, batch_size: int = 32) -> Runner:
        return Runner(
            self.model, self.tokenizer, self.info.task, self.info.pooling, self.head, self.info.labels, max_length, batch_size
        )


def adapter_runner(base: BaseModel, adapter: Adapter, *, max_length: int = DEFAULT_MAX_LENGTH, batch_size: int = 32) -> Runner:
    """The unmerged variant (base fork + LoRA + head) as a Runner: what exports are compared with."""
    return Runner(adapter.model, base.tokenizer, base.task, base.pooling, adapter.head, adapter.labels, max_length, batch_size)


def merged_copy(base: BaseModel, adapter: Adapter) -> nn.Module:
    """A deep copy of the base with the adapter's LoRA merged into its weights.

    The copy owns its tensors, so merging never touches the shared base (never merge
    into ``BaseModel.fork()``, whose weights are shared).
    """
    peft_config = copy.deepcopy(adapter.model.peft_config[adapter.model.active_adapter])
    peft_config.inference_mode = True
    with quiet_peft():
        wrapped = get_peft_model(copy.deepcopy(base.model), peft_config)
        result = set_peft_model_state_dict(wrapped, adapter.lora_state())
    if result.unexpected_keys:
        raise ValueError(f"LoRA weights do not fit the copy: unexpected {result.unexpected_keys[:2]}")
    merged = wrapped.merge_and_unload()
    merged.eval().requires_grad_(False)
    return merged


def write_export(
    folder: Path, model: nn.Module, base: BaseModel, head: ClassifierHead | None, info: ExportInfo, *, int8: bool = False
) -> Path:
    """Save ``model`` (quantized first when ``int8``) with tokenizer, head and info, atomically."""
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"export folder {str(folder)!r} already exists")
    if (head is None) != (base.task != "classification"):
        raise ValueError("a classification export needs a head, a generation export none")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        if int8:
            model.config.save_pretrained(str(staging))
            save_file(int8_tensors(quantize_int8(model)), str(staging / INT8_WEIGHTS_FILE))
        else:
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # one shard: a bar is noise
            try:
                model.save_pretrained(str(staging), safe_serialization=True)
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
        base.tokenizer.save_pretrained(str(staging))
        if head is not None:
            head.save(staging, info.labels)
        (staging / EXPORT_INFO_FILE).write_text(json.dumps(info.to_json(), indent=1))
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def read_export_info(folder: Path) -> ExportInfo:
    path = Path(folder) / EXPORT_INFO_FILE
    if not path.is_file():
        raise ExportError(f"{str(folder)!r} is not an adaptune export (no {EXPORT_INFO_FILE})")
    try:
        return ExportInfo.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise ExportError(f"{str(path)!r} is not a valid export description: {error}") from error


def _loader(task: str) -> Callable:
    return AutoModel if task == "classification" else AutoModelForCausalLM


def load_export(folder: str | Path) -> ExportedModel:
    """Load a merged, int8 or distilled export (frozen, eval mode)."""
    folder = Path(folder)
    info = read_export_info(folder)
    if info.format != FORMAT_VERSION:
        raise ExportError(f"export {str(folder)!r} has format {info.format}; this version reads {FORMAT_VERSION}")
    if info.quantization == QUANTIZATION:
        weights = folder / INT8_WEIGHTS_FILE
        if not weights.is_file():
            raise ExportError(f"int8 export {str(folder)!r} has no {INT8_WEIGHTS_FILE}")
        skeleton = _loader(info.task).from_config(AutoConfig.from_pretrained(str(folder)))
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = load_int8(skeleton.eval(), load_file(str(weights)))
    else:
        loaded = load_base(str(folder), info.task)
        model, tokenizer = loaded.model, loaded.tokenizer
    model.requires_grad_(False)
    head = None
    if info.task == "classification":
        head, labels = ClassifierHead.load(folder)
        if tuple(labels) != info.labels:
            raise ExportError(f"{folder / 'labels.json'} disagrees with {EXPORT_INFO_FILE} about the labels")
        head.eval().requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return ExportedModel(model.eval(), tokenizer, head, info, folder)
