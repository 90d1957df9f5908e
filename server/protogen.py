"""Regenerate the checked-in gRPC code from protos/ (``make proto``).

The generated modules live in ``server/_proto`` and are imported as
``server._proto.adaptune.v1``. protoc writes absolute ``adaptune.v1`` imports,
so they are rewritten to the package path; ``generate`` is pure (writes into a
folder it is given) so the staleness test can compare a fresh run with the
committed files.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUTPUT = ROOT / "server" / "_proto"
PACKAGE = "server._proto"


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "adaptune" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every proto into out_dir and fix up imports; return the files."""
    from grpc_tools import protoc
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))
    written = []
    for path in sorted(out_dir.rglob("*.py*")):
        text = path.read_text()
        text = re.sub(r"^from adaptune\.v1 import", f"from {PACKAGE}.adaptune.v1 import", text, flags=re.M)
        path.write_text(text)
        written.append(path)
    for folder in [out_dir / "adaptune", out_dir / "adaptune" / "v1"]:
        (folder / "__init__.py").touch()
        written.append(folder / "__init__.py")
    return sorted(set(written))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        generated = OUTPUT / "adaptune"
        if generated.exists():
            shutil.rmtree(generated)
        shutil.copytree(fresh / "adaptune", generated)
    (OUTPUT / "__init__.py").write_text('"""Generated gRPC code. Do not edit: run `make proto`."""\n')
    print(f"regenerated {len(list(generated.rglob('*.py*')))} files under {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
