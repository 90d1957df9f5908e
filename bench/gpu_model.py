"""Pack the embedded MiniLM (as float16) and CLINC150 into ``.gpu-model/`` for a GPU machine.

A GPU machine takes at most 64 MiB with the checkout (``../shared/GPU.md``): the wheels
``bench/gpu.sh`` installs are about 40 MB and MiniLM's float32 weights 91 MB, so accuracy
runs there (``bench/days.py`` on real weights) carry the weights as float16 (45 MB) in a
second call, after the wheels are installed into ``.gpu-site/`` by the first. The
checkpoint loads through ``load_base`` as any folder does, cast back to float32; CUDA
forwards run under bf16 autocast anyway, so the half-precision storage costs nothing
there. ``.gpu-model/`` is git-ignored: carry it explicitly.

    .venv/bin/python bench/gpu_model.py            # .gpu-model/minilm-l6-fp16 and .gpu-model/clinc150
    # on the device, after bench/gpu.sh --wheels gpu-wheels:
    PYTHONPATH=.gpu-site:. python3 bench/days.py --model .gpu-model/minilm-l6-fp16 --data .gpu-model/clinc150
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetensors.torch import load_file, save_file  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from tuner.catalog import resolve_model  # noqa: E402

OUT = ROOT / ".gpu-model"
SKIPPED_SUFFIXES = {".bin", ".onnx", ".h5", ".msgpack"}  # other formats of the same weights


def pack_checkpoint(source: Path, target: Path) -> int:
    """Copy the checkpoint folder ``source`` to ``target`` with its safetensors weights as
    float16 (integer tensors kept); returns the bytes written. Subfolders (pooling
    configs) and weights in other formats are left out: ``load_base`` reads neither."""
    if not any(source.glob("*.safetensors")):
        raise FileNotFoundError(f"{source}: no .safetensors weights to pack")
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.suffix in SKIPPED_SUFFIXES:
            continue
        if path.suffix == ".safetensors":
            tensors = load_file(str(path))
            half = {name: t.half() if t.is_floating_point() else t for name, t in tensors.items()}
            save_file(half, str(target / path.name), metadata={"format": "pt"})
        else:
            shutil.copy2(path, target / path.name)
    return sum(p.stat().st_size for p in target.iterdir() if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm-l6", help="catalog name or checkpoint folder")
    parser.add_argument("--data", default=None, help="CLINC150 folder (default: $ADAPTUNE_CLINC150 or ../shared)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = Path(args.data) if args.data else clinc150.default_path()
    if not clinc150.available(data):
        parser.error(f"--data: no CLINC150 (data_full.json, domains.json) in {data}")
    source = resolve_model(args.model).path
    name = Path(args.model).name  # a catalog name is its own
    written = pack_checkpoint(source, args.out / f"{name}-fp16")
    shutil.copytree(data, args.out / "clinc150", dirs_exist_ok=True)
    print(f"wrote {args.out / f'{name}-fp16'} ({written / 2**20:.1f} MiB) and {args.out / 'clinc150'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
