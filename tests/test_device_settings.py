"""``--device`` / ``device=`` everywhere a model runs, and ``--adapter-memory``: bad values are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from server.cli import main
from tuner.cycle.config import CycleConfig
from tuner.device import DeviceUnavailableError, resolve_device, to_device
from tuner.encoding import classification_batch
from tuner.loading import load_base
from tuner.serving.config import ServingConfig, parse_byte_size

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


@no_cuda
def test_auto_takes_the_cpu_without_cuda_and_cuda_is_refused_naming_the_field(tiny_bert_dir):
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceUnavailableError, match="device is 'cuda' but torch sees no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(DeviceUnavailableError, match="device is 'cuda'"):
        load_base(str(tiny_bert_dir), "classification", device="cuda")


def test_a_device_that_is_not_auto_cpu_or_cuda_is_refused_everywhere(tiny_bert_dir):
    message = r"device must be one of \['auto', 'cpu', 'cuda'\], got 'gpu'"
    with pytest.raises(ValueError, match=message):
        resolve_device("gpu")
    with pytest.raises(ValueError, match=message):
        load_base(str(tiny_bert_dir), "classification", device="gpu")
    with pytest.raises(ValueError, match=message):
        ServingConfig(device="gpu")
    with pytest.raises(ValueError, match=message):
        CycleConfig(device="gpu")
    with pytest.raises(ValueError, match="device must be one of"):
        CycleConfig.from_json({"device": 3})


def test_the_cpu_device_loads_float32_weights_on_the_cpu(tiny_bert_dir):
    base = load_base(str(tiny_bert_dir), "classification", device="cpu")
    assert base.device == torch.device("cpu")
    assert {p.dtype for p in base.model.parameters()} == {torch.float32}
    batch = classification_batch([[5, 6], [7]], [0, 1], pad_id=0)
    assert to_device(batch, base.model) is batch  # already there: nothing copied


@pytest.mark.parametrize(
    "text, expected",
    [("256MB", 256_000_000), ("1GiB", 2**30), ("1.5 kib", 1536), ("4096", 4096), ("10b", 10)],
)
def test_byte_sizes_parse_with_decimal_and_binary_units(text, expected):
    assert parse_byte_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "12XB", "-5MB", "0", ""])
def test_bad_byte_sizes_are_refused_naming_the_field(text):
    with pytest.raises(ValueError, match="adapter_memory must be"):
        parse_byte_size(text)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "256MB"])
def test_serving_config_refuses_a_bad_adapter_memory_budget(value):
    with pytest.raises(ValueError, match="adapter_memory_bytes must be a positive integer or None"):
        ServingConfig(adapter_memory_bytes=value)


def test_serve_refuses_a_bad_adapter_memory_before_touching_the_file(tmp_path: Path, capsys):
    db = tmp_path / "never.duckdb"
    assert main(["serve", "--db", str(db), "--adapter-memory", "lots"]) == 2
    assert "adapter_memory must be a size like 256MB" in capsys.readouterr().err
    assert not db.exists()


@no_cuda
def test_serve_refuses_cuda_without_cuda_before_touching_the_file(tmp_path: Path, capsys):
    db = tmp_path / "never.duckdb"
    assert main(["serve", "--db", str(db), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device is 'cuda' but torch sees no CUDA device" in err and "Traceback" not in err
    assert not db.exists()


@pytest.mark.parametrize("command", ["serve", "tune", "export", "distill"])
def test_every_model_command_takes_the_device_flag(command, capsys):
    with pytest.raises(SystemExit) as raised:
        main([command, "--device", "tpu"])
    assert raised.value.code == 2
    assert "--device: invalid choice: 'tpu'" in capsys.readouterr().err
