"""The Python API takes a path wherever it takes a ``Database`` (issue 15, item 4)."""

from __future__ import annotations

import duckdb
import pytest

from recsys.events.export import export_parquet
from recsys.events.log import append_interactions
from recsys.domains import DomainRecord, list_domains, upsert_domain
from recsys.events.query import fetch_interactions, interaction_stats
from recsys.matrices import build_user_domain_matrix
from recsys.store import open_database
from tests.fixtures.events import events
from tuner.registry import AdapterRegistry


@pytest.fixture
def stored(tmp_path):
    path = tmp_path / "log.duckdb"
    assert append_interactions(path, events(6)).accepted == 6  # a writer opens the path for writing
    return path


def test_writers_and_readers_of_the_store_take_a_path(stored):
    upsert_domain(stored, DomainRecord("legal"))
    upsert_domain(str(stored), DomainRecord("contracts", parent="legal"))
    parents = {d.name: d.parent for d in list_domains(stored)}
    assert (parents["contracts"], parents["legal"]) == ("legal", None)
    assert interaction_stats(stored).total == 6
    assert build_user_domain_matrix(stored).matrix.nnz > 0


def test_readers_take_a_path_and_open_it_read_only(stored, tmp_path):
    assert [e.event_id for e in fetch_interactions(str(stored))] == [e.event_id for e in events(6)]
    files = export_parquet(stored, tmp_path / "export")
    assert files and duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [f"{tmp_path / 'export'}/**/*.parquet"]).fetchone()[0] == 6
    # read-only: another read-only opener may hold the file meanwhile, and nothing was migrated or written
    holder = duckdb.connect(str(stored), read_only=True)
    try:
        assert len(fetch_interactions(stored, domain=events(1)[0].domain)) >= 1
    finally:
        holder.close()


def test_a_missing_database_fails_before_anything_is_created(tmp_path):
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(FileNotFoundError, match="nope.duckdb does not exist"):
        export_parquet(missing, tmp_path / "export")
    with pytest.raises(FileNotFoundError):
        fetch_interactions(missing)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no empty export folder, no database file


def test_the_registry_takes_a_path(stored, tmp_path):
    registry = AdapterRegistry(str(stored), tmp_path / "adapters")
    try:
        assert registry.list() == [] and registry.db.path == stored
    finally:
        registry.db.close()
    with pytest.raises(TypeError, match="db must be a Database or a path"):
        AdapterRegistry(42, tmp_path / "adapters")  # type: ignore[arg-type]
