"""The shipped ``examples/``: the example traffic as JSONL (not CLINC150 data) and a valid cycle config."""

from __future__ import annotations

from pathlib import Path

from recsys.datasets.examples import example_interactions
from recsys.events.files import read_jsonl
from tuner.cycle.config import CycleConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_events_jsonl_is_the_example_traffic_read_back_exactly():
    numbered = list(read_jsonl((EXAMPLES / "events.jsonl").read_text().splitlines()))
    assert [n for n, _ in numbered] == list(range(1, 361))
    assert [event for _, event in numbered] == example_interactions(360, seed=0)


def test_the_last_third_gives_every_domain_enough_new_examples_for_a_second_cycle():
    """README logs the first 240 lines, cycles, then the whole file: the second cycle needs new examples."""
    config = CycleConfig.from_file(EXAMPLES / "cycle.json")
    later = [event for _, event in read_jsonl((EXAMPLES / "events.jsonl").read_text().splitlines())][240:]
    for domain in ("legal", "contracts"):
        assert sum(1 for e in later if e.domain == domain and e.label) >= config.min_examples
