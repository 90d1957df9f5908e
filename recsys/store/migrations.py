"""Forward-only schema migrations, each recorded once in ``schema_migrations``.

Add a new function at the end of ``MIGRATIONS``; never edit one that shipped.
"""

from __future__ import annotations

from typing import Callable

import duckdb

from recsys.store.transactions import transaction

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    """Interactions, domains, probes, adapters and cycles."""
    con.execute("CREATE SEQUENCE IF NOT EXISTS interaction_seq START 1")
    con.execute(
        """
        CREATE TABLE domains (
            name VARCHAR PRIMARY KEY,
            parent VARCHAR,
            description VARCHAR NOT NULL DEFAULT '',
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    # seq is the ingest order: cycles use it as their watermark because event_time
    # comes from clients and may arrive late or out of order.
    con.execute(
        """
        CREATE TABLE interactions (
            event_id VARCHAR PRIMARY KEY,
            seq BIGINT NOT NULL DEFAULT nextval('interaction_seq'),
            user_id VARCHAR NOT NULL,
            domain VARCHAR NOT NULL,
            input_text VARCHAR NOT NULL,
            model_output VARCHAR NOT NULL DEFAULT '',
            feedback VARCHAR NOT NULL,
            correction VARCHAR NOT NULL DEFAULT '',
            variant_id VARCHAR NOT NULL DEFAULT '',
            event_time TIMESTAMPTZ NOT NULL,
            attributes MAP(VARCHAR, VARCHAR),
            received_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    con.execute(
        """
        CREATE TABLE probes (
            probe_id VARCHAR NOT NULL,
            domain VARCHAR NOT NULL,
            base_model VARCHAR NOT NULL,
            layer INTEGER NOT NULL,
            module_group VARCHAR NOT NULL,
            grad_norm DOUBLE NOT NULL,
            n_examples INTEGER NOT NULL,
            cycle_id VARCHAR,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    con.execute(
        """
        CREATE TABLE adapters (
            domain VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            base_model VARCHAR NOT NULL,
            task VARCHAR NOT NULL,
            parent_domain VARCHAR,
            parent_version VARCHAR,
            layers INTEGER[] NOT NULL,
            module_groups VARCHAR[] NOT NULL,
            labels VARCHAR[],
            config_json VARCHAR NOT NULL,
            metrics_json VARCHAR NOT NULL DEFAULT '{}',
            data_from_seq BIGINT,
            data_to_seq BIGINT,
            path VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            promoted_at TIMESTAMPTZ,
            PRIMARY KEY (domain, version)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE cycles (
            cycle_id VARCHAR PRIMARY KEY,
            status VARCHAR NOT NULL,
            started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            finished_at TIMESTAMPTZ,
            watermark_from BIGINT NOT NULL,
            watermark_to BIGINT NOT NULL,
            request_json VARCHAR NOT NULL DEFAULT '{}',
            summary_json VARCHAR NOT NULL DEFAULT '{}',
            error VARCHAR
        )
        """
    )


def m002_adapter_rollbacks(con: duckdb.DuckDBPyConnection) -> None:
    """When a champion was rolled back: rollback restores the latest champion not rolled back."""
    con.execute("ALTER TABLE adapters ADD COLUMN rolled_back_at TIMESTAMPTZ")


def i13_adapter_file_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """The sha256 of every file of an adapter folder, recorded at registration, checked at load."""
    con.execute(
        """
        CREATE TABLE adapter_file_hashes (
            domain VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            file VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            PRIMARY KEY (domain, version, file)
        )
        """
    )


def i13_store_probe(con: duckdb.DuckDBPyConnection) -> None:
    """One row that health checks rewrite: proof that a commit still reaches the file."""
    con.execute("CREATE TABLE store_probe (id INTEGER PRIMARY KEY, checked_at TIMESTAMPTZ NOT NULL)")


def i10b_domain_labels(con: duckdb.DuckDBPyConnection) -> None:
    """A domain's declared label set (UpsertDomain): zero-shot and heads cover it before traffic does."""
    con.execute(
        """
        CREATE TABLE domain_labels (
            domain VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            description VARCHAR NOT NULL DEFAULT '',
            PRIMARY KEY (domain, name)
        )
        """
    )


def i16_review(con: duckdb.DuckDBPyConnection) -> None:
    """Expert review: a per-domain policy, and one row per candidate held for a person's decision.

    ``status`` of a review: awaiting, approved, rejected (by a reviewer or by expiry),
    superseded (a newer candidate of the domain replaced it). ``champion_version`` is
    the champion the gate compared against: approval is refused once it changed.
    """
    con.execute("ALTER TABLE domains ADD COLUMN review_policy VARCHAR DEFAULT 'auto'")
    con.execute("ALTER TABLE domains ADD COLUMN review_threshold DOUBLE DEFAULT 0")
    con.execute(
        """
        CREATE TABLE reviews (
            domain VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            cycle_id VARCHAR NOT NULL,
            champion_version VARCHAR,
            policy VARCHAR NOT NULL,
            threshold DOUBLE NOT NULL,
            change_rate DOUBLE NOT NULL,
            evidence_json VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            decided_at TIMESTAMPTZ,
            decided_by VARCHAR,
            reason VARCHAR,
            PRIMARY KEY (domain, version)
        )
        """
    )


MIGRATIONS: list[Migration] = [
    m001_initial, m002_adapter_rollbacks, i13_adapter_file_hashes, i13_store_probe,
    i10b_domain_labels, i16_review,
]


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now."""
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            name VARCHAR PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            continue
        with transaction(con):
            migration(con)
            con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [name])
        applied.append(name)
    return applied


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
