"""The checked-in generated code equals a fresh ``server.protogen.generate`` (run `make proto`)."""

from __future__ import annotations

from pathlib import Path

from server import protogen


def test_generated_code_is_fresh(tmp_path: Path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    protogen.generate(fresh)
    committed_root = protogen.OUTPUT
    fresh_files = {p.relative_to(fresh): p for p in fresh.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(committed_root): p
        for p in (committed_root / "adaptune").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert set(fresh_files) == set(committed), "generated files differ: run `make proto`"
    stale = [str(rel) for rel, path in fresh_files.items() if path.read_bytes() != committed[rel].read_bytes()]
    assert stale == [], f"stale generated code {stale}: run `make proto`"
    assert len(fresh_files) >= 3 * len(protogen.proto_files())
