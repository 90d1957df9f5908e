"""CLINC150 as longer messages: each query behind a greeting or some context, written as CSV.

CLINC150's queries are short (11 tokens on average, at most 33), so a cut of the input to
32 tokens never showed on it; chat and e-mail messages often open with a greeting or a
story before the question. This writes CLINC150's splits as ``train.csv``, ``val.csv``
and ``test.csv`` (``text``, ``label``) with one of a fixed set of openings (none for a
quarter of the queries) before each query, chosen by a hash of the query so every run
writes the same files, for ``bench/days.py --data FOLDER``:

    .venv/bin/python bench/long_messages.py --out /tmp/clinc_long
    .venv/bin/python bench/days.py --data /tmp/clinc_long --intents 77 --per-day 2500 --days 3

The openings are written here, not drawn from real traffic: they show what a cut does to
a message whose question comes late, not how often real messages look like this.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.datasets import clinc150  # noqa: E402

OPENINGS = (
    "",
    "Hi there, I hope you are doing well today.",
    "Good morning! I have been using this assistant for a couple of years now and I have never had to ask about this before, so",
    "Hello, sorry to bother you again. I tried to work this out on my own last night and could not manage it, so here goes:",
    "Hey, quick question before I head out to work this morning.",
    "Hi, my name is Sam and I am writing on behalf of my father, who asked me to help him with something he could not figure out.",
    "Dear support team, thank you for getting back to me so quickly the last time, I really appreciated it. I have another one:",
    "Okay so this might be a silly question and my friend told me I should just ask you directly instead of searching online,",
)


def opening_for(text: str) -> str:
    """The same opening for the same query on every run; none for about a quarter of them."""
    digest = hashlib.sha256(text.encode()).digest()
    if digest[0] % 4 == 0:
        return ""
    return OPENINGS[1 + digest[1] % (len(OPENINGS) - 1)]


def message(text: str) -> str:
    opening = opening_for(text)
    return f"{opening} {text}" if opening else text


def write_split(rows, path: Path) -> int:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for row in rows:
            writer.writerow([message(row.text), row.intent])
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clinc", default=None, help="CLINC150 folder (default: $ADAPTUNE_CLINC150 or ../shared/data/clinc150)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write train.csv, val.csv and test.csv into")
    args = parser.parse_args(argv)
    data = clinc150.load(args.clinc)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", data.train), ("val", data.val), ("test", data.test)):
        count = write_split(rows, args.out / f"{name}.csv")
        print(f"{args.out / (name + '.csv')}: {count} messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
