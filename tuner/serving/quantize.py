"""Dynamic int8 quantization for CPU, stored as safetensors (no pickle).

``torch.ao.quantization.quantize_dynamic`` turns every ``nn.Linear`` into an int8
weight with a per-tensor scale and zero point; activations are quantized on the fly.
A quantized module's state is a packed object that only pickle can store, so the
checkpoint holds each int8 weight as a plain int8 tensor plus its scale, zero point
and float bias, and loading rebuilds the packed modules from those exact values.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

import torch
from torch import nn

QUANTIZATION = "dynamic-int8"
_INT8 = ".weight_int8"
_SCALE = ".weight_scale"
_ZERO = ".weight_zero_point"
_BIAS = ".bias"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.ao.quantization warns that it moves to torchao; the eager API still works here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, message=".*quantiz.*")
        yield


def _is_quantized_linear(module: nn.Module) -> bool:
    return isinstance(module, torch.ao.nn.quantized.dynamic.Linear)


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every nn.Linear dynamically quantized to int8 (eval mode)."""
    with _quiet():
        quantized = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=False)
    return quantized.eval()


def quantized_names(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if _is_quantized_linear(module)]


def int8_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor needed to rebuild ``model`` (quantized by ``quantize_int8``) as plain tensors."""
    names = quantized_names(model)
    if not names:
        raise ValueError("the model has no dynamically quantized Linear modules; call quantize_int8 first")
    tensors: dict[str, torch.Tensor] = {}
    prefixes = tuple(f"{name}." for name in names)
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor) and not key.startswith(prefixes):
            tensors[key] = value.detach().contiguous().clone()
    modules = dict(model.named_modules())
    for name in names:
        weight = modules[name].weight()
        tensors[name + _INT8] = weight.int_repr().contiguous()
        tensors[name + _SCALE] = torch.tensor([weight.q_scale()], dtype=torch.float64)
        tensors[name + _ZERO] = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
        bias = modules[name].bias()
        if bias is not None:
            tensors[name + _BIAS] = bias.detach().contiguous().clone()
    return tensors


def load_int8(skeleton: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """Quantize ``skeleton`` (a float model of the same config) and set the stored int8 weights.

    Raises ValueError naming the first module whose tensors are missing, so a truncated
    checkpoint never loads with random weights.
    """
    names = [name for name, module in skeleton.named_modules() if isinstance(module, nn.Linear)]
    missing = [name for name in names if name + _INT8 not in tensors]
    if missing:
        raise ValueError(f"int8 checkpoint lacks the weights of {len(missing)} Linear modules, e.g. {missing[0]!r}")
    linear_keys = {f"{name}.{p}" for name in names for p in ("weight", "bias")}
    floats = {k: v for k, v in tensors.items() if not k.endswith((_INT8, _SCALE, _ZERO)) and k not in linear_keys}
    result = skeleton.load_state_dict(floats, strict=False)
    absent = [key for key in result.missing_keys if key not in linear_keys]
    if absent:
        raise ValueError(f"int8 checkpoint lacks {len(absent)} float tensors, e.g. {absent[0]!r}")
    model = quantize_int8(skeleton)
    modules = dict(model.named_modules())
    with _quiet():
        for name in names:
            scale = float(tensors[name + _SCALE][0])
            zero = int(tensors[name + _ZERO][0])
            values = (tensors[name + _INT8].to(torch.float64) - zero) * scale
            weight = torch.quantize_per_tensor(values.to(torch.float32), scale, zero, torch.qint8)
            bias = tensors.get(name + _BIAS)
            modules[name].set_weight_bias(weight, bias)
    return model.eval()
