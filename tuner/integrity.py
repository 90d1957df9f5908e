"""Adapter files are hashed at registration and checked when serving loads them.

Weights changed on disk after registration (tampering, a bad copy, bit rot) must not be
served silently: the registry records the sha256 of every file of a version folder in
``adapter_file_hashes`` in the same transaction as its row; ``verify_folder`` recomputes
them before the files are read, and a mismatch fails that variant only. Scores that are
not finite are never served (``refuse_non_finite``).
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

from recsys.store import Database
from tuner.serving.errors import AdapterUnavailableError, NonFiniteOutputError

log = logging.getLogger("adaptune.serving")
_CHUNK = 1 << 20


class AdapterIntegrityError(AdapterUnavailableError):
    """An adapter's files differ from the hashes recorded at registration; nothing was loaded."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, keyed by its path relative to the folder."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def hash_statements(domain: str, version: str, hashes: dict[str, str]) -> list[tuple[str, list]]:
    """The INSERTs recording ``hashes``; run them in the transaction that inserts the adapter row."""
    return [
        ("INSERT INTO adapter_file_hashes (domain, version, file, sha256) VALUES (?, ?, ?, ?)", [domain, version, name, digest])
        for name, digest in hashes.items()
    ]


def recorded_hashes(db: Database, domain: str, version: str) -> dict[str, str]:
    rows = db.cursor().execute(
        "SELECT file, sha256 FROM adapter_file_hashes WHERE domain = ? AND version = ?", [domain, version]
    ).fetchall()
    return dict(rows)


def verify_folder(db: Database, domain: str, version: str, folder: Path) -> None:
    """Raise AdapterIntegrityError when a recorded file is missing or its sha256 differs.

    Versions registered before hashes were recorded have none and are not checked.
    """
    recorded = recorded_hashes(db, domain, version)
    if not recorded:
        log.info("adapter %s of %r has no recorded file hashes (registered before integrity checks)", version, domain)
        return
    for name, expected in sorted(recorded.items()):
        path = folder / name
        actual = sha256_file(path) if path.is_file() else None
        if actual != expected:
            log.error("adapter %s of %r: %s at %s %s", version, domain, name, folder, "is missing" if actual is None else "changed")
            problem = "is missing" if actual is None else "does not match the sha256 recorded at registration"
            raise AdapterIntegrityError(
                f"adapter {version} of domain {domain!r} failed its integrity check: {name} {problem}; "
                "it is not served (roll back, or retrain it)"
            )


def refuse_non_finite(predictions: list, adapter_name: str) -> list:
    """``predictions`` unchanged when every score is finite; NonFiniteOutputError otherwise (never NaN scores)."""
    bad = [i for i, p in enumerate(predictions) if not math.isfinite(p.score)]
    if bad:
        log.error("adapter %s produced non-finite scores for rows %s", adapter_name, bad[:10])
        raise NonFiniteOutputError(
            f"variant adapter {adapter_name!r} produced non-finite scores for {len(bad)} of {len(predictions)} inputs; "
            "the answer is withheld (its weights are likely corrupt: roll back or retrain it)"
        )
    return predictions
