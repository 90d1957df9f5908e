"""Put LoRA on exactly the chosen (layer, module group) pairs, optionally warm-started.

Only the modules named by ``architectures.target_module_names`` get LoRA; PEFT freezes
everything else, and the LoRA layers are injected into a fork of the base model (see
``BaseModel.fork``), so the shared base is never changed. A warm start copies the
parent adapter's LoRA weights where (layer, module) overlap, and the parent head's rows
for labels both share.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file

from tuner.adapters import LORA_WEIGHTS_FILE, Adapter, AdapterInfo, check_compatible, quiet_peft, read_adapter_info
from tuner.architectures import MODULE_GROUPS, target_module_names
from tuner.config import TrainConfig
from tuner.errors import IncompatibleAdapterError
from tuner.data import Example
from tuner.heads import HEAD_FILE, ClassifierHead, label_embeddings
from tuner.inheritance import imprint_rows
from tuner.loading import BaseModel

_ADAPTER_NAME = re.compile(r"\.(lora_[AB])\.default\.")


def lora_config(base: BaseModel, layers: Sequence[int], groups: Sequence[str], config: TrainConfig) -> LoraConfig:
    """A PEFT config targeting the full module names of these layers and groups only."""
    return LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=target_module_names(base.model, list(layers), list(groups)),
        bias="none",
        task_type="CAUSAL_LM" if base.task == "generation" else None,
    )


def lora_parameters(model: PeftModel) -> dict[str, torch.nn.Parameter]:
    """The LoRA parameters by their saved key (``...lora_A.weight``, adapter name removed)."""
    return {
        _ADAPTER_NAME.sub(r".\1.", name): param
        for name, param in model.named_parameters()
        if ".lora_A." in name or ".lora_B." in name
    }


def check_parent(base: BaseModel, parent_folder: Path, config: TrainConfig) -> AdapterInfo:
    """The parent adapter must exist, fit this base and task, and have the child's rank."""
    info = read_adapter_info(parent_folder)
    check_compatible(base, info, str(parent_folder))
    parent_rank = int(info.train_config.get("rank", config.rank))
    if parent_rank != config.rank:
        raise IncompatibleAdapterError(
            f"parent adapter {str(parent_folder)!r} has rank {parent_rank}; the child's rank is {config.rank}"
        )
    return info


def _copy_lora(model: PeftModel, parent_folder: Path) -> int:
    """Copy the parent's LoRA weights where (layer, module) overlap; return modules copied."""
    saved = load_file(str(parent_folder / LORA_WEIGHTS_FILE))
    copied = 0
    with torch.no_grad():
        for key, param in lora_parameters(model).items():
            if key in saved and saved[key].shape == param.shape:
                param.copy_(saved[key])
                copied += 1
    return copied // 2  # lora_A and lora_B per module


def _copy_head_rows(head: ClassifierHead, labels: Sequence[str], parent_folder: Path) -> list[str]:
    """Rows of labels the parent also knows start from the parent's trained rows (matched by
    name); returns those labels."""
    if not (parent_folder / HEAD_FILE).is_file():
        return []
    parent_head, parent_labels = ClassifierHead.load(parent_folder)
    row = {label: i for i, label in enumerate(parent_labels)}
    with torch.no_grad():
        for i, label in enumerate(labels):
            if label in row:
                head.weight[i] = parent_head.weight[row[label]]
                head.bias[i] = parent_head.bias[row[label]]
    return [label for label in labels if label in row]


def prepare_adapter(
    base: BaseModel,
    *,
    layers: Sequence[int],
    groups: Sequence[str] = MODULE_GROUPS,
    config: TrainConfig = TrainConfig(),
    labels: Sequence[str] | None = None,
    init_from: Path | None = None,
    examples: Sequence[Example] = (),
    label_descriptions: Mapping[str, str] | None = None,
) -> tuple[Adapter, int]:
    """A new, untrained adapter on these targets and the number of modules warm-started.

    Fresh LoRA starts as the identity (B = 0), so a fresh adapter predicts like the base
    model; a classification head starts from the label names embedded by the model as
    initialised (after any warm start), with ``label_descriptions`` where declared, i.e. at
    zero-shot accuracy. Given ``examples``, a cold start imprints every row from them, and
    a warm start the rows of labels its parent lacks (``tuner.inheritance``): a label's
    examples say what it means better than its name, which may be a code.
    """
    layers = sorted(set(int(layer) for layer in layers))
    groups = tuple(dict.fromkeys(groups))
    peft_config = lora_config(base, layers, groups, config)  # validates layers and groups
    if base.task == "classification" and not labels:
        raise ValueError("classification needs at least one label")
    if init_from is not None:
        check_parent(base, Path(init_from), config)
    info = AdapterInfo(
        base_model=base.name,
        task=base.task,
        family=base.family,
        layers=tuple(layers),
        groups=groups,
        pooling=base.pooling,
        labels=tuple(labels or ()),
        train_config=config.to_json(),
        seed=config.seed,
    )
    with torch.random.fork_rng(devices=[]), quiet_peft():
        torch.manual_seed(config.seed)
        model = get_peft_model(base.fork(), peft_config)
    copied = _copy_lora(model, Path(init_from)) if init_from is not None else 0
    head = None
    if base.task == "classification":
        model.eval()
        names = label_embeddings(model, base.tokenizer, info.labels, base.pooling, config.max_length, label_descriptions)
        head = ClassifierHead(names, torch.zeros(len(info.labels)), config.head_scale)
        adapter = Adapter(model=model, info=info, head=head)
        if init_from is not None:
            inherited = _copy_head_rows(head, info.labels, Path(init_from))
            new = [label for label in info.labels if label not in inherited]
            if examples and new:
                imprint_rows(adapter, base, examples, new, inherited, config.max_length)
        elif examples:
            # A cold start has no parent: every label is new, imprinted from its examples
            # (its name's row one more member), so the start does not hang on how it is named.
            imprint_rows(adapter, base, examples, info.labels, [], config.max_length)
        return adapter, copied
    return Adapter(model=model, info=info, head=head), copied
