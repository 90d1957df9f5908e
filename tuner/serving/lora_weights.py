"""Read a PEFT LoRA folder into per-module (A, B) pairs with the scaling folded into B.

PEFT folders stay the storage format; gathered serving only needs each targeted
module's ``lora_A`` [r, in] and ``lora_B`` [out, r] and the factor PEFT multiplies the
product by (``alpha / r``, or ``alpha / sqrt(r)`` with rsLoRA; ``alpha_pattern`` and
``rank_pattern`` per module). Folding that factor into B once at load (vLLM's
``optimize()``) leaves the forward two plain products. Options whose forward is not
``x @ A.T @ B.T * scale`` (DoRA, LoRA bias, fan-in-fan-out layers, ``modules_to_save``)
are refused by name instead of being served wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoraConfig
from peft.utils.other import get_pattern_key
from safetensors.torch import load_file

from tuner.adapters import LORA_WEIGHTS_FILE

_PREFIX = "base_model.model."
_A_SUFFIX = ".lora_A.weight"
_B_SUFFIX = ".lora_B.weight"


@dataclass(frozen=True)
class ModuleLora:
    """One targeted linear module: ``delta(x) = x @ a.T @ b.T`` (b already scaled)."""

    a: torch.Tensor  # [r, in]
    b: torch.Tensor  # [out, r], times the module's scale

    @property
    def rank(self) -> int:
        return int(self.a.shape[0])

    @property
    def nbytes(self) -> int:
        return self.a.numel() * self.a.element_size() + self.b.numel() * self.b.element_size()


@dataclass(frozen=True)
class LoraWeights:
    """Every module of one adapter, by its dotted path inside the base model."""

    modules: dict[str, ModuleLora]

    @property
    def nbytes(self) -> int:
        return sum(module.nbytes for module in self.modules.values())

    @property
    def max_rank(self) -> int:
        return max((module.rank for module in self.modules.values()), default=0)


def module_scale(config: LoraConfig, path: str, rank: int) -> float:
    """PEFT's scaling for ``path``: its alpha (pattern first) over r, or over sqrt(r) with rsLoRA."""
    alpha = config.lora_alpha
    if config.alpha_pattern:
        key = get_pattern_key(list(config.alpha_pattern), path)
        alpha = config.alpha_pattern.get(key, alpha)
    return alpha / math.sqrt(rank) if config.use_rslora else alpha / rank


def check_servable(config: LoraConfig) -> None:
    """Refuse options gathered serving does not compute (naming the config field)."""
    refused = {
        "use_dora": bool(getattr(config, "use_dora", False)),
        "lora_bias": bool(getattr(config, "lora_bias", False)),
        "fan_in_fan_out": bool(config.fan_in_fan_out),
        "modules_to_save": bool(config.modules_to_save),
    }
    for field_name, on in refused.items():
        if on:
            raise ValueError(f"adapter_config.json sets {field_name}; gathered serving supports plain LoRA only")


def read_lora_weights(folder: Path) -> LoraWeights:
    """The folder's LoRA weights as float32 per module, scale folded into B.

    Raises ValueError for a key layout this reader does not know (e.g. embedding LoRA)
    or an A without its B, naming the key.
    """
    config = LoraConfig.from_pretrained(str(folder))
    check_servable(config)
    tensors = load_file(str(Path(folder) / LORA_WEIGHTS_FILE))
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        if not key.startswith(_PREFIX) or not key.endswith((_A_SUFFIX, _B_SUFFIX)):
            raise ValueError(f"unexpected LoRA weight {key!r} (only linear lora_A / lora_B weights are served)")
        path, part = key[len(_PREFIX) :].rsplit(".", 2)[0], ("a" if key.endswith(_A_SUFFIX) else "b")
        pairs.setdefault(path, {})[part] = tensor.float()
    modules = {}
    for path, pair in sorted(pairs.items()):
        if set(pair) != {"a", "b"}:
            raise ValueError(f"module {path!r} has lora_{'A' if 'a' in pair else 'B'} but not its pair")
        a, b = pair["a"], pair["b"]
        if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]:
            raise ValueError(f"module {path!r}: lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} do not chain")
        modules[path] = ModuleLora(a.contiguous(), (b * module_scale(config, path, a.shape[0])).contiguous())
    if not modules:
        raise ValueError(f"{LORA_WEIGHTS_FILE} holds no LoRA weights")
    return LoraWeights(modules)
