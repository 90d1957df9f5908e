"""The one transaction block every writer uses: commit at the end, rollback on any exception."""

from __future__ import annotations

import pytest

from recsys.store import open_database


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "t.duckdb")
    database.cursor().execute("CREATE TABLE notes (n INTEGER)")
    yield database
    database.close()


def count(db) -> int:
    return db.cursor().execute("SELECT count(*) FROM notes").fetchone()[0]


def test_a_block_that_ends_commits(db):
    with db.write_lock, db.transaction() as cursor:
        cursor.execute("INSERT INTO notes VALUES (1), (2)")
    assert count(db) == 2


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_a_block_that_raises_rolls_back_everything_and_propagates(db, error):
    with pytest.raises(type(error)):
        with db.write_lock, db.transaction() as cursor:
            cursor.execute("INSERT INTO notes VALUES (1)")
            raise error
    assert count(db) == 0
    with db.transaction() as cursor:  # the connection is usable again
        cursor.execute("INSERT INTO notes VALUES (3)")
    assert count(db) == 1
