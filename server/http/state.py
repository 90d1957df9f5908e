"""What the dashboard shows, read from the store, the registry and the running cycle.

Plain dataclasses out, no HTML here (``pages.py`` renders them). Ranking evidence is
the latest cycle's: the scores, affinity and need its ranking saw for each domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.cycles import CycleRecord, get_cycle, list_cycles
from recsys.domains import DomainRecord, chain, check_domain_name, get_domain, list_domains
from recsys.events.query import interaction_stats
from recsys.store import Database

# How many recent cycles the pages list and search for ranking evidence.
RECENT_CYCLES = 50
IMAGE_SUFFIXES = (".png",)


@dataclass(frozen=True)
class DomainRow:
    record: DomainRecord
    counts: dict[str, int]
    champion: Any | None  # tuner.registry.AdapterRecord
    versions: int
    evidence: dict[str, Any] | None  # one "ranked" row of the latest cycle that ranked

    @property
    def events(self) -> int:
        return sum(self.counts.values())

    @property
    def error_rate(self) -> float:
        return (self.counts.get("negative", 0) + self.counts.get("corrected", 0)) / self.events if self.events else 0.0


@dataclass(frozen=True)
class Overview:
    domains: list[DomainRow]
    ranked_by: str | None  # the cycle whose ranking is shown


@dataclass(frozen=True)
class ChainLink:
    domain: str
    champion: str | None


@dataclass(frozen=True)
class DomainHistory:
    row: DomainRow
    chain: list[ChainLink]
    records: list[Any] = field(default_factory=list)  # newest first


@dataclass(frozen=True)
class Progress:
    running: bool
    cycle_id: str = ""
    stage: str = ""
    domain: str = ""
    step: int = 0
    total_steps: int = 0
    loss: float = 0.0
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def latest_ranking(db: Database) -> tuple[str | None, dict[str, dict[str, Any]]]:
    for record in list_cycles(db, RECENT_CYCLES):
        ranked = record.summary.get("ranked")
        if ranked:
            return record.cycle_id, {row["domain"]: row for row in ranked}
    return None, {}


def overview(db: Database, registry) -> Overview:
    counts = interaction_stats(db).by_domain()
    ranked_by, evidence = latest_ranking(db)
    records = registry.list()
    rows = []
    for domain in list_domains(db):
        mine = [r for r in records if r.domain == domain.name]
        champion = next((r for r in mine if r.status == "champion"), None)
        rows.append(DomainRow(domain, counts.get(domain.name, {}), champion, len(mine), evidence.get(domain.name)))
    return Overview(rows, ranked_by)


def domain_history(db: Database, registry, name: str) -> DomainHistory:
    """LookupError when the domain is unknown; ValueError naming the field when the name is malformed."""
    check_domain_name(name)
    record = get_domain(db, name)
    if record is None:
        raise LookupError(f"domain {name!r} is not known")
    records = sorted(registry.list(name), key=lambda r: (r.created_at, r.version), reverse=True)
    champion = next((r for r in records if r.status == "champion"), None)
    _, evidence = latest_ranking(db)
    row = DomainRow(record, interaction_stats(db, domain=name).by_domain().get(name, {}), champion, len(records),
                    evidence.get(name))
    links = []
    for link in chain(db, name):
        link_champion = registry.champion(link)
        links.append(ChainLink(link, link_champion.version if link_champion else None))
    return DomainHistory(row, links, records)


def recent_cycles(db: Database) -> list[CycleRecord]:
    return list_cycles(db, RECENT_CYCLES)


def cycle(db: Database, cycle_id: str) -> CycleRecord:
    """LookupError when there is no such cycle."""
    return get_cycle(db, cycle_id)


def cycle_images(reports_dir: Path, cycle_id: str) -> list[str]:
    """The report's PNGs, relative to its folder (layers and metrics first, then learning curves)."""
    folder = Path(reports_dir) / cycle_id
    if not folder.is_dir():
        return []
    found = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix in IMAGE_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda rel: (rel.count("/"), rel))


def report_file(reports_dir: Path, cycle_id: str, relative: str) -> Path:
    """A file of a cycle's report folder; LookupError for anything outside it or missing."""
    folder = (Path(reports_dir) / cycle_id).resolve()
    target = (folder / relative).resolve()
    if folder not in target.parents or not target.is_file():
        raise LookupError(f"no report file {relative!r} for cycle {cycle_id!r}")
    return target


def progress(cycles) -> Progress:
    """The running cycle's newest event (or ``running=False``)."""
    handle = cycles.current() if cycles is not None else None
    if handle is None:
        return Progress(False)
    event = handle.latest
    if event is None:
        return Progress(True, handle.cycle_id, "started")
    return Progress(True, handle.cycle_id, event.stage, event.domain, event.step, event.total_steps, event.loss,
                    event.message)
