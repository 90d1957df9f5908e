"""Adapter versions per domain, with status, lineage, targets, config, data window, metrics.

Rows live in the ``adapters`` table; weights in ``<root>/<domain>/<version>/`` folders
written atomically before the row commits (a row always has its files). Every version
is kept. Status: candidate (new), champion (serving, one per domain), retired (was
champion, or replaced), rejected (failed a gate, or a reviewer's no), awaiting_review
(passed the gate, held by its domain's review policy until a person decides: only
``tuner.review.decisions`` promotes it). Rollback restores the most recent
champion that was not itself rolled back, so repeated rollbacks walk back in time.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from recsys.domains import check_domain_name, ensure_domains
from recsys.store import Database, open_database
from tuner.adapters import Adapter, AdapterInfo, load_adapter, save_adapter
from tuner.errors import AdapterNotFoundError, RegistryStateError
from tuner.integrity import folder_hashes, hash_statements
from tuner.loading import BaseModel

STATUSES = ("candidate", "champion", "retired", "rejected", "awaiting_review")
VERSION_PATTERN = re.compile(r"^v(\d{4,})$")

_INSERT_COLUMNS = (
    "domain, version, status, base_model, task, parent_domain, parent_version, layers, module_groups, labels, "
    "config_json, metrics_json, data_from_seq, data_to_seq, path"
)
_COLUMNS = _INSERT_COLUMNS + ", created_at, promoted_at, rolled_back_at"


@dataclass(frozen=True)
class AdapterRecord:
    domain: str
    version: str
    status: str
    base_model: str
    task: str
    parent_domain: str | None
    parent_version: str | None
    layers: tuple[int, ...]
    module_groups: tuple[str, ...]
    labels: tuple[str, ...]
    config: dict[str, Any]
    metrics: dict[str, Any]
    data_window: tuple[int, int] | None
    path: Path
    created_at: datetime
    promoted_at: datetime | None
    rolled_back_at: datetime | None

    @classmethod
    def from_row(cls, row: tuple) -> "AdapterRecord":
        (domain, version, status, base_model, task, parent_domain, parent_version, layers, groups, labels,
         config_json, metrics_json, data_from, data_to, path, created, promoted, rolled_back) = row
        return cls(
            domain, version, status, base_model, task, parent_domain, parent_version,
            tuple(layers), tuple(groups), tuple(labels or ()), json.loads(config_json), json.loads(metrics_json),
            (data_from, data_to) if data_from is not None else None, Path(path), created, promoted, rolled_back,
        )


@dataclass(frozen=True)
class StagedAdapter:
    """An adapter whose folder is written but whose row is not committed yet."""

    domain: str
    version: str
    path: Path
    info: AdapterInfo
    # What it started from: a committed record, or a staged parent committed in the same transaction.
    parent: AdapterRecord | StagedAdapter | None
    data_window: tuple[int, int] | None
    # sha256 per file of the folder, recorded with the row (tuner.integrity).
    hashes: dict[str, str] = field(default_factory=dict)


def check_version(version: str) -> str:
    if not VERSION_PATTERN.match(version or ""):
        raise ValueError(f"version {version!r} is invalid: expected 'v' and at least 4 digits, e.g. 'v0001'")
    return version


class AdapterRegistry:
    """The adapters of every domain: register, look up, promote, reject, roll back, load."""

    def __init__(self, db: Database | str | Path, root: str | Path) -> None:
        """``db`` may be a path: the registry then opens it for writing (close it with ``registry.db.close()``)."""
        if isinstance(db, (str, Path)):
            db = open_database(db)
        elif not isinstance(db, Database):
            raise TypeError(f"db must be a Database or a path to a database file, got {type(db).__name__}")
        self.db = db
        self.root = Path(root).resolve()

    # -- queries -------------------------------------------------------------------------

    def _select(self, where: str, params: list) -> list[AdapterRecord]:
        rows = self.db.cursor().execute(f"SELECT {_COLUMNS} FROM adapters WHERE {where}", params).fetchall()
        return [AdapterRecord.from_row(row) for row in rows]

    def get(self, domain: str, version: str) -> AdapterRecord:
        found = self._select("domain = ? AND version = ?", [domain, version])
        if not found:
            raise AdapterNotFoundError(f"no adapter {version!r} for domain {domain!r}")
        return found[0]

    def champion(self, domain: str) -> AdapterRecord | None:
        found = self._select("domain = ? AND status = 'champion'", [domain])
        return found[0] if found else None

    def list(self, domain: str | None = None) -> list[AdapterRecord]:
        if domain is None:
            return self._select("true ORDER BY domain, version", [])
        return self._select("domain = ? ORDER BY version", [domain])

    def load(self, base: BaseModel, domain: str, version: str | None = None) -> Adapter:
        """The saved adapter (the domain's champion when ``version`` is None) on ``base``."""
        record = self.get(domain, version) if version else self.champion(domain)
        if record is None:
            raise AdapterNotFoundError(f"domain {domain!r} has no champion adapter")
        return load_adapter(base, record.path)

    # -- writes --------------------------------------------------------------------------

    def _next_version(self, domain: str) -> str:
        versions = [r[0] for r in self.db.cursor().execute("SELECT version FROM adapters WHERE domain = ?", [domain]).fetchall()]
        folder = self.root / domain
        if folder.is_dir():  # a folder whose row never committed still reserves its number
            versions += [p.name for p in folder.iterdir()]
        numbers = [int(m.group(1)) for m in map(VERSION_PATTERN.match, versions) if m]
        return f"v{max(numbers, default=0) + 1:04d}"

    def register(
        self,
        adapter: Adapter,
        *,
        domain: str,
        metrics: Mapping[str, Any] | None = None,
        parent: AdapterRecord | StagedAdapter | None = None,
        data_window: tuple[int, int] | None = None,
    ) -> AdapterRecord:
        """Save ``adapter`` as the domain's next version, status candidate.

        ``metrics`` is any JSON object; top-level numbers are what listings show.
        """
        check_domain_name(domain)
        metrics_json = json.dumps(dict(metrics or {}))
        ensure_domains(self.db, [domain])
        with self.db.write_lock:
            staged = self._stage(adapter, domain, parent, data_window)
            try:
                self._transaction([self._insert(staged, "candidate", metrics_json), *self._hash_rows(staged)])
            except BaseException:
                shutil.rmtree(staged.path, ignore_errors=True)
                raise
        return self.get(domain, staged.version)

    # -- staged writes: files now, rows in the caller's transaction (the cycle) ------------

    def stage(
        self,
        adapter: Adapter,
        *,
        domain: str,
        parent: AdapterRecord | StagedAdapter | None = None,
        data_window: tuple[int, int] | None = None,
        extra_files: Mapping[str, str] | None = None,
    ) -> StagedAdapter:
        """Write the domain's next version folder without a row.

        A cycle stages candidates while it runs and commits their rows (``row_statements``)
        together with its watermark at the end; a folder whose row never committed keeps
        its version number reserved and ``orphan_folders`` finds it. ``extra_files`` go
        into the folder (and its hashes) with the weights.
        """
        check_domain_name(domain)
        with self.db.write_lock:
            return self._stage(adapter, domain, parent, data_window, extra_files)

    def row_statements(
        self, staged: StagedAdapter, *, status: str, metrics: Mapping[str, Any] | None = None
    ) -> list[tuple[str, list]]:
        """The SQL that registers ``staged`` with ``status`` (candidate, champion, rejected or awaiting_review).

        For ``champion`` the current champion is retired first. Run them in one transaction.
        """
        if status not in ("candidate", "champion", "rejected", "awaiting_review"):
            raise ValueError(f"status must be candidate, champion, rejected or awaiting_review for a new row, got {status!r}")
        metrics_json = json.dumps(dict(metrics or {}))
        statements = [("INSERT INTO domains (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [staged.domain])]
        if status == "champion":
            statements.append(
                ("UPDATE adapters SET status = 'retired' WHERE domain = ? AND status = 'champion'", [staged.domain])
            )
        statements.append(self._insert(staged, status, metrics_json))
        return statements + self._hash_rows(staged)

    @staticmethod
    def _hash_rows(staged: StagedAdapter) -> list[tuple[str, list]]:
        return hash_statements(staged.domain, staged.version, staged.hashes)

    def champion_query(self, domain: str) -> tuple[str, list]:
        """SQL answering the domain's champion version: a cycle re-checks it when it commits."""
        return ("SELECT version FROM adapters WHERE domain = ? AND status = 'champion'", [domain])

    def orphan_folders(self) -> list[Path]:
        """Version folders whose row never committed (a cycle killed after staging them)."""
        if not self.root.is_dir():
            return []
        known = {(d, v) for d, v in self.db.cursor().execute("SELECT domain, version FROM adapters").fetchall()}
        return sorted(
            folder
            for domain in self.root.iterdir() if domain.is_dir()
            for folder in domain.iterdir()
            if folder.is_dir() and VERSION_PATTERN.match(folder.name) and (domain.name, folder.name) not in known
        )

    def _stage(
        self, adapter: Adapter, domain: str, parent: AdapterRecord | StagedAdapter | None,
        data_window: tuple[int, int] | None, extra_files: Mapping[str, str] | None = None,
    ) -> StagedAdapter:
        """Reserve the next version and write its folder (the caller holds the write lock)."""
        version = self._next_version(domain)
        folder = self.root / domain / version
        save_adapter(
            adapter,
            folder,
            domain=domain,
            version=version,
            parent_domain=parent.domain if parent else None,
            parent_version=parent.version if parent else None,
            data_window=tuple(data_window) if data_window else None,
            extra_files=extra_files,
        )
        window = tuple(data_window) if data_window else None
        return StagedAdapter(domain, version, folder, adapter.info, parent, window, folder_hashes(folder))

    def _insert(self, staged: StagedAdapter, status: str, metrics_json: str) -> tuple[str, list]:
        """The row's INSERT; a champion row is promoted as it is inserted."""
        info, parent, window = staged.info, staged.parent, staged.data_window
        return (
            f"INSERT INTO adapters ({_COLUMNS.replace(', created_at, promoted_at, rolled_back_at', '')}, promoted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN now() END)",
            [
                staged.domain, staged.version, status, info.base_model, info.task,
                parent.domain if parent else None, parent.version if parent else None,
                list(info.layers), list(info.groups), list(info.labels) or None,
                json.dumps(info.train_config), metrics_json,
                window[0] if window else None, window[1] if window else None,
                str(staged.path), status == "champion",
            ],
        )

    def _transaction(self, statements: list[tuple[str, list]]) -> None:
        with self.db.transaction() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)

    def promote(self, domain: str, version: str) -> AdapterRecord:
        """Make ``version`` the champion; the previous champion becomes retired."""
        with self.db.write_lock:
            record = self.get(domain, version)
            if record.status == "awaiting_review":
                raise RegistryStateError(
                    f"adapter {version!r} of {domain!r} awaits expert review; approve it (adaptune review approve) instead"
                )
            if record.status != "champion":
                self._transaction([
                    ("UPDATE adapters SET status = 'retired' WHERE domain = ? AND status = 'champion'", [domain]),
                    (
                        "UPDATE adapters SET status = 'champion', promoted_at = now(), rolled_back_at = NULL "
                        "WHERE domain = ? AND version = ?",
                        [domain, version],
                    ),
                ])
        return self.get(domain, version)

    def reject(self, domain: str, version: str) -> AdapterRecord:
        """Mark a candidate that failed its gate; champions are rolled back, not rejected."""
        with self.db.write_lock:
            record = self.get(domain, version)
            if record.status == "champion":
                raise RegistryStateError(f"adapter {version!r} of {domain!r} is the champion; roll it back instead")
            self._transaction([("UPDATE adapters SET status = 'rejected' WHERE domain = ? AND version = ?", [domain, version])])
        return self.get(domain, version)

    def set_metrics(self, domain: str, version: str, metrics: Mapping[str, Any]) -> AdapterRecord:
        with self.db.write_lock:
            self.get(domain, version)
            self._transaction([
                ("UPDATE adapters SET metrics_json = ? WHERE domain = ? AND version = ?", [json.dumps(dict(metrics)), domain, version])
            ])
        return self.get(domain, version)

    def rollback(self, domain: str) -> AdapterRecord:
        """Retire the champion and restore the previous one; returns the restored record."""
        with self.db.write_lock:
            current = self.champion(domain)
            if current is None:
                raise RegistryStateError(f"domain {domain!r} has no champion to roll back")
            previous = self._select(
                "domain = ? AND status = 'retired' AND promoted_at IS NOT NULL AND rolled_back_at IS NULL "
                "AND version <> ? ORDER BY promoted_at DESC, version DESC LIMIT 1",
                [domain, current.version],
            )
            if not previous:
                raise RegistryStateError(
                    f"domain {domain!r} has no earlier champion to roll back to from {current.version!r}"
                )
            self._transaction([
                (
                    "UPDATE adapters SET status = 'retired', rolled_back_at = now() WHERE domain = ? AND version = ?",
                    [domain, current.version],
                ),
                (
                    "UPDATE adapters SET status = 'champion', promoted_at = now() WHERE domain = ? AND version = ?",
                    [domain, previous[0].version],
                ),
            ])
        return self.get(domain, previous[0].version)
