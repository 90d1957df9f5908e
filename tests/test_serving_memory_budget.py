"""The adapter pool bounded by bytes: rank x (in + out) per targeted module plus the head, LRU eviction."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from tests.serving_support import TEXTS, build_world, champion, one_torch_thread, random_adapter  # noqa: F401 (fixture)
from tuner.adapters import LORA_WEIGHTS_FILE
from tuner.heads import HEAD_FILE
from tuner.predict import classify
from tuner.serving.config import ServingConfig
from tuner.serving.engine import ServingEngine
from tuner.serving.errors import AdapterCapacityError, AdapterUnavailableError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def engine_for(world, **overrides) -> ServingEngine:
    return ServingEngine(world.base, world.registry, ServingConfig(base_model=world.base.name, refresh_events=1, **overrides))


def saved_bytes(record) -> int:
    """What the files say an adapter holds: every LoRA and head tensor, 4 bytes a number."""
    tensors = {**load_file(str(record.path / LORA_WEIGHTS_FILE)), **load_file(str(record.path / HEAD_FILE))}
    return sum(t.numel() * 4 for name, t in tensors.items() if name != "scale")


@pytest.fixture
def world(tmp_path, bert_classifier):
    made = build_world(tmp_path, bert_classifier, domains=("banking", "legal", "travel"))
    yield made
    made.db.close()


def test_resident_bytes_count_rank_and_modules_of_each_adapter(world, tmp_path):
    wide = random_adapter(world.base, layers=[0, 1], seed=7)  # twice the modules of the world's adapters
    champion(world.registry, wide, "wide")
    engine = engine_for(world)
    engine.predict("", "banking", TEXTS[:1])
    assert engine.pool.resident_bytes() == saved_bytes(world.records["banking"])
    engine.predict("", "wide", TEXTS[:1])
    wide_record = world.registry.champion("wide")
    assert engine.pool.resident_bytes() == saved_bytes(world.records["banking"]) + saved_bytes(wide_record)
    assert saved_bytes(wide_record) > saved_bytes(world.records["banking"])


def test_a_byte_budget_evicts_least_recently_used_while_the_count_would_allow_more(world):
    one = saved_bytes(world.records["banking"])
    assert {saved_bytes(r) for r in world.records.values()} == {one}
    engine = engine_for(world, max_adapters=8, adapter_memory_bytes=2 * one + one // 2)
    expected = {d: [p.label for p in classify(world.base, TEXTS, world.registry.load(world.base, d))] for d in world.records}

    for domain in ("banking", "legal", "banking", "travel", "legal"):
        assert [p.label for p in engine.predict("", domain, TEXTS).predictions] == expected[domain]
        assert engine.pool.resident_bytes() <= 2 * one + one // 2
        assert sorted(engine.loaded_adapters) == engine.pool.slot_names()

    history = list(engine.pool.stats.history)
    assert history[:4] == ["load banking@v0001", "load legal@v0001", "evict legal@v0001", "load travel@v0001"]
    assert engine.pool.stats.peak_resident == 2


def test_an_adapter_larger_than_the_whole_budget_is_refused_and_nothing_is_evicted(world):
    one = saved_bytes(world.records["banking"])
    engine = engine_for(world, adapter_memory_bytes=one + 10)
    engine.predict("", "banking", TEXTS[:1])
    champion(world.registry, random_adapter(world.base, layers=[0, 1], seed=9), "wide")

    with pytest.raises(AdapterUnavailableError, match=f"more than the whole adapter memory budget of {one + 10} bytes"):
        engine.predict("", "wide", TEXTS[:1])
    assert engine.loaded_adapters == ["banking@v0001"] and engine.pool.stats.evictions == 0


def test_pinned_adapters_hold_their_bytes_and_a_new_one_waits_then_gives_up(world):
    one = saved_bytes(world.records["banking"])
    engine = engine_for(world, adapter_memory_bytes=one + one // 2, lease_timeout_s=0.2)
    with engine.lease(engine.resolver.resolve("", "banking")):
        with pytest.raises(AdapterCapacityError, match="memory budget"):
            engine.predict("", "legal", TEXTS[:1])
    engine.predict("", "legal", TEXTS[:1])
    assert engine.loaded_adapters == ["legal@v0001"]
