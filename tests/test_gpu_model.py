"""bench/gpu_model.py: a checkpoint packed as float16 loads as the original does, answers alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from bench.gpu_model import main, pack_checkpoint
from tests.fixtures.cli import refused
from tests.fixtures.models import save_tiny_bert
from tuner.loading import load_base


def test_packed_checkpoint_is_half_precision_and_answers_as_the_original(tmp_path: Path) -> None:
    source = save_tiny_bert(tmp_path / "source")
    (source / "1_Pooling").mkdir()  # a sentence-transformers subfolder load_base does not read
    written = pack_checkpoint(source, tmp_path / "packed")

    with safe_open(str(tmp_path / "packed" / "model.safetensors"), framework="pt") as packed:
        dtypes = {packed.get_tensor(name).dtype for name in packed.keys()}
    assert dtypes == {torch.float16}
    original_bytes = (source / "model.safetensors").stat().st_size
    assert (tmp_path / "packed" / "model.safetensors").stat().st_size < 0.6 * original_bytes
    assert written == sum(p.stat().st_size for p in (tmp_path / "packed").iterdir())
    assert not (tmp_path / "packed" / "1_Pooling").exists()

    original = load_base(str(source), "classification", device="cpu")
    packed_base = load_base(str(tmp_path / "packed"), "classification", device="cpu")
    assert next(packed_base.model.parameters()).dtype == torch.float32  # cast back on load
    batch = original.tokenizer(["w1 w2 w3", "w4 w5"], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = original.model(**batch).last_hidden_state
        got = packed_base.model(**batch).last_hidden_state
    assert torch.allclose(got, expected, atol=5e-3), (got - expected).abs().max()
    assert not torch.equal(got, expected)  # the weights were rounded, not copied


def test_folder_without_safetensors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .safetensors"):
        pack_checkpoint(tmp_path / "empty", tmp_path / "packed")
    assert not (tmp_path / "packed").exists()  # refused before anything is written


def test_cli_packs_model_and_data(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data = tmp_path / "clinc"
    data.mkdir()
    (data / "data_full.json").write_text(json.dumps({"train": [], "val": [], "test": []}))
    (data / "domains.json").write_text("{}")
    assert main(["--model", str(tiny_bert_dir), "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / f"{tiny_bert_dir.name}-fp16" / "model.safetensors").is_file()
    assert (tmp_path / "out" / "clinc150" / "domains.json").read_text() == "{}"


def test_cli_refuses_a_folder_without_clinc(tmp_path: Path, tiny_bert_dir: Path, capsys) -> None:
    err = refused(main, ["--model", str(tiny_bert_dir), "--data", str(tmp_path), "--out", str(tmp_path / "out")],
                  tmp_path / "out", capsys)
    assert "--data" in err and "data_full.json" in err
