"""What an adapter answered on its domain's held-out rows, kept in its folder.

The gate compares candidate and champion on every held-out row of the domain's history
(so forgetting is caught), and those rows grow every night. The candidate has to be
evaluated on all of them; the champion does not: its folder is immutable, so its answer
to a row it was already evaluated on cannot change. A candidate's answers are written
into its folder when it is staged (before its file hashes are taken), and when it is the
champion a later gate runs it only on the held-out rows that arrived since. The gate's
cost for the champion then follows the new rows, not the log.

The answers are kept for classification only, and only reused for the same base model
and input length; anything else (a missing or unreadable file included) means
"evaluate everything", never an error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Mapping, Sequence

from tuner.adapters import Adapter
from tuner.data import Example
from tuner.evaluation import Metrics, evaluate
from tuner.loading import BaseModel

FILE = "heldout_predictions.json"

log = logging.getLogger("adaptune.cycle")


def predictions_json(base_model: str, max_length: int, rows: Sequence[Example], predictions: Sequence[str]) -> str:
    """The file's text: each held-out row's event id and the label predicted for it."""
    answers = {row.event_id: label for row, label in zip(rows, predictions, strict=True) if row.event_id}
    return json.dumps({"base_model": base_model, "max_length": max_length, "predictions": answers})


def remembered_predictions(folder: Path | None, base_model: str, max_length: int) -> dict[str, str]:
    """The labels an adapter's folder remembers, by event id ({} when none can be trusted)."""
    if folder is None:
        return {}
    path = Path(folder) / FILE
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text())
        answers = saved["predictions"]
        same = saved["base_model"] == base_model and saved["max_length"] == max_length
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring %s (%s): the champion is evaluated on every held-out row", path, error)
        return {}
    if not same or not isinstance(answers, Mapping):
        return {}
    return {str(k): str(v) for k, v in answers.items()}


def evaluate_remembering(
    base: BaseModel, rows: Sequence[Example], adapter: Adapter, known: Mapping[str, str] | None, **options
) -> tuple[Metrics, int]:
    """``adapter`` evaluated on ``rows``, its remembered answers reused (classification only),
    and how many rows were reused; ``options`` go to ``tuner.evaluation.evaluate``."""
    known = known if base.task == "classification" else None
    reused = sum(bool(e.event_id) and e.event_id in known for e in rows) if known else 0
    return evaluate(base, rows, adapter, remembered=known, **options), reused
