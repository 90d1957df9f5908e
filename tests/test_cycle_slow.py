"""A cycle on the embedded MiniLM and the project's example traffic (slow: a real model trains)."""

from __future__ import annotations

import pytest

from recsys.datasets.examples import EXAMPLE_DOMAINS, example_interactions
from recsys.domains import upsert_domain
from recsys.events.log import append_interactions
from recsys.store import open_database
from tuner.cycle.config import CycleConfig
from tuner.cycle.running import Workspace, run_cycle
from tuner.loading import load_base
from tuner.registry import AdapterRegistry

pytestmark = pytest.mark.slow


def test_a_cycle_on_minilm_promotes_where_the_base_model_errs(tmp_path):
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        for record in EXAMPLE_DOMAINS:
            upsert_domain(db, record)
        append_interactions(db, example_interactions(360))
        ws = Workspace(db, AdapterRegistry(db, tmp_path / "adapters"), load_base("minilm-l6", "classification"),
                       tmp_path / "reports")
        result = run_cycle(ws, CycleConfig(max_domains=2))
    finally:
        db.close()
    ranked = [r["domain"] for r in result.summary["ranked"]]
    assert ranked[0] == "contracts"  # the hardest domain of the example traffic
    assert ranked[1] == "legal"
    # contracts is legal's child: the parent trains first and the child starts from it.
    assert [o.domain for o in result.outcomes] == ["legal", "contracts"]
    legal, contracts = result.outcomes
    assert legal.gate.promote and contracts.warm_start == f"legal/{legal.staged.version}"
    assert result.promoted(), result.summary["domains"]
    for outcome in result.promoted():
        assert outcome.gate.candidate["accuracy"] > outcome.gate.reference["accuracy"]
        assert max(outcome.plan.layers) == 5 and len(outcome.plan.layers) < 6  # top layers under the budget
    assert (result.report.parent / "metrics.png").is_file()
