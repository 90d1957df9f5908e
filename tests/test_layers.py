"""Probe storage, the CF-completed layer importance matrix and the budgeted layer selector."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from recsys.layers import (
    LayerCostModel,
    NoProbesError,
    build_layer_importance,
    select_layers,
)
from recsys.probes import (
    MODULE_GROUPS,
    ProbeError,
    ProbeRecord,
    probe_counts,
    probed_base_models,
    read_probes,
    summarize_probes,
    write_probes,
)
from recsys.ranking import DomainRanker
from recsys.store import open_database
from tests.ranking_logs import insert_events, segment_log

BASE = "tiny-llama"
LAYERS = 6


def probe(domain: str, profile: list[float], probe_id: str, base: str = BASE) -> list[ProbeRecord]:
    """One probe run: attention follows ``profile`` per layer, mlp half of it."""
    return [
        ProbeRecord(domain, base, layer, group, value * (1.0 if group == "attention" else 0.5), 8, probe_id)
        for layer, value in enumerate(profile)
        for group in ("attention", "mlp")
    ]


TOP_HEAVY = [0.1, 0.1, 0.2, 0.3, 0.8, 1.0]
BOTTOM_HEAVY = list(reversed(TOP_HEAVY))


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "probes.duckdb")
    yield database
    database.close()


def test_write_read_round_trip_and_counts(db):
    records = probe("banking", TOP_HEAVY, "p1") + probe("banking", TOP_HEAVY, "p2") + probe("kitchen", BOTTOM_HEAVY, "p3")
    assert write_probes(db, records) == len(records)
    assert sorted(read_probes(db, BASE), key=repr) == sorted(records, key=repr)
    assert {r.probe_id for r in read_probes(db, BASE, domains=["kitchen"])} == {"p3"}
    assert probe_counts(db, BASE) == {"banking": 2, "kitchen": 1}
    write_probes(db, probe("banking", TOP_HEAVY, "p4", base="other"))
    assert probed_base_models(db) == [BASE, "other"]


def test_summary_normalises_each_probe_by_its_total(db):
    loud = [ProbeRecord(r.domain, r.base_model, r.layer, r.module_group, r.grad_norm * 1000, 8, "loud")
            for r in probe("banking", TOP_HEAVY, "x")]
    write_probes(db, probe("banking", TOP_HEAVY, "quiet") + loud)
    summary = summarize_probes(db, BASE)
    total = sum(v * 1.5 for v in TOP_HEAVY)
    top = next(s for s in summary if (s.layer, s.module_group) == (5, "attention"))
    assert top.share == pytest.approx(1.0 / total) and top.probes == 2
    assert sum(s.share for s in summary) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"domain": "Bad Name"}, "domain"),
        ({"base_model": ""}, "base_model"),
        ({"layer": -1}, "layer"),
        ({"module_group": "embeddings"}, "module_group"),
        ({"grad_norm": float("nan")}, "grad_norm"),
        ({"grad_norm": -1.0}, "grad_norm"),
        ({"n_examples": 0}, "n_examples"),
        ({"probe_id": ""}, "probe_id"),
    ],
)
def test_an_invalid_observation_refuses_the_whole_batch(db, change, field):
    good = probe("banking", TOP_HEAVY, "p1")
    bad = ProbeRecord(**{**good[3].__dict__, **change})
    with pytest.raises(ProbeError, match=rf"observation 3: {field}|observation 3: .*{field}"):
        write_probes(db, good[:3] + [bad] + good[4:])
    assert read_probes(db, BASE) == []


def test_module_groups_cover_the_tuners():
    from tuner.architectures import MODULE_GROUPS as TUNER_GROUPS

    assert set(TUNER_GROUPS) <= set(MODULE_GROUPS)


def test_probed_rows_keep_their_own_profile(db):
    write_probes(db, probe("banking", TOP_HEAVY, "a1") + probe("banking", TOP_HEAVY, "a2")
                 + probe("kitchen", BOTTOM_HEAVY, "b1") + probe("kitchen", BOTTOM_HEAVY, "b2"))
    importance = build_layer_importance(db, BASE, ["banking", "kitchen"])
    assert importance.num_layers == LAYERS and len(importance.targets) == LAYERS * 2
    assert importance.probed.all()
    assert importance.ranked("banking")[0].layer == 5 and importance.ranked("kitchen")[0].layer == 0
    assert importance.values.max(axis=1) == pytest.approx([1.0, 1.0])
    assert importance.ranked("banking")[0].source == "probe"


def test_unprobed_domain_borrows_from_the_similar_one(db):
    write_probes(db, probe("banking", TOP_HEAVY, "a1") + probe("banking", TOP_HEAVY, "a2")
                 + probe("kitchen", BOTTOM_HEAVY, "b1") + probe("kitchen", BOTTOM_HEAVY, "b2"))
    names = ["banking", "credit_cards", "kitchen"]
    similarity = np.array([[1.0, 0.9, -0.2], [0.9, 1.0, 0.05], [-0.2, 0.05, 1.0]])
    importance = build_layer_importance(db, BASE, names, similarity, names)
    ranked = importance.ranked("credit_cards")
    assert {s.source for s in ranked} == {"cf"}
    assert ranked[0].layer == 5
    row = importance.row("credit_cards")
    expected = (0.9 * 1.0 + 0.05 * 0.1) / 0.95  # top-layer attention share, before scaling the row
    assert row[(0, "attention")] == pytest.approx((0.9 * 0.1 + 0.05 * 1.0) / 0.95 / expected)
    assert importance.probe_counts[importance.domains.index("credit_cards")] == 0


def test_cf_completion_from_the_rankers_domain_factors(db):
    # Group a uses banking, travel and credit_cards; group b kitchen, work and auto.
    insert_events(db, segment_log({"a": ["banking", "travel", "credit_cards"], "b": ["kitchen", "work", "auto"]}, 12))
    write_probes(db, probe("banking", TOP_HEAVY, "a1") + probe("banking", TOP_HEAVY, "a2")
                 + probe("kitchen", BOTTOM_HEAVY, "b1") + probe("kitchen", BOTTOM_HEAVY, "b2"))
    ranker = DomainRanker().fit(db)
    importance = build_layer_importance(db, BASE, ranker.domains, ranker.domain_similarity(), ranker.domains)
    assert importance.ranked("credit_cards")[0].layer == 5  # like banking
    assert importance.ranked("auto")[0].layer == 0  # like kitchen


def test_few_probes_blend_with_the_completion(db):
    write_probes(db, probe("banking", TOP_HEAVY, "a1") + probe("banking", TOP_HEAVY, "a2")
                 + probe("travel", BOTTOM_HEAVY, "t1"))
    names = ["banking", "travel"]
    similarity = np.array([[1.0, 0.8], [0.8, 1.0]])
    strict = build_layer_importance(db, BASE, names, similarity, names, min_probes=1)
    shrunk = build_layer_importance(db, BASE, names, similarity, names, min_probes=2)
    assert strict.ranked("travel")[0].layer == 0
    # Half its own bottom-heavy row, half banking's top-heavy one: the extremes meet.
    travel = shrunk.row("travel")
    assert travel[(0, "attention")] == pytest.approx(travel[(5, "attention")])
    assert shrunk.ranked("travel")[0].source == "probe"
    assert shrunk.row("banking") == strict.row("banking")


def test_no_probes_and_bad_arguments(db):
    with pytest.raises(NoProbesError, match=BASE):
        build_layer_importance(db, BASE, ["banking"])
    write_probes(db, probe("banking", TOP_HEAVY, "a1"))
    with pytest.raises(ValueError, match="min_probes"):
        build_layer_importance(db, BASE, min_probes=0)
    with pytest.raises(ValueError, match="similarity has shape"):
        build_layer_importance(db, BASE, ["banking"], np.eye(2), ["banking"])
    importance = build_layer_importance(db, BASE)
    with pytest.raises(LookupError, match="legal"):
        importance.ranked("legal")


# -- selector -----------------------------------------------------------------------------


def grid(num_layers: int, seed: int, groups=("attention", "mlp")) -> dict[tuple[int, str], float]:
    rng = random.Random(seed)
    return {(layer, group): rng.random() for layer in range(num_layers) for group in groups}


@pytest.mark.parametrize("seed", range(20))
def test_selection_respects_the_budget(seed):
    rng = random.Random(seed)
    num_layers = rng.randint(2, 30)
    importance = grid(num_layers, seed)
    model = LayerCostModel(per_target=rng.choice([0.0, 0.002, 0.01, 0.05]), fixed=rng.choice([0.0, 0.5]))
    n_all = len(importance)
    cheapest = model.relative([(num_layers - 1, "mlp")], num_layers, n_all)
    for budget in (0.05, 0.2, 0.35, 0.5, 0.8, 1.0):
        chosen = select_layers(importance, num_layers, budget, model)
        if budget < cheapest:
            # Too small for anything: the least there is, the top layer's most important target.
            top = [t for t in importance if t[0] == num_layers - 1]
            assert chosen.targets == (max(top, key=importance.get),)
            assert chosen.cost == pytest.approx(cheapest)
            continue
        assert chosen.targets and chosen.cost <= budget + 1e-9
        assert chosen.cost == pytest.approx(model.relative(chosen.targets, num_layers, n_all))


def test_cost_grows_with_depth_and_full_budget_takes_everything():
    model = LayerCostModel()
    assert model.relative([(29, "mlp")], 30, 60) < model.relative([(0, "mlp")], 30, 60)
    everything = [(layer, g) for layer in range(30) for g in ("attention", "mlp")]
    assert model.relative(everything, 30, 60) == pytest.approx(1.0)
    chosen = select_layers(grid(30, 1), 30, 1.0)
    assert len(chosen.targets) == 60 and chosen.captured == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(8))
def test_selection_is_optimal_against_brute_force(seed):
    num_layers = 4
    importance = grid(num_layers, 100 + seed)
    model = LayerCostModel(per_target=0.08)
    targets = sorted(importance)
    for budget in (0.4, 0.6, 0.9):
        best = 0.0
        for size in range(1, len(targets) + 1):
            for subset in itertools.combinations(targets, size):
                if model.relative(subset, num_layers, len(targets)) <= budget + 1e-12:
                    best = max(best, sum(importance[t] for t in subset))
        chosen = select_layers(importance, num_layers, budget, model)
        assert sum(importance[t] for t in chosen.targets) == pytest.approx(best)


def test_selector_prefers_important_shallow_layers_within_budget():
    importance = {(layer, "attention"): (1.0 if layer >= 20 else 0.01) for layer in range(30)}
    chosen = select_layers(importance, 30, 0.5)
    assert min(chosen.layers) >= 15 and set(range(20, 30)) <= set(chosen.layers)
    assert chosen.module_groups == ["attention"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"budget": 0.0}, "budget"),
        ({"budget": 1.5}, "budget"),
        ({"budget": float("nan")}, "budget"),
        ({"num_layers": 0}, "num_layers"),
        ({"importance": {}}, "importance is empty"),
        ({"importance": {(7, "mlp"): 1.0}}, "outside layers"),
        ({"importance": {(1, "mlp"): -1.0}}, "finite"),
    ],
)
def test_bad_selector_input_is_named(kwargs, field):
    arguments = {"importance": {(0, "mlp"): 1.0, (1, "mlp"): 0.5}, "num_layers": 2, "budget": 0.5, **kwargs}
    with pytest.raises(ValueError, match=field):
        select_layers(**arguments)


def test_bad_cost_model_is_named():
    with pytest.raises(ValueError, match="per_target"):
        LayerCostModel(per_target=-0.1)
    with pytest.raises(ValueError, match="fixed"):
        LayerCostModel(fixed=float("inf"))
