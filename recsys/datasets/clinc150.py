"""CLINC150 read in place (never copied into the project).

150 intents in 10 domains; the project builds simulated product traffic from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "ADAPTUNE_CLINC150"


@dataclass(frozen=True)
class LabeledText:
    text: str
    intent: str
    domain: str


@dataclass(frozen=True)
class Clinc150:
    domains: dict[str, list[str]]
    train: list[LabeledText]
    val: list[LabeledText]
    test: list[LabeledText]

    def domain_of(self, intent: str) -> str:
        for domain, intents in self.domains.items():
            if intent in intents:
                return domain
        raise KeyError(intent)


def default_path() -> Path:
    """$ADAPTUNE_CLINC150, else ../shared/data/clinc150 beside the project checkout."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    project = Path(__file__).resolve().parents[2]
    return project.parent / "shared" / "data" / "clinc150"


def available(path: str | Path | None = None) -> bool:
    folder = Path(path) if path else default_path()
    return (folder / "data_full.json").is_file() and (folder / "domains.json").is_file()


def load(path: str | Path | None = None) -> Clinc150:
    """Load the in-scope splits; raises FileNotFoundError naming the folder when absent."""
    folder = Path(path) if path else default_path()
    if not available(folder):
        raise FileNotFoundError(
            f"CLINC150 not found in {folder} (expected data_full.json and domains.json); "
            f"pass --data or set {ENV_VAR}"
        )
    domains = json.loads((folder / "domains.json").read_text())
    intent_domain = {intent: domain for domain, intents in domains.items() for intent in intents}
    raw = json.loads((folder / "data_full.json").read_text())

    def rows(split: str) -> list[LabeledText]:
        return [LabeledText(text, intent, intent_domain[intent]) for text, intent in raw[split]]

    return Clinc150(domains=domains, train=rows("train"), val=rows("val"), test=rows("test"))
