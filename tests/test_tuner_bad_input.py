"""Every bad input is a clear error naming the value, raised before anything is written."""

from __future__ import annotations

import json
import shutil

import pytest

from recsys.events.model import Feedback
from recsys.store import open_database
from tests.fixtures.toy_data import toy_interactions
from tuner.architectures import UnsupportedArchitectureError
from tuner.catalog import InvalidCheckpointError, UnknownModelError
from tuner.config import TrainConfig
from tuner.data import DataSplit, split_examples, split_interactions
from tuner.errors import EmptyTrainingSetError, TuningError, UnknownTaskError, UnseenLabelError
from tuner.evaluation import evaluate
from tuner.loading import load_base
from tuner.registry import AdapterRegistry
from tuner.training import train_adapter
from tuner.tune import tune_domain

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CONFIG = TrainConfig(epochs=1, batch_size=16, progress=False)


@pytest.fixture
def registry(tmp_path):
    db = open_database(tmp_path / "adaptune.duckdb")
    yield AdapterRegistry(db, tmp_path / "adapters")
    db.close()


def assert_nothing_registered(registry: AdapterRegistry) -> None:
    assert registry.list() == []
    assert not registry.root.exists() or not any(registry.root.rglob("*"))


def test_unknown_model_name(tmp_path):
    with pytest.raises(UnknownModelError, match="'gpt-17'"):
        load_base("gpt-17", "classification")
    with pytest.raises(UnknownModelError, match="missing-folder"):
        load_base(str(tmp_path / "missing-folder"), "classification")


def test_folder_that_is_not_a_model(tmp_path, tiny_bert_dir):
    with pytest.raises(InvalidCheckpointError, match="no config.json"):
        load_base(str(tmp_path), "classification")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bert_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InvalidCheckpointError, match="could not be loaded"):
        load_base(str(broken), "classification")


def test_unsupported_architecture(tmp_path, tiny_bert_dir):
    other = tmp_path / "other"
    shutil.copytree(tiny_bert_dir, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "electra", "architectures": ["ElectraModel"]}))
    with pytest.raises(UnsupportedArchitectureError, match="'electra'"):
        load_base(str(other), "classification")


def test_unknown_task_and_generation_on_an_encoder(tiny_bert_dir):
    with pytest.raises(UnknownTaskError, match="'translation'"):
        load_base(str(tiny_bert_dir), "translation")
    with pytest.raises(TuningError, match="needs a causal LM"):
        load_base(str(tiny_bert_dir), "generation")


@pytest.mark.parametrize(
    ("layers", "groups", "message"),
    [([2], ["attention"], r"layers \[2\] are outside the model's range 0..1"),
     ([-1, 0], ["mlp"], r"layers \[-1\]"),
     ([], ["mlp"], "at least one layer"),
     ([0], ["ffn"], r"\['ffn'\]")],
)
def test_targets_outside_the_model(registry, bert_classifier, layers, groups, message):
    split = split_interactions(toy_interactions(60), validation=0.2, test=0.2)
    with pytest.raises(ValueError, match=message):
        train_adapter(bert_classifier, split.train, split.validation, layers=layers, groups=groups, config=CONFIG)
    with pytest.raises(ValueError, match=message):
        tune_domain(bert_classifier, registry, split, domain="banking", layers=layers, groups=groups, config=CONFIG)
    assert_nothing_registered(registry)


def test_empty_training_set(registry, bert_classifier):
    events = toy_interactions(30)
    for event in events:  # negative feedback without a correction teaches nothing
        event.feedback, event.correction = Feedback.NEGATIVE, ""
    split = split_interactions(events)
    assert split.sizes() == {"train": 0, "validation": 0, "test": 0}
    with pytest.raises(EmptyTrainingSetError, match="training set is empty"):
        train_adapter(bert_classifier, split.train, split.validation, layers=[0], config=CONFIG)
    with pytest.raises(EmptyTrainingSetError):
        tune_domain(bert_classifier, registry, split, domain="banking", layers=[0], config=CONFIG)
    assert_nothing_registered(registry)


def test_labels_unseen_in_training(registry, bert_classifier):
    train = split_examples(
        [e for e in split_interactions(toy_interactions(60, labels=("check_balance", "lost_card"))).train]
    ).train
    other = split_interactions(toy_interactions(20, labels=("pay_bill",), prefix="x"), validation=0.0, test=0.0).train
    with pytest.raises(UnseenLabelError, match=r"\['pay_bill'\] in the validation set"):
        train_adapter(bert_classifier, train, other, layers=[0], config=CONFIG)
    with pytest.raises(UnseenLabelError, match=r"\['pay_bill'\] in the test set"):
        tune_domain(bert_classifier, registry, DataSplit(train, [], other), domain="banking", layers=[0], config=CONFIG)
    with pytest.raises(UnseenLabelError, match=r"\['pay_bill'\] in the training set"):
        train_adapter(bert_classifier, other, [], layers=[0], labels=["check_balance"], config=CONFIG)
    assert_nothing_registered(registry)


def test_empty_test_split_and_bad_domain_names(registry, bert_classifier):
    split = split_interactions(toy_interactions(40), validation=0.2, test=0.0)
    with pytest.raises(TuningError, match="test split of domain 'banking' is empty"):
        tune_domain(bert_classifier, registry, split, domain="banking", layers=[0], config=CONFIG)
    with pytest.raises(ValueError, match="'Banking!'"):
        tune_domain(bert_classifier, registry, split, domain="Banking!", layers=[0], config=CONFIG)
    assert_nothing_registered(registry)


def test_evaluation_inputs(bert_classifier):
    examples = split_interactions(toy_interactions(20), validation=0.0, test=0.0).train
    with pytest.raises(ValueError, match="at least one example"):
        evaluate(bert_classifier, [], labels=["lost_card"])
    with pytest.raises(UnseenLabelError, match="evaluation set"):
        evaluate(bert_classifier, examples, labels=["lost_card"])
    metrics = evaluate(bert_classifier, examples, labels=["lost_card"], allow_unseen=True)
    assert metrics["accuracy"] == pytest.approx(sum(e.target == "lost_card" for e in examples) / len(examples))


@pytest.mark.parametrize(
    ("field", "value"),
    [("rank", 0), ("alpha", -1.0), ("dropout", 1.0), ("lr", 0.0), ("lr", float("nan")), ("batch_size", 0),
     ("epochs", 1.5), ("max_steps", -1), ("patience", -2), ("eval_every", -1), ("monitor", "f1"),
     ("max_length", 0), ("head_lr", 0.0), ("weight_decay", -0.1), ("rank", True), ("progress", "yes"),
     ("cache_frozen_layers", 1), ("eval_examples", 0), ("schedule", "step"), ("warmup", 1.0), ("warmup", -0.1),
     ("label_smoothing", 1.0), ("label_smoothing", float("inf")), ("eval_share", 0.0), ("eval_share", -0.5),
     ("eval_share", float("nan")), ("select_start", 0), ("select_start", "no")],
)
def test_train_config_names_the_bad_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"{field} .*{value!r}".replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{field: value})


def test_train_config_round_trips_and_refuses_unknown_keys():
    config = TrainConfig(rank=4, lr=1e-4)
    assert TrainConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="'ranks'"):
        TrainConfig.from_json({"ranks": 4})


@pytest.mark.parametrize(("validation", "test"), [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0)])
def test_split_fractions(validation, test):
    with pytest.raises(ValueError, match="fraction"):
        split_examples([], validation=validation, test=test)
