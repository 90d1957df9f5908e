"""An adapter in memory and on disk.

Folder format (no pickle): ``adapter_config.json`` + ``adapter_model.safetensors``
(PEFT ``save_pretrained``), ``head.safetensors`` + ``labels.json`` (classification) and
``adaptune.json`` (what produced it: base model, task, targets, pooling, parent, train
config, data window, seed). Folders are written under a temporary name and renamed into
place, so a folder that exists is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from peft import PeftModel, get_peft_model_state_dict
from torch import nn

from tuner.errors import AdapterNotFoundError, IncompatibleAdapterError
from tuner.heads import ClassifierHead
from tuner.loading import BaseModel

INFO_FILE = "adaptune.json"
LORA_CONFIG_FILE = "adapter_config.json"
LORA_WEIGHTS_FILE = "adapter_model.safetensors"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class AdapterInfo:
    """The contents of ``adaptune.json``: everything needed to know what made an adapter."""

    base_model: str
    task: str
    family: str
    layers: tuple[int, ...]
    groups: tuple[str, ...]
    pooling: str | None
    labels: tuple[str, ...]
    train_config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    domain: str = ""
    version: str = ""
    parent_domain: str | None = None
    parent_version: str | None = None
    data_window: tuple[int, int] | None = None
    format: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AdapterInfo":
        window = data.get("data_window")
        return cls(
            **{
                **data,
                "layers": tuple(data["layers"]),
                "groups": tuple(data["groups"]),
                "labels": tuple(data.get("labels") or ()),
                "data_window": tuple(window) if window else None,
            }
        )


@dataclass
class Adapter:
    """A LoRA-wrapped fork of a base model (plus its head for classification)."""

    model: nn.Module
    info: AdapterInfo
    head: ClassifierHead | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def lora_state(self) -> dict[str, torch.Tensor]:
        """The LoRA weights under their saved names, as copies."""
        return {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.model).items()}

    def eval(self) -> "Adapter":
        self.model.eval()
        if self.head is not None:
            self.head.eval()
        return self


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft asks transformers a deprecated question (``is_gradient_checkpointing``); hide it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def read_adapter_info(folder: Path) -> AdapterInfo:
    folder = Path(folder)
    for name in (INFO_FILE, LORA_CONFIG_FILE, LORA_WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise AdapterNotFoundError(f"adapter folder {str(folder)!r} has no {name}")
    return AdapterInfo.from_json(json.loads((folder / INFO_FILE).read_text()))


def check_compatible(base: BaseModel, info: AdapterInfo, where: str) -> None:
    """An adapter only applies to the base model and task it was trained for."""
    if info.base_model != base.name or info.task != base.task:
        raise IncompatibleAdapterError(
            f"adapter {where!r} was trained for base model {info.base_model!r} ({info.task}); "
            f"this base is {base.name!r} ({base.task})"
        )


def save_adapter(
    adapter: Adapter, folder: Path, *, extra_files: Mapping[str, str] | None = None, **info_updates: Any
) -> AdapterInfo:
    """Write the adapter to ``folder`` atomically (temp folder, then rename).

    ``info_updates`` set registry fields (domain, version, parent, data window) in the
    saved ``adaptune.json``; ``extra_files`` (name -> text) are written beside the
    weights, inside the same rename. Refuses to overwrite an existing folder.
    """
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"adapter folder {str(folder)!r} already exists")
    info = replace(adapter.info, **info_updates)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        adapter.model.save_pretrained(str(staging), safe_serialization=True)
        if adapter.head is not None:
            adapter.head.save(staging, info.labels)
        (staging / INFO_FILE).write_text(json.dumps(info.to_json(), indent=1))
        for name, text in (extra_files or {}).items():
            if Path(name).name != name or name in (INFO_FILE, LORA_CONFIG_FILE, LORA_WEIGHTS_FILE):
                raise ValueError(f"extra file name {name!r} must be a plain file name other than the adapter's own")
            (staging / name).write_text(text)
        (staging / "README.md").unlink(missing_ok=True)  # PEFT's model card template: noise
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def load_adapter(base: BaseModel, folder: Path) -> Adapter:
    """Load a saved adapter onto a fork of ``base``.

    The LoRA and head tensors are exactly the saved ones; the base stays untouched.
    """
    folder = Path(folder)
    info = read_adapter_info(folder)
    check_compatible(base, info, str(folder))
    with quiet_peft():
        model = PeftModel.from_pretrained(base.fork(), str(folder), is_trainable=False)
    head = None
    if info.task == "classification":
        head, labels = ClassifierHead.load(folder)
        head.to(base.device)
        if tuple(labels) != info.labels:
            raise ValueError(f"{folder / 'labels.json'} disagrees with {folder / INFO_FILE} about the labels")
    return Adapter(model=model, info=info, head=head).eval()
