"""Caching the frozen layers below the lowest adapted one: same training, fewer layers run.

Without dropout, training on cached states must follow the same trajectory as running
the whole model every step (same losses, same weights), for encoders and causal models,
classification and generation; the model must come out with its own layers back.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

import tuner.training
from tests.fixtures.models import save_tiny_bert
from tests.fixtures.toy_data import toy_interactions
from tuner.architectures import find_layers
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.frozen_prefix import FrozenPrefix, _PassThrough, cache_bytes, pad_states
from tuner.loading import BaseModel, load_base
from tuner.objectives import objective_for
from tuner.predict import predict
from tuner.adapters import load_adapter, save_adapter
from tuner.training import AdapterTrainer, train_adapter

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# No dropout anywhere, so cached and uncached training must agree step for step.
EXACT = TrainConfig(epochs=2, lr=5e-3, batch_size=8, dropout=0.0, progress=False)


@pytest.fixture(scope="module")
def deep_bert(tmp_path_factory: pytest.TempPathFactory) -> BaseModel:
    """A 4-layer tiny BERT without dropout (the shared fixture has 2 layers and dropout)."""
    path = save_tiny_bert(tmp_path_factory.mktemp("deep-bert"), num_layers=4, dropout=0.0)
    return load_base(str(path), "classification")


def toy_split(generation: bool = False):
    """Toy texts of 1 to 4 extra filler words, so batches mix lengths and need padding."""
    events = toy_interactions(120, seed=3, generation=generation)
    events = [replace(e, input_text=e.input_text + " please" * (i % 4)) for i, e in enumerate(events)]
    return split_interactions(events, validation=0.25, test=0.1)


def lora_weights(result) -> dict[str, torch.Tensor]:
    return result.adapter.lora_state()


@pytest.mark.parametrize(
    ("base_fixture", "layers", "generation"),
    [("deep_bert", [2, 3], False), ("llama_classifier", [3], False), ("llama_generator", [1, 3], True)],
)
def test_cached_training_follows_the_uncached_trajectory(request, base_fixture, layers, generation):
    base = request.getfixturevalue(base_fixture)
    split = toy_split(generation)

    cached = train_adapter(base, split.train, split.validation, layers=layers, config=EXACT)
    full = train_adapter(base, split.train, split.validation, layers=layers,
                         config=replace(EXACT, cache_frozen_layers=False))  # fmt: skip

    assert cached.cached_layers == min(layers) and full.cached_layers == 0
    assert cached.cache_seconds > 0 and full.cache_seconds == 0
    assert cached.steps == full.steps > 0
    assert cached.step_losses == pytest.approx(full.step_losses, rel=1e-4, abs=1e-6)
    assert [p.val_loss for p in cached.history] == pytest.approx([p.val_loss for p in full.history], rel=1e-4)
    a, b = lora_weights(cached), lora_weights(full)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-5)
    # The weights moved: the comparison above is between trained adapters, not two copies of the start.
    assert any(float(t.abs().max()) > 0 for k, t in a.items() if ".lora_B." in k)


def test_the_model_gets_its_own_layers_back_and_saves_whole(deep_bert, tmp_path: Path):
    split = toy_split()
    result = train_adapter(deep_bert, split.train, split.validation, layers=[3], config=EXACT)
    assert result.cached_layers == 3
    _, layers = find_layers(result.adapter.model)
    assert not any(isinstance(layer, _PassThrough) for layer in layers)
    assert not any(layer._forward_pre_hooks for layer in layers)

    save_adapter(result.adapter, tmp_path / "a")
    texts = [e.text for e in split.test]
    before = predict(deep_bert, texts, result.adapter)
    after = predict(deep_bert, texts, load_adapter(deep_bert, tmp_path / "a"))
    assert [p.label for p in before] == [p.label for p in after]
    assert [p.score for p in before] == pytest.approx([p.score for p in after], abs=1e-6)


def test_nothing_is_cached_when_layer_zero_trains_or_caching_is_off(deep_bert):
    split = toy_split()
    from_zero = train_adapter(deep_bert, split.train, split.validation, layers=[0, 3], config=EXACT)
    switched_off = train_adapter(deep_bert, split.train, split.validation, layers=[3],
                                 config=replace(EXACT, cache_frozen_layers=False))  # fmt: skip
    assert from_zero.cached_layers == 0 and switched_off.cached_layers == 0


def test_a_cache_over_the_memory_cap_falls_back_to_the_whole_model(deep_bert, monkeypatch):
    split = toy_split()
    objective = objective_for(deep_bert, sorted({e.target for e in split.train}), EXACT.max_length)
    items = objective.encode(split.train + split.validation)
    needed = cache_bytes([objective.length(i) for i in items], deep_bert.hidden_size, torch.float32)
    monkeypatch.setattr(tuner.training, "MAX_CACHE_BYTES", needed - 1)
    trainer = AdapterTrainer(deep_bert, split.train, split.validation, layers=[2], config=EXACT)
    assert trainer.prefix is None
    monkeypatch.setattr(tuner.training, "MAX_CACHE_BYTES", needed)
    trainer = AdapterTrainer(deep_bert, split.train, split.validation, layers=[2], config=EXACT)
    assert trainer.prefix is not None and trainer.prefix.depth == 2


def test_cached_states_are_the_unpadded_inputs_of_the_first_adapted_layer(deep_bert):
    split = toy_split()
    trainer = AdapterTrainer(deep_bert, split.train, split.validation, layers=[2], config=EXACT)
    batch = trainer.objective.batch(trainer.train_items[:8])
    assert len(set(batch.attention_mask.sum(dim=1).tolist())) > 1  # rows of different lengths
    seen = {}
    handle = find_layers(deep_bert.model)[1][2].register_forward_pre_hook(
        lambda module, args: seen.setdefault("hidden", args[0].detach().clone())
    )
    try:
        with torch.no_grad():
            deep_bert.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    finally:
        handle.remove()
    for row, state in enumerate(trainer._train_states[:8]):
        length = int(batch.attention_mask[row].sum())
        assert state.shape == (length, deep_bert.hidden_size)
        torch.testing.assert_close(state, seen["hidden"][row, :length], rtol=1e-5, atol=1e-6)


def test_bad_depths_and_shapes_are_refused(deep_bert):
    model = deep_bert.fork()
    for depth in (0, 4):
        with pytest.raises(ValueError, match="0 < depth < 4"):
            FrozenPrefix(model, depth)
    prefix = FrozenPrefix(model, 1)
    ids = torch.ones((2, 5), dtype=torch.long)
    with pytest.raises(ValueError, match="do not fit"):
        with prefix.feeding([torch.zeros(3, deep_bert.hidden_size)] * 2, width=4), torch.no_grad():
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert not any(isinstance(layer, _PassThrough) for layer in find_layers(model)[1])


def test_pad_states_right_pads_with_zeros():
    padded = pad_states([torch.ones(2, 3), torch.full((4, 3), 2.0)], width=5)
    assert padded.shape == (2, 5, 3)
    assert padded[0, :2].eq(1).all() and padded[0, 2:].eq(0).all()
    assert padded[1, :4].eq(2).all() and padded[1, 4:].eq(0).all()
