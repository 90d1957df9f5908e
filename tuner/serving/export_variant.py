"""Export a registered variant (merged or int8) and check it against the unmerged variant.

The variant is the domain's adapter version (its champion by default) on the base model
it was trained for. The export is evaluated on held-out examples: agreement with the
unmerged variant, both accuracies, the largest logit difference; the report is saved in
the export folder (``export_report.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tuner.adapters import load_adapter
from tuner.config import DEFAULT_MAX_LENGTH
from tuner.data import Example
from tuner.errors import AdapterNotFoundError
from tuner.loading import load_base
from tuner.registry import AdapterRecord, AdapterRegistry
from tuner.serving.compare import AgreementReport, compare
from tuner.serving.export import ExportInfo, adapter_runner, load_export, merged_copy, write_export
from tuner.serving.quantize import QUANTIZATION
from tuner.serving.types import AdapterRef
from tuner.serving.variants import variant_id

REPORT_FILE = "export_report.json"
EXPORT_KINDS = ("merged", "int8")


@dataclass(frozen=True)
class ExportOutcome:
    folder: Path
    info: ExportInfo
    report: AgreementReport
    record: AdapterRecord

    def to_json(self) -> dict:
        return {"folder": str(self.folder), "info": self.info.to_json(), "report": self.report.to_json()}


def lineage(registry: AdapterRegistry, record: AdapterRecord) -> list[AdapterRecord]:
    """The adapter and the parents it was warm-started from, root first."""
    chain = [record]
    seen = {(record.domain, record.version)}
    while chain[0].parent_domain and chain[0].parent_version:
        key = (chain[0].parent_domain, chain[0].parent_version)
        if key in seen:
            break
        seen.add(key)
        try:
            chain.insert(0, registry.get(*key))
        except AdapterNotFoundError:
            break
    return chain


def find_record(registry: AdapterRegistry, domain: str, version: str | None = None) -> AdapterRecord:
    """The domain's adapter ``version``, or its champion; AdapterNotFoundError names what is missing."""
    record = registry.get(domain, version) if version else registry.champion(domain)
    if record is None:
        raise AdapterNotFoundError(f"domain {domain!r} has no champion adapter; pass --version to export another one")
    return record


def export_variant(
    registry: AdapterRegistry,
    domain: str,
    out: str | Path,
    *,
    kind: str,
    examples: Sequence[Example],
    version: str | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = 32,
    device: str = "auto",
) -> ExportOutcome:
    """Write the export to ``out`` and compare it with the unmerged variant on ``examples``.

    Everything is checked before anything is written: the kind, that ``out`` does not
    exist, that there are examples, and that the adapter exists (AdapterNotFoundError).
    The merge and the unmerged reference run on ``device``; the export itself is a CPU
    artifact (float32 or int8), written and compared from the CPU.
    """
    if kind not in EXPORT_KINDS:
        raise ValueError(f"kind must be one of {list(EXPORT_KINDS)}, got {kind!r}")
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"export folder {str(out)!r} already exists")
    if not examples:
        raise ValueError(f"no examples to evaluate the export of domain {domain!r} on")
    record = find_record(registry, domain, version)
    base = load_base(record.base_model, record.task, device=device)
    adapter = load_adapter(base, record.path)
    refs = tuple(AdapterRef(r.domain, r.version) for r in lineage(registry, record))
    info = ExportInfo(
        kind=kind,
        task=base.task,
        family=base.family,
        pooling=base.pooling,
        labels=adapter.labels,
        source_base_model=base.name,
        domain=record.domain,
        version=record.version,
        lineage=tuple(ref.key for ref in refs),
        variant_id=variant_id(base.name, base.task, refs),
        quantization=QUANTIZATION if kind == "int8" else None,
    )
    write_export(out, merged_copy(base, adapter).cpu(), base, adapter.head, info, int8=kind == "int8")
    exported = load_export(out)
    texts = [e.text for e in examples]
    gold = [e.target for e in examples]
    report = compare(
        adapter_runner(base, adapter, max_length=max_length, batch_size=batch_size),
        exported.runner(max_length=max_length, batch_size=batch_size),
        texts,
        gold,
    )
    (out / REPORT_FILE).write_text(json.dumps(report.to_json(), indent=1))
    return ExportOutcome(out, info, report, record)
