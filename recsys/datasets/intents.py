"""Which labeled intent set a folder holds: CLINC150's JSON or CSV files of your own."""

from __future__ import annotations

from pathlib import Path

from recsys.datasets import clinc150, intent_csv
from recsys.datasets.clinc150 import Clinc150


def load_intents(path: str | Path | None = None) -> Clinc150:
    """CLINC150 (``data_full.json``) or an intent set (``train.csv``/``test.csv``) from ``path``.

    None reads CLINC150 where ``clinc150.default_path`` says. Raises FileNotFoundError
    naming both layouts when the folder holds neither.
    """
    folder = Path(path) if path else clinc150.default_path()
    if clinc150.available(folder):
        return clinc150.load(folder)
    if intent_csv.available(folder):
        return intent_csv.load(folder)
    raise FileNotFoundError(
        f"{folder} holds no intent set: expected CLINC150 (data_full.json and domains.json) or train.csv and "
        f"test.csv with text and label columns (val.csv optional); pass --data or set {clinc150.ENV_VAR}"
    )
