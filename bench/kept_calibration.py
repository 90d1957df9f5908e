"""How often was a kept candidate in fact better? The committed days results, read again.

Every row of a ``bench/days.py`` result whose candidate the gate kept out carries the
candidate's accuracy on the benchmark's own held-out queries (CLINC150's test set, 30
per intent: ``kept_candidate_accuracy``) beside the champion's (``accuracy``), and the
gate's paired counts on its rows (``gate_paired``: wins, losses). So the results already
say, for each kept candidate, what the gate saw and what a large independent test saw.
This reads them all (a row repeated across files counts once), leaves out long-tail
traffic (its gate rows follow the traffic, the test does not), and asks for a range of
sign-test levels: of the kept candidates ahead on the gate's rows with p at or under the
level, how many were better, level or worse on the test?

    .venv/bin/python bench/kept_calibration.py            # bench/results, prints and writes JSON

Writes ``bench/results/kept_calibration.json``. The rows are not independent runs (many
are ablations of the same domains), and most kept candidates continued the champion:
read it as evidence about the gate's threshold, not as a rate with an error bar.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tuner.cycle.paired import sign_test  # noqa: E402 - the gate's own test, after the path is set

RESULTS = ROOT / "bench" / "results"
LEVELS = (0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 1.0)
_GAIN = re.compile(r"gain ([+-][0-9.]+)")


@dataclass(frozen=True)
class Kept:
    """One kept candidate: the gate's view (gain, wins, losses) and the test's (delta)."""

    gain: float
    wins: int
    losses: int
    # Its accuracy minus the champion's on the benchmark's held-out queries.
    delta: float
    file: str

    @property
    def p_value(self) -> float:
        """One-sided exact sign test of "the candidate is better" on the gate's rows (the gate's own)."""
        return sign_test(self.wins, self.losses)


def day_tables(data) -> Iterator[dict]:
    """Every object with day rows in a result file (splits, runs, arms), however nested."""
    if isinstance(data, dict):
        rows = data.get("rows")
        if isinstance(rows, list) and rows and isinstance(rows[0], dict) and "day" in rows[0]:
            yield data
        for key, value in data.items():
            if key != "rows":
                yield from day_tables(value)
    elif isinstance(data, list):
        for value in data:
            yield from day_tables(value)


def long_tail(table: dict, data: dict) -> bool:
    return bool(table.get("tail_ratio") or data.get("tail_ratio")) or "tail" in str(table.get("label", "")).lower()


def kept_rows(files: Iterable[Path]) -> list[Kept]:
    """The kept candidates with paired counts, each (gain, counts, accuracies) once."""
    seen: dict[tuple, Kept] = {}
    for path in files:
        data = json.loads(path.read_text())
        for table in day_tables(data):
            if long_tail(table, data):
                continue
            for row in table["rows"]:
                kept, paired = row.get("kept_candidate_accuracy"), row.get("gate_paired") or {}
                gain = _GAIN.search(row.get("decision") or "")
                if kept is None or gain is None or not isinstance(paired.get("wins"), int):
                    continue
                key = (round(float(gain.group(1)), 4), paired["wins"], paired["losses"], round(row["accuracy"], 4),
                       round(kept, 4))
                seen.setdefault(key, Kept(float(gain.group(1)), paired["wins"], paired["losses"],
                                          kept - row["accuracy"], path.name))
    return list(seen.values())


def at_level(rows: list[Kept], level: float) -> dict:
    """What a gate at ``level`` would have promoted among ``rows``: ahead, p <= level."""
    chosen = [r for r in rows if r.gain > 0 and r.p_value <= level]
    deltas = [r.delta for r in chosen]
    return {
        "level": level, "promoted": len(chosen), "of": len(rows),
        "better": sum(d > 0 for d in deltas), "level_on_test": sum(d == 0 for d in deltas),
        "worse": sum(d < 0 for d in deltas), "worst": min(deltas) if deltas else None,
        "mean_delta": mean(deltas) if deltas else None,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of days*.json (and gpu/days*.json)")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS/kept_calibration.json")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        parser.error(f"--results {args.results} is not a folder")
    files = sorted(args.results.glob("days*.json")) + sorted(args.results.glob("gpu/days*.json"))
    rows = kept_rows(files)
    if not rows:
        parser.error(f"no kept candidate with paired counts in {len(files)} days result files under {args.results}")
    levels = [at_level(rows, level) for level in LEVELS]
    print(f"{len(rows)} kept candidates (uniform traffic) in {len(files)} files")
    print("level   promoted  better  level  worse  worst    mean change on the test")
    for line in levels:
        worst = f"{line['worst']:+.4f}" if line["worst"] is not None else "-"
        change = f"{line['mean_delta']:+.4f}" if line["mean_delta"] is not None else "-"
        print(f"{line['level']:<7g} {line['promoted']:>8} {line['better']:>7} {line['level_on_test']:>6} "
              f"{line['worse']:>6}  {worst:>7}  {change}")
    out = args.out or args.results / "kept_calibration.json"
    out.write_text(json.dumps({"benchmark": "kept_calibration", "files": [str(f.relative_to(args.results)) for f in files],
                               "kept": len(rows), "levels": levels, "rows": [asdict(r) for r in rows]}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
