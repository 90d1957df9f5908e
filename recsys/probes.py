"""Layer-probe observations in the ``probes`` table: written in one batch, read back aggregated.

The tuner measures gradient norms per (layer, module group) on a domain's
recent corrected examples; this module is where those numbers live so ranking
can read them without importing torch.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass

from recsys.domains import check_domain_name
from recsys.store import Database, accepts_path

# Mirrors tuner.architectures.MODULE_GROUPS (recsys may not import tuner); "all" is a
# probe over a whole block. A test keeps the two in step.
MODULE_GROUPS = ("attention", "mlp", "all")
_BASE_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/:]{0,199}$")


class ProbeError(ValueError):
    """An observation is invalid; the message names the field, the value and its index."""


@dataclass(frozen=True)
class ProbeRecord:
    domain: str
    base_model: str
    layer: int
    module_group: str
    grad_norm: float
    n_examples: int
    probe_id: str
    cycle_id: str | None = None


def new_probe_id() -> str:
    """One id per probe run: every (layer, group) observation of a run shares it."""
    return f"probe-{uuid.uuid4().hex[:16]}"


def check_base_model(base_model: str, field: str = "base_model") -> str:
    if not isinstance(base_model, str) or not _BASE_MODEL.match(base_model):
        raise ProbeError(f"{field} {base_model!r} is invalid: 1-200 letters, digits or '_ . - / :'")
    return base_model


def _check(record: ProbeRecord, index: int) -> None:
    where = f"probe observation {index}"
    try:
        check_domain_name(record.domain)
    except ValueError as error:
        raise ProbeError(f"{where}: {error}") from None
    check_base_model(record.base_model, field=f"{where}: base_model")
    if not isinstance(record.layer, int) or isinstance(record.layer, bool) or record.layer < 0:
        raise ProbeError(f"{where}: layer must be an int >= 0, got {record.layer!r}")
    if record.module_group not in MODULE_GROUPS:
        raise ProbeError(f"{where}: module_group must be one of {list(MODULE_GROUPS)}, got {record.module_group!r}")
    if not isinstance(record.grad_norm, (int, float)) or not math.isfinite(record.grad_norm) or record.grad_norm < 0:
        raise ProbeError(f"{where}: grad_norm must be a finite number >= 0, got {record.grad_norm!r}")
    if not isinstance(record.n_examples, int) or record.n_examples < 1:
        raise ProbeError(f"{where}: n_examples must be an int >= 1, got {record.n_examples!r}")
    if not record.probe_id or not isinstance(record.probe_id, str):
        raise ProbeError(f"{where}: probe_id must be a non-empty string, got {record.probe_id!r}")


def write_probes(db: Database, records: list[ProbeRecord]) -> int:
    """Store observations in one transaction; any invalid one refuses the whole batch."""
    for index, record in enumerate(records):
        _check(record, index)
    if not records:
        return 0
    if db.read_only:
        raise PermissionError(f"database {db.path} is open read-only; only the server process writes probes")
    rows = [
        [r.probe_id, r.domain, r.base_model, r.layer, r.module_group, float(r.grad_norm), r.n_examples, r.cycle_id]
        for r in records
    ]
    with db.write_lock, db.transaction() as cursor:
        cursor.executemany(
            "INSERT INTO probes (probe_id, domain, base_model, layer, module_group, grad_norm, n_examples,"
            " cycle_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


@accepts_path(read_only=True)
def read_probes(db: Database, base_model: str, domains: list[str] | None = None) -> list[ProbeRecord]:
    """Raw observations for one base model (optionally some domains), oldest first."""
    check_base_model(base_model)
    rows = (
        db.cursor()
        .execute(
            "SELECT domain, base_model, layer, module_group, grad_norm, n_examples, probe_id, cycle_id FROM probes"
            " WHERE base_model = ? AND (CAST(? AS VARCHAR[]) IS NULL OR list_contains(CAST(? AS VARCHAR[]), domain))"
            " ORDER BY created_at, probe_id, layer, module_group",
            [base_model, domains, domains],
        )
        .fetchall()
    )
    return [ProbeRecord(*row) for row in rows]


@dataclass(frozen=True)
class ProbeSummary:
    """Per (domain, layer, module group): mean share of its probe's total gradient norm.

    Each probe is normalised by its own total first, so a probe on a batch with a
    large loss does not outweigh the others.
    """

    domain: str
    layer: int
    module_group: str
    share: float
    probes: int


_SUMMARY_SQL = """
WITH normalised AS (
    SELECT domain, layer, module_group, probe_id,
           grad_norm / nullif(sum(grad_norm) OVER (PARTITION BY probe_id, domain), 0) AS share
    FROM probes WHERE base_model = ?
)
SELECT domain, layer, module_group, avg(coalesce(share, 0.0)) AS share, count(DISTINCT probe_id) AS probes
FROM normalised
GROUP BY domain, layer, module_group
ORDER BY domain, layer, module_group
"""


@accepts_path(read_only=True)
def summarize_probes(db: Database, base_model: str) -> list[ProbeSummary]:
    """Aggregated in SQL: one row per (domain, layer, module group) of this base model."""
    check_base_model(base_model)
    rows = db.cursor().execute(_SUMMARY_SQL, [base_model]).fetchall()
    return [ProbeSummary(str(d), int(layer), str(g), float(s), int(n)) for d, layer, g, s, n in rows]


def probe_counts(db: Database, base_model: str) -> dict[str, int]:
    """Distinct probe runs per domain for this base model."""
    check_base_model(base_model)
    rows = (
        db.cursor()
        .execute("SELECT domain, count(DISTINCT probe_id) FROM probes WHERE base_model = ? GROUP BY domain", [base_model])
        .fetchall()
    )
    return {str(domain): int(count) for domain, count in rows}


@accepts_path(read_only=True)
def probed_base_models(db: Database) -> list[str]:
    """Base models with probes, the most observed first (the default for ranking layers)."""
    rows = (
        db.cursor()
        .execute("SELECT base_model FROM probes GROUP BY base_model ORDER BY count(*) DESC, base_model")
        .fetchall()
    )
    return [str(row[0]) for row in rows]
