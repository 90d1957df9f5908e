"""Where the layers and module groups of a supported architecture live.

Targeting, probing and serving all need the same answer to "which modules are
layer 7's attention?"; this is the one place that knows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

MODULE_GROUPS = ("attention", "mlp")


@dataclass(frozen=True)
class ArchitectureSpec:
    family: str
    # Suffix of the ModuleList holding the transformer blocks.
    layers_suffix: str
    # Module group -> module paths inside one block.
    groups: dict[str, tuple[str, ...]]


LLAMA = ArchitectureSpec(
    family="llama",
    layers_suffix="layers",
    groups={
        "attention": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"),
        "mlp": ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
    },
)

BERT = ArchitectureSpec(
    family="bert",
    layers_suffix="encoder.layer",
    groups={
        "attention": (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ),
        "mlp": ("intermediate.dense", "output.dense"),
    },
)

_BY_MODEL_TYPE = {
    "llama": LLAMA,
    "mistral": LLAMA,
    "qwen2": LLAMA,
    "bert": BERT,
    "roberta": BERT,
}


class UnsupportedArchitectureError(ValueError):
    pass


def spec_for(model: nn.Module) -> ArchitectureSpec:
    return spec_for_model_type(getattr(getattr(model, "config", None), "model_type", None))


def spec_for_model_type(model_type: str | None) -> ArchitectureSpec:
    """The spec of a config's ``model_type`` (checkable before any weights load)."""
    try:
        return _BY_MODEL_TYPE[model_type]
    except KeyError:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} is not supported; supported: {sorted(_BY_MODEL_TYPE)}"
        ) from None


def find_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The dotted name and the ModuleList of the transformer blocks."""
    spec = spec_for(model)
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (name == spec.layers_suffix or name.endswith("." + spec.layers_suffix)):
            return name, module
    raise UnsupportedArchitectureError(f"no {spec.layers_suffix!r} ModuleList in {type(model).__name__}")


def num_layers(model: nn.Module) -> int:
    return len(find_layers(model)[1])


def validate_targets(model: nn.Module, layers: list[int], groups: list[str]) -> None:
    """Raise ValueError naming the bad value when a layer or group does not exist."""
    count = num_layers(model)
    bad_layers = [layer for layer in layers if not 0 <= layer < count]
    if bad_layers:
        raise ValueError(f"layers {bad_layers} are outside the model's range 0..{count - 1}")
    if not layers:
        raise ValueError("layers must name at least one layer")
    bad_groups = [group for group in groups if group not in MODULE_GROUPS]
    if bad_groups or not groups:
        raise ValueError(f"module groups {bad_groups or groups} invalid; choose from {list(MODULE_GROUPS)}")


def target_module_names(model: nn.Module, layers: list[int], groups: list[str]) -> list[str]:
    """Full module names (usable as PEFT ``target_modules``) for these layers and groups."""
    validate_targets(model, layers, groups)
    spec = spec_for(model)
    prefix, _ = find_layers(model)
    return [
        f"{prefix}.{layer}.{suffix}"
        for layer in sorted(set(layers))
        for group in groups
        for suffix in spec.groups[group]
    ]


def group_modules(model: nn.Module, layer: int, group: str) -> dict[str, nn.Module]:
    """The modules of one (layer, group) target, by full name."""
    names = set(target_module_names(model, [layer], [group]))
    return {name: module for name, module in model.named_modules() if name in names}
