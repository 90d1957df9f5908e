"""bench/kept_calibration.py: kept candidates read back from days results, counted per sign-test level."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from bench.kept_calibration import Kept, at_level, main
from tests.fixtures.cli import refused


def day(n: int, accuracy: float, kept: float | None = None, gain: float = 0.0, wins: int = 0, losses: int = 0) -> dict:
    row = {"day": n, "accuracy": accuracy, "decision": f"v000{n} keep (gain {gain:+.4f}); ran all 10 steps"}
    if kept is not None:
        row |= {"kept_candidate_accuracy": kept, "gate_paired": {"wins": wins, "losses": losses, "p_value": 0.0}}
    return row


def write_results(folder, name: str, data: dict) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(data))


def test_kept_rows_are_read_once_long_tail_left_out_and_counted_per_level(tmp_path, capsys):
    results = tmp_path / "results"
    uniform = {"splits": [{"intents_seed": 0, "rows": [
        day(0, 0.80),
        day(1, 0.90, kept=0.91, gain=0.007, wins=8, losses=3),   # p 0.113: promoted at 0.2, better on the test
        day(2, 0.90, kept=0.89, gain=0.002, wins=6, losses=5),   # p 0.5: only at 0.5, worse on the test
        day(3, 0.90, kept=0.92, gain=-0.003, wins=2, losses=4),  # behind on the gate's rows: never promoted
    ]}]}
    write_results(results, "days.json", uniform)
    write_results(results, "days_again.json", {"runs": [uniform["splits"][0]]})  # the same rows in another file
    tail = {"tail_ratio": 5.0, "rows": [day(1, 0.9, kept=0.8, gain=0.009, wins=9, losses=1)]}
    write_results(results, "days_tail.json", {"runs": [tail]})
    out = tmp_path / "calibration.json"

    assert main(["--results", str(results), "--out", str(out)]) == 0

    written = json.loads(out.read_text())
    assert written["kept"] == 3  # three kept rows, once each; the long-tail one left out
    levels = {line["level"]: line for line in written["levels"]}
    assert (levels[0.05]["promoted"], levels[0.2]["promoted"], levels[0.5]["promoted"]) == (0, 1, 2)
    assert levels[0.2]["better"] == 1 and levels[0.2]["worse"] == 0
    assert levels[0.5]["worse"] == 1 and levels[0.5]["worst"] == pytest.approx(-0.01)
    assert "3 kept candidates (uniform traffic) in 3 files" in capsys.readouterr().out


def test_the_p_value_is_the_one_sided_sign_test_and_a_level_needs_a_gain():
    row = Kept(gain=0.007, wins=8, losses=3, delta=0.01, file="x")
    assert row.p_value == pytest.approx(binomtest(8, 11, 0.5, alternative="greater").pvalue)
    assert Kept(gain=0.0, wins=0, losses=0, delta=0.0, file="x").p_value == 1.0
    behind = Kept(gain=-0.001, wins=5, losses=6, delta=0.02, file="x")
    assert at_level([behind], 1.0)["promoted"] == 0


def test_a_folder_without_kept_candidates_is_refused(tmp_path, capsys):
    results = tmp_path / "results"
    write_results(results, "days.json", {"rows": [day(0, 0.8), day(1, 0.9)]})
    out = tmp_path / "calibration.json"
    assert "no kept candidate with paired counts in 1 days result files" in refused(
        main, ["--results", str(results), "--out", str(out)], out, capsys)
    assert "is not a folder" in refused(main, ["--results", str(tmp_path / "nowhere"), "--out", str(out)], out, capsys)
