"""The model catalog resolves names and folders to loadable checkpoints, offline."""

from __future__ import annotations

import json

import pytest
from transformers import AutoConfig

from tuner.catalog import InvalidCheckpointError, UnknownModelError, check_checkpoint, resolve_model


def test_unknown_name_is_named_in_the_error():
    with pytest.raises(UnknownModelError, match="'no-such-model'"):
        resolve_model("no-such-model")


def test_folder_without_config_is_not_a_checkpoint(tmp_path):
    with pytest.raises(InvalidCheckpointError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_folder_without_weights_is_not_a_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(InvalidCheckpointError, match="no weight files"):
        check_checkpoint(tmp_path)


def test_broken_config_is_reported(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidCheckpointError, match="not valid JSON"):
        check_checkpoint(tmp_path)


def test_local_checkpoint_folder_resolves(tiny_bert_dir):
    source = resolve_model(str(tiny_bert_dir))
    assert source.family == "bert"
    assert source.path == tiny_bert_dir.resolve()


def test_minilm_comes_from_its_wheel():
    source = resolve_model("minilm-l6")
    assert source.family == "bert"
    assert AutoConfig.from_pretrained(source.path).num_hidden_layers == 6


@pytest.mark.slow
def test_smollm2_gguf_converts_once_into_a_safetensors_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTUNE_MODEL_CACHE", str(tmp_path))
    source = resolve_model("smollm2-135m")
    assert source.path == (tmp_path / "smollm2-135m").resolve()
    assert (source.path / "model.safetensors").is_file()
    config = AutoConfig.from_pretrained(source.path)
    assert config.model_type == "llama" and config.num_hidden_layers == 30
    assert getattr(config, "quantization_config", None) is None
    stamp = (source.path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("smollm2-135m").path == source.path
    assert (source.path / "model.safetensors").stat().st_mtime_ns == stamp
