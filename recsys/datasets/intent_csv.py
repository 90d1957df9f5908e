"""A labeled intent set of your own, as CSV files, read in place like CLINC150.

The benchmarks replay CLINC150; a team deciding whether the loop keeps improving on its
own traffic wants the same measurement on its own labeled queries. A folder holds
``train.csv`` and ``test.csv`` (``val.csv`` optional), each with a header naming a text
column (``text``, ``query``, ``utterance`` or ``sentence``) and a label column
(``label``, ``intent`` or ``category``): the layout BANKING77, HWU64 and most intent sets
publish. Without ``val.csv`` a stratified ``val_share`` of each label's training rows
becomes the validation split, chosen by a hash of the text so a rerun picks the same
rows. Every label is one domain named after the folder; the benchmark draws its own.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

from recsys.datasets.clinc150 import Clinc150, LabeledText

TEXT_COLUMNS = ("text", "query", "utterance", "sentence")
LABEL_COLUMNS = ("label", "intent", "category")
DEFAULT_VAL_SHARE = 0.1


class IntentCsvError(ValueError):
    """The folder is not a readable intent set; the message names the file, line and column."""


def available(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "train.csv").is_file() and (folder / "test.csv").is_file()


def load(folder: str | Path, val_share: float = DEFAULT_VAL_SHARE) -> Clinc150:
    """The folder's splits; raises IntentCsvError naming what is missing or malformed."""
    folder = Path(folder)
    if not available(folder):
        raise IntentCsvError(f"{folder} holds no intent set: expected train.csv and test.csv (val.csv optional)")
    if not 0.0 < val_share < 1.0:
        raise IntentCsvError(f"val_share must be in (0, 1), got {val_share!r}")
    domain = _domain_name(folder)
    train = _read(folder / "train.csv", domain)
    test = _read(folder / "test.csv", domain)
    if (folder / "val.csv").is_file():
        val = _read(folder / "val.csv", domain)
    else:
        train, val = _hold_out(train, val_share)
    known = {row.intent for row in train}
    unknown = sorted({row.intent for row in [*val, *test]} - known)
    if unknown:
        raise IntentCsvError(f"{folder}: labels with no training row: {unknown[:10]}")
    return Clinc150(domains={domain: sorted(known)}, train=train, val=val, test=test)


def _domain_name(folder: Path) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", folder.resolve().name.lower()).strip("_")
    return name or "intents"


def _read(path: Path, domain: str) -> list[LabeledText]:
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        text_column = next((name for name in TEXT_COLUMNS if name in header), None)
        label_column = next((name for name in LABEL_COLUMNS if name in header), None)
        if text_column is None or label_column is None:
            raise IntentCsvError(
                f"{path}: header {header} needs a text column (one of {list(TEXT_COLUMNS)}) and a label column "
                f"(one of {list(LABEL_COLUMNS)})"
            )
        reader.fieldnames = header
        rows = []
        for line, record in enumerate(reader, start=2):
            text, label = (record.get(text_column) or "").strip(), (record.get(label_column) or "").strip()
            if not text or not label:
                column = text_column if not text else label_column
                raise IntentCsvError(f"{path}, line {line}: column {column!r} is empty")
            rows.append(LabeledText(text, label, domain))
    if not rows:
        raise IntentCsvError(f"{path} has a header but no rows")
    return rows


def _hold_out(rows: list[LabeledText], share: float) -> tuple[list[LabeledText], list[LabeledText]]:
    """(train, val): of each label with two or more rows, the ``share`` whose text hashes lowest."""
    by_label: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_label.setdefault(row.intent, []).append(index)
    held: set[int] = set()
    for indices in by_label.values():
        count = min(len(indices) - 1, round(len(indices) * share))
        ranked = sorted(indices, key=lambda i: (hashlib.sha1(rows[i].text.encode()).hexdigest(), i))
        held.update(ranked[:count])
    train = [row for i, row in enumerate(rows) if i not in held]
    val = [row for i, row in enumerate(rows) if i in held]
    return train, val
