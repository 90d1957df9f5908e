"""Adapter folders: what is saved is what loads, and a folder is complete or absent."""

from __future__ import annotations

import json

import pytest
import torch

from tests.fixtures.toy_data import toy_interactions
from tuner.adapters import load_adapter, read_adapter_info, save_adapter
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.errors import AdapterNotFoundError, IncompatibleAdapterError
from tuner.predict import predict
from tuner.training import train_adapter

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CONFIG = TrainConfig(epochs=2, lr=5e-3, batch_size=16, progress=False)


@pytest.mark.parametrize(("base_fixture", "generation"), [("bert_classifier", False), ("llama_generator", True)])
def test_saved_and_reloaded_adapter_has_the_same_weights_and_predictions(request, tmp_path, base_fixture, generation):
    base = request.getfixturevalue(base_fixture)
    split = split_interactions(toy_interactions(120, generation=generation), validation=0.2, test=0.2)
    result = train_adapter(base, split.train, split.validation, layers=[1], config=CONFIG)
    folder = tmp_path / "banking" / "v0001"

    save_adapter(result.adapter, folder, domain="banking", version="v0001", data_window=(1, 120))
    loaded = load_adapter(base, folder)

    saved, back = result.adapter.lora_state(), loaded.lora_state()
    assert saved.keys() == back.keys() and saved
    assert all(torch.equal(saved[k], back[k]) for k in saved)
    texts = [e.text for e in split.test]
    assert predict(base, texts, loaded) == predict(base, texts, result.adapter)
    info = read_adapter_info(folder)
    assert (info.domain, info.version, info.data_window, info.layers) == ("banking", "v0001", (1, 120), (1,))
    assert info.train_config == CONFIG.to_json()
    files = {p.name for p in folder.iterdir()}
    expected = {"adapter_config.json", "adapter_model.safetensors", "adaptune.json"}
    if not generation:
        expected |= {"head.safetensors", "labels.json"}
        assert torch.equal(loaded.head.weight, result.adapter.head.weight)
        assert json.loads((folder / "labels.json").read_text()) == list(result.adapter.labels)
    assert files == expected
    assert not any(p.suffix in {".bin", ".pt", ".pkl"} for p in folder.iterdir())


def test_save_refuses_an_existing_folder_and_leaves_no_staging(bert_classifier, tmp_path):
    split = split_interactions(toy_interactions(60), validation=0.2, test=0.0)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0], config=CONFIG)
    folder = tmp_path / "v0001"
    folder.mkdir()
    with pytest.raises(FileExistsError, match="v0001"):
        save_adapter(result.adapter, folder)
    assert [p.name for p in tmp_path.iterdir()] == ["v0001"]
    assert list(folder.iterdir()) == []


def test_loading_onto_another_base_or_task_is_refused(bert_classifier, llama_classifier, tmp_path):
    split = split_interactions(toy_interactions(60), validation=0.2, test=0.0)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0], config=CONFIG)
    save_adapter(result.adapter, tmp_path / "a")
    with pytest.raises(IncompatibleAdapterError, match="trained for base model"):
        load_adapter(llama_classifier, tmp_path / "a")
    with pytest.raises(AdapterNotFoundError, match="has no adaptune.json"):
        load_adapter(bert_classifier, tmp_path / "missing")
