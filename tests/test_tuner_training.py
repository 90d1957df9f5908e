"""Targeted LoRA training on tiny random models: what changes, what stays, when it stops."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.fixtures.toy_data import toy_interactions
from tuner.architectures import find_layers, target_module_names
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.encoding import IGNORE_INDEX
from tuner.evaluation import evaluate
from tuner.objectives import GenerationObjective, objective_for
from tuner.predict import predict
from tuner.targeting import prepare_adapter
from tuner.training import AdapterTrainer, _validate, train_adapter

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# Loss-monitored: these tests check what trains, not what selection picks (tests/test_training_selection.py does).
QUICK = TrainConfig(epochs=3, lr=5e-3, batch_size=16, monitor="loss", progress=False)


def toy_split(n: int = 160, seed: int = 0, generation: bool = False):
    return split_interactions(toy_interactions(n, seed=seed, generation=generation), validation=0.2, test=0.2)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def effective_weights(adapter) -> dict[str, torch.Tensor]:
    """The weights the adapter computes with: LoRA merged into an independent deep copy."""
    return copy.deepcopy(adapter.model).merge_and_unload().state_dict()


@pytest.mark.parametrize(
    ("base_fixture", "layers", "groups", "generation"),
    [
        ("bert_classifier", [1], ["attention"], False),
        ("llama_classifier", [2, 3], ["mlp"], False),
        ("llama_generator", [0, 3], ["attention", "mlp"], True),
    ],
)
def test_only_the_targeted_modules_change_and_the_base_is_untouched(request, base_fixture, layers, groups, generation):
    base = request.getfixturevalue(base_fixture)
    before = snapshot(base.model)
    split = toy_split(generation=generation)

    result = train_adapter(base, split.train, split.validation, layers=layers, groups=groups, config=QUICK)

    after = effective_weights(result.adapter)
    assert after.keys() == before.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    targeted = {f"{name}.weight" for name in target_module_names(base.model, layers, groups)}
    assert changed == targeted
    # The shared base model itself is bit-identical: LoRA went into a fork of it.
    assert all(torch.equal(tensor, before[name]) for name, tensor in base.model.state_dict().items())
    lora_modules = {key.split(".lora_")[0].removeprefix("base_model.model.") for key in result.adapter.lora_state()}
    assert lora_modules == {name.removesuffix(".weight") for name in targeted}


def test_only_lora_and_head_parameters_train(bert_classifier):
    split = toy_split()
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0], groups=["mlp"], config=QUICK)
    trainable = [name for name, p in result.adapter.model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    # 2 modules (intermediate.dense 32->64, output.dense 64->32) at rank 8, plus a 4 x 32 head with bias.
    assert result.lora_params == 8 * (32 + 64) + 8 * (64 + 32)
    assert result.trainable_params == result.lora_params + 4 * 32 + 4


def test_training_beats_the_zero_shot_start(bert_classifier):
    split = toy_split(240)
    config = TrainConfig(epochs=8, lr=5e-3, batch_size=16, progress=False)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config)
    labels = list(result.adapter.labels)
    zero_shot = evaluate(bert_classifier, split.test, labels=labels)
    tuned = evaluate(bert_classifier, split.test, result.adapter)
    assert tuned["accuracy"] > zero_shot["accuracy"] + 0.2
    assert result.history[-1].val_loss < result.history[0].val_loss


def test_an_untrained_adapter_predicts_like_the_zero_shot_base(bert_classifier):
    split = toy_split()
    # A head started from the names (a cold start otherwise imprints its rows from the
    # training examples: tests/test_chains_inheritance.py).
    config = TrainConfig(max_steps=0, progress=False, imprint_new_labels=False)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[1], config=config)
    texts = [e.text for e in split.test]
    with_adapter = predict(bert_classifier, texts, result.adapter)
    zero_shot = predict(bert_classifier, texts, labels=list(result.adapter.labels))
    assert [p.label for p in with_adapter] == [p.label for p in zero_shot]
    assert [p.score for p in with_adapter] == pytest.approx([p.score for p in zero_shot], abs=1e-5)
    assert result.steps == 0


def test_early_stopping_stops_and_restores_the_best_checkpoint(bert_classifier):
    split = toy_split()
    # A learning rate far too high makes validation loss climb after the first steps.
    config = TrainConfig(epochs=30, lr=0.5, batch_size=16, eval_every=1, patience=2, monitor="loss", progress=False)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config)

    assert result.stopped_early
    assert result.steps < result.total_steps
    losses = {point.step: point.val_loss for point in result.history}
    assert result.best_step == min(losses, key=losses.get)
    assert result.history[-1].step - result.best_step >= config.patience
    # The returned weights are the best checkpoint's: same validation loss as recorded then.
    objective = objective_for(bert_classifier, result.adapter.labels, config.max_length)
    loss, _ = _validate(objective, result.adapter, objective.encode(split.validation), config.batch_size)
    result.adapter.eval()
    assert loss == pytest.approx(losses[result.best_step], rel=1e-5)


def test_without_validation_every_step_runs_and_the_last_weights_stay(bert_classifier):
    split = toy_split()
    config = TrainConfig(epochs=2, lr=5e-3, batch_size=16, patience=1, progress=False)
    result = train_adapter(bert_classifier, split.train, [], layers=[1], config=config)
    assert result.history == []
    assert result.steps == result.total_steps == result.best_step
    assert not result.stopped_early


def test_progress_callback_gets_every_step(bert_classifier):
    split = toy_split()
    calls = []
    config = TrainConfig(epochs=1, batch_size=16, progress=False)
    result = train_adapter(
        bert_classifier, split.train, split.validation, layers=[1], config=config, on_step=lambda *a: calls.append(a)
    )
    assert [c[0] for c in calls] == list(range(1, result.total_steps + 1))
    assert all(c[1] == result.total_steps for c in calls)
    assert [c[2] for c in calls] == result.step_losses


def test_same_seed_same_adapter(bert_classifier):
    split = toy_split()
    first = train_adapter(bert_classifier, split.train, split.validation, layers=[1], config=QUICK)
    second = train_adapter(bert_classifier, split.train, split.validation, layers=[1], config=QUICK)
    a, b = first.adapter.lora_state(), second.adapter.lora_state()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_generation_masks_the_prompt_and_lowers_response_loss(llama_generator):
    split = toy_split(200, generation=True)
    objective = GenerationObjective(llama_generator, max_length=32)
    items = objective.encode(split.train[:4])
    batch = objective.batch(items)
    for row, (prompt, response) in enumerate(items):
        assert (batch.labels[row, : len(prompt)] == IGNORE_INDEX).all()
        assert batch.labels[row, len(prompt) : len(prompt) + len(response)].tolist() == response
        assert response[-1] == llama_generator.tokenizer.eos_token_id

    config = TrainConfig(epochs=6, lr=5e-3, batch_size=16, progress=False)
    result = train_adapter(llama_generator, split.train, split.validation, layers=[2, 3], config=config)
    before = evaluate(llama_generator, split.test)
    after = evaluate(llama_generator, split.test, result.adapter)
    assert after["loss"] < before["loss"] - 0.2
    assert after["token_f1"] > before["token_f1"]


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # expected: the lowest adapted block's input needs no grad
@pytest.mark.parametrize(("base_fixture", "layers"), [("llama_classifier", [2]), ("bert_classifier", [1])])
def test_backward_stops_at_the_lowest_adapted_layer(request, base_fixture, layers):
    base = request.getfixturevalue(base_fixture)
    split = toy_split()
    labels = sorted({e.target for e in split.train})
    adapter, _ = prepare_adapter(base, layers=layers, config=QUICK, labels=labels)
    _, blocks = find_layers(adapter.model)
    reached: set[int] = set()
    for index, block in enumerate(blocks):
        block.register_full_backward_hook(lambda module, grad_in, grad_out, index=index: reached.add(index))
    objective = objective_for(base, labels, QUICK.max_length)
    objective.loss(adapter, objective.batch(objective.encode(split.train[:8]))).backward()
    assert reached == set(range(min(layers), len(blocks)))


def test_interleaved_trainers_match_separate_runs(bert_classifier):
    split = toy_split()
    first = AdapterTrainer(bert_classifier, split.train, split.validation, layers=[0], config=QUICK)
    second = AdapterTrainer(bert_classifier, split.train, split.validation, layers=[1], config=QUICK)
    torch.manual_seed(123)
    caller_rng = torch.random.get_rng_state()
    while not (first.done and second.done):
        for trainer in (first, second):
            if not trainer.done:
                trainer.step()
    assert torch.equal(torch.random.get_rng_state(), caller_rng)  # the caller's RNG is untouched
    with pytest.raises(RuntimeError, match="already finished"):
        first.step()
    for trainer, layers in ((first, [0]), (second, [1])):
        alone = train_adapter(bert_classifier, split.train, split.validation, layers=layers, config=QUICK)
        interleaved = trainer.result()
        assert interleaved.step_losses == alone.step_losses
        a, b = interleaved.adapter.lora_state(), alone.adapter.lora_state()
        assert all(torch.equal(a[k], b[k]) for k in a)
