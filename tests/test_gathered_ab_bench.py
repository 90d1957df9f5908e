"""bench/gathered_ab.py's pure parts: the paired summary, loading the other implementation, bad arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.gathered_ab import load_module, main, paired
from tests.fixtures.cli import refused
from tuner.serving import gathered

ROOT = Path(__file__).resolve().parent.parent


def test_the_summary_pairs_rounds_and_tests_them():
    after, before = [0.62, 0.65, 0.58, 0.70, 0.61, 0.66], [0.55, 0.60, 0.59, 0.52, 0.50, 0.57]
    summary = paired(after, before)
    assert summary["after_median"] == pytest.approx(0.635) and summary["before_median"] == pytest.approx(0.56)
    assert summary["rounds_after_won"] == 5 and summary["rounds"] == 6
    assert summary["median_paired_difference"] == pytest.approx(0.08)
    assert 0 < summary["wilcoxon_p"] < 0.1
    assert paired([0.5, 0.6], [0.5, 0.6])["wilcoxon_p"] == 1.0  # identical rounds: no evidence either way


def test_the_other_implementation_loads_as_a_module_of_its_own():
    before = load_module(ROOT / "tuner" / "serving" / "gathered.py")
    assert before.GatheredLora is not gathered.GatheredLora and before.__name__ == "gathered_before"


@pytest.mark.parametrize("argv, message", [
    (["--before", "no/such/file.py", "--device", "cpu"], "--before no/such/file.py: no such file"),
    (["--before", "tuner/serving/gathered.py", "--device", "cpu", "--rounds", "1"], "--rounds must be at least 2"),
])
def test_bad_arguments_are_refused_before_anything_runs(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "ab.json"
    assert message in refused(main, argv + ["--out", str(out)], out, capsys)
