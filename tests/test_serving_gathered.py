"""Gathered multi-adapter LoRA against the loop reference and against PEFT's own per-adapter output.

Adapters are real PEFT folders (``get_peft_model`` + ``save_pretrained``) with random
A and B, different ranks, alphas, rsLoRA and targeted layers; every row of one mixed
batch (base rows included) must equal what PEFT computes with that adapter alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from tests.serving_support import TEXTS, one_torch_thread  # noqa: F401 (fixture)
from tuner.adapters import LORA_CONFIG_FILE, quiet_peft
from tuner.architectures import target_module_names
from tuner.loading import BaseModel
from tuner.serving.errors import UnknownAdapterError
from tuner.serving.forward import generate_rows
from tuner.serving.gathered import GatheredLinear, GatheredLora, RowSlots, reference_delta
from tuner.serving.lora_weights import ModuleLora, read_lora_weights
from tuner.serving.requests import GenerationOptions
from tuner.serving.types import BASE_ADAPTER

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# name -> (rank, alpha, rsLoRA, layers, module groups): mixed ranks, scalings, layers and modules
SPECS = {
    "small": (2, 4, False, [0], ("attention",)),
    "wide": (8, 16, True, [1], ("attention", "mlp")),
    "both": (4, 3, False, [0, 1], ("mlp",)),
}


def save_random_lora(base: BaseModel, folder: Path, spec: tuple, seed: int) -> Path:
    rank, alpha, rslora, layers, groups = spec
    targets = target_module_names(base.model, layers, list(groups))
    config = LoraConfig(r=rank, lora_alpha=alpha, use_rslora=rslora, target_modules=targets, lora_dropout=0.0)
    with quiet_peft():
        model = get_peft_model(base.fork(), config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    model.save_pretrained(folder)
    return folder


def outputs(model: nn.Module, batch: dict) -> torch.Tensor:
    out = model(**batch)
    return out.logits if hasattr(out, "logits") and out.logits is not None else out.last_hidden_state


@pytest.fixture(params=["bert_classifier", "llama_classifier", "llama_generator"])
def base(request) -> BaseModel:
    return request.getfixturevalue(request.param)


@pytest.fixture
def folders(base, tmp_path) -> dict[str, Path]:
    return {name: save_random_lora(base, tmp_path / name, spec, seed) for seed, (name, spec) in enumerate(SPECS.items())}


@torch.no_grad()
def test_every_row_of_a_mixed_batch_equals_peft_with_that_adapter_alone(base, folders):
    # On the model's device: bench/gpu.sh runs this file on CUDA too.
    batch = {k: v.to(base.device) for k, v in base.tokenizer(TEXTS, padding=True, return_tensors="pt").items()
             if k != "token_type_ids"}
    expected = {BASE_ADAPTER: outputs(base.model, batch)}
    for name, folder in folders.items():
        with quiet_peft():
            peft = PeftModel.from_pretrained(base.fork(), str(folder)).eval()
        expected[name] = outputs(peft, batch)
        assert not torch.allclose(expected[name], expected[BASE_ADAPTER], atol=1e-3)  # the adapter matters
    gathered = GatheredLora(base.fork(), slots=4, rank=1)  # rank 1: the stacks grow to 8 on the way
    for name, folder in folders.items():
        gathered.load(name, read_lora_weights(folder))
    row_names = [BASE_ADAPTER, "small", "wide", "both", "wide", BASE_ADAPTER, "both", "small"]

    with gathered.rows(row_names):
        mixed = outputs(gathered.model, batch)

    for row, name in enumerate(row_names):
        torch.testing.assert_close(mixed[row], expected[name][row], atol=1e-4, rtol=1e-4)
    for name in SPECS:  # a batch of one adapter (the uniform fast path) too
        with gathered.rows([name] * len(TEXTS)):
            torch.testing.assert_close(outputs(gathered.model, batch), expected[name], atol=1e-4, rtol=1e-4)
    assert max(layer.rank for layer in gathered.layers.values()) == 8


def test_the_gathered_kernel_equals_the_loop_reference_with_padding_and_empty_slots():
    torch.manual_seed(0)
    linear = nn.Linear(6, 5)
    rows = RowSlots()
    layer = GatheredLinear(linear, rows, slots=3, rank=2)
    pairs = {0: ModuleLora(torch.randn(1, 6), torch.randn(5, 1)), 2: ModuleLora(torch.randn(3, 6), torch.randn(5, 3))}
    for slot, pair in pairs.items():
        layer.set_slot(slot, pair)  # rank 3 grows the stack from 2; rank 1 is zero-padded
    x = torch.randn(5, 4, 6)
    slots = [0, 3, 2, 1, 0]  # 3: the base slot; 1: never filled on this module
    rows.index, rows.used = torch.tensor(slots), frozenset(slots)

    got = layer(x)

    expected = linear(x) + reference_delta(x, [pairs.get(s) for s in slots], 5)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    layer.reset_slot(2)
    torch.testing.assert_close(layer(x)[2], linear(x)[2])


@torch.no_grad()
@pytest.mark.parametrize("uniform", [True, False], ids=["one adapter", "mixed"])
def test_under_autocast_the_cached_low_precision_stacks_follow_every_slot_change(uniform):
    """The bf16 copy a CUDA forward uses is rebuilt after set_slot/reset_slot: never a stale adapter."""
    torch.manual_seed(0)
    linear = nn.Linear(16, 12)
    rows = RowSlots()
    layer = GatheredLinear(linear, rows, slots=2, rank=4)
    first, second = (ModuleLora(torch.randn(4, 16), torch.randn(12, 4)) for _ in range(2))
    x = torch.randn(3, 5, 16)
    slots = [0, 0, 0] if uniform else [0, 2, 0]
    rows.index, rows.used, rows.uniform = torch.tensor(slots), frozenset(slots), 0 if uniform else None

    def served() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return layer(x).float()

    def expected(pair: ModuleLora | None) -> torch.Tensor:
        return linear(x) + reference_delta(x, [pair if s == 0 else None for s in slots], 12)

    for pair in (first, second, None):  # load, replace in place, empty
        layer.set_slot(0, pair) if pair is not None else layer.reset_slot(0)
        got = served()
        assert set(layer._cast) == ({torch.bfloat16} if pair is not None else set())  # an empty slot: the base alone
        error = (got - expected(pair)).norm() / expected(pair).norm()
        assert error < 2e-2, (pair is first, float(error))
        if pair is not None:  # the delta is far above bf16 rounding, so a stale copy could not pass
            assert (got - linear(x)).norm() / expected(pair).norm() > 0.5
    assert layer.lora_a.dtype == layer.lora_b.dtype == torch.float32
    layer.set_slot(0, first)
    served()
    x = x * 2  # a new input is cast anew, not served the cast of the last one
    assert (served() - expected(first)).norm() / expected(first).norm() < 2e-2
    assert layer.nbytes() == (layer.lora_a.numel() + layer.lora_b.numel()) * (4 + 2)


def test_unknown_adapter_names_fail_loudly_and_never_serve_the_base(llama_generator, tmp_path):
    gathered = GatheredLora(llama_generator.fork(), slots=2)
    gathered.load("small", read_lora_weights(save_random_lora(llama_generator, tmp_path / "small", SPECS["small"], 0)))
    ids = torch.tensor([[5, 6, 7]], device=llama_generator.device)

    with pytest.raises(UnknownAdapterError, match="adapter 'ghost' is not loaded"):
        with gathered.rows(["ghost"]):
            pass
    with pytest.raises(RuntimeError, match="without a row index"):
        gathered.model(input_ids=ids)  # no index set: refused, not the base
    gathered.unload("small")
    with pytest.raises(UnknownAdapterError, match="'small' is not loaded"):
        with gathered.rows(["small"]):
            pass
    assert gathered.state.index is None and gathered.names == []


def test_generation_through_the_slots_equals_peft_generation(llama_generator, tmp_path):
    folder = save_random_lora(llama_generator, tmp_path / "wide", SPECS["wide"], 3)
    gathered = GatheredLora(llama_generator.fork(), slots=2)
    gathered.load("wide", read_lora_weights(folder))
    with quiet_peft():
        peft = PeftModel.from_pretrained(llama_generator.fork(), str(folder)).eval()
    prompts = [llama_generator.tokenizer(text)["input_ids"] for text in TEXTS[:3]]
    options = GenerationOptions(max_new_tokens=6)

    ours = generate_rows(gathered.model, llama_generator.tokenizer, prompts, options, adapter="wide", adapters=gathered)
    theirs = generate_rows(peft, llama_generator.tokenizer, prompts, options, adapter=None)
    base = generate_rows(gathered.model, llama_generator.tokenizer, prompts, options, adapter=None, adapters=gathered)

    assert ours == theirs
    assert base == generate_rows(llama_generator.model, llama_generator.tokenizer, prompts, options, adapter=None)


@pytest.mark.parametrize(
    "field, value", [("use_dora", True), ("fan_in_fan_out", True), ("modules_to_save", ["classifier"])]
)
def test_lora_options_gathered_serving_cannot_compute_are_refused_by_name(bert_classifier, tmp_path, field, value):
    folder = save_random_lora(bert_classifier, tmp_path / "a", SPECS["small"], 0)
    config = json.loads((folder / LORA_CONFIG_FILE).read_text())
    (folder / LORA_CONFIG_FILE).write_text(json.dumps({**config, field: value}))
    with pytest.raises(ValueError, match=f"adapter_config.json sets {field}"):
        read_lora_weights(folder)


def test_an_adapter_for_modules_the_base_lacks_is_refused_before_any_slot_changes(bert_classifier, llama_classifier, tmp_path):
    folder = save_random_lora(llama_classifier, tmp_path / "llama", SPECS["small"], 0)
    gathered = GatheredLora(bert_classifier.fork(), slots=2)
    with pytest.raises(ValueError, match="the base model has no module"):
        gathered.load("llama", read_lora_weights(folder))
    assert gathered.names == [] and gathered.layers == {}
