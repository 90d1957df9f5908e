"""The multi-adapter engine on a tiny BERT: mixed batches, promotion in flight, LRU eviction, corrupt files.

References are computed the plain way: each adapter loaded alone on its own fork
(``AdapterRegistry.load``) and run with ``tuner.predict``, never through the engine.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tests.serving_support import TEXTS, build_world, champion, random_adapter, one_torch_thread  # noqa: F401 (fixture)
from tuner.predict import classify
from tuner.serving.config import ServingConfig
from tuner.serving.engine import ServingEngine
from tuner.serving.errors import AdapterCapacityError, AdapterUnavailableError
from tuner.serving.forward import Row
from tuner.serving.labels import log_labels

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def engine_for(world, **overrides) -> ServingEngine:
    config = ServingConfig(base_model=world.base.name, refresh_events=1, **overrides)
    return ServingEngine(world.base, world.registry, config)


def reference(world, domain, texts=TEXTS, version=None):
    """Labels and scores of one adapter version run alone (no engine, no mixed batch)."""
    adapter = world.registry.load(world.base, domain, version)
    return classify(world.base, texts, adapter)


def assert_same(predictions, expected) -> None:
    assert [p.label for p in predictions] == [p.label for p in expected]
    assert predictions and all(abs(p.score - e.score) < 1e-5 for p, e in zip(predictions, expected))


@pytest.fixture
def world(tmp_path, bert_classifier):
    made = build_world(tmp_path, bert_classifier)
    yield made
    made.db.close()


def test_adapters_a_and_b_in_one_mixed_batch_equal_each_run_alone(world):
    engine = engine_for(world)
    banking, legal, travel = (engine.resolver.resolve("", d) for d in ("banking", "legal", "travel"))
    assert travel.variant.adapter is None  # no champion: the base model zero-shot in the same batch
    leases = [engine.lease(r) for r in (banking, legal, travel)]
    tokens = world.base.tokenizer(TEXTS)["input_ids"]
    rows = [Row(ids, lease.adapter_name, lease.head, lease.labels) for ids in tokens for lease in leases]
    before = engine.batcher.stats.passes

    mixed = engine.batcher.submit(rows)

    assert engine.batcher.stats.passes == before + 1  # one forward pass for all three variants
    assert_same(mixed[0::3], reference(world, "banking"))
    assert_same(mixed[1::3], reference(world, "legal"))
    assert_same(mixed[2::3], classify(world.base, TEXTS, labels=log_labels(world.db, "travel")))
    assert [p.label for p in mixed[0::3]] != [p.label for p in mixed[1::3]]  # the adapters really differ
    for lease in leases:
        lease.release()


def test_concurrent_requests_for_different_adapters_share_one_forward_pass(world):
    engine = engine_for(world)
    for domain in ("banking", "legal", "travel"):  # resident, so the requests below only queue
        engine.predict("", domain, TEXTS[:1])
    answers: dict[str, list] = {}
    before = (engine.batcher.stats.passes, engine.batcher.stats.requests)

    def call(domain: str) -> None:
        answers[domain] = engine.predict("", domain, TEXTS).predictions

    with engine.pool.model_lock:  # hold the model so all three requests queue up
        threads = [threading.Thread(target=call, args=(d,)) for d in ("banking", "legal", "travel")]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while engine.batcher.pending < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.batcher.pending == 3
    for thread in threads:
        thread.join(30)

    assert (engine.batcher.stats.passes, engine.batcher.stats.requests) == (before[0] + 1, before[1] + 3)
    assert_same(answers["banking"], reference(world, "banking"))
    assert_same(answers["legal"], reference(world, "legal"))
    assert_same(answers["travel"], classify(world.base, TEXTS, labels=log_labels(world.db, "travel")))


def test_a_request_in_flight_finishes_on_its_version_and_new_requests_get_the_promoted_one(world):
    engine = engine_for(world)
    old = engine.lease(engine.resolver.resolve("u1", "banking"))
    assert old.variant.chain[-1].version == "v0001"

    new_record = champion(world.registry, random_adapter(world.base, layers=[0, 1], seed=7), "banking")
    fresh = engine.predict("u1", "banking", TEXTS)

    assert fresh.variant.chain[-1].version == new_record.version == "v0002"
    assert fresh.variant.variant_id != old.variant.variant_id
    assert_same(fresh.predictions, reference(world, "banking", version="v0002"))
    assert_same(engine.run(old, TEXTS), reference(world, "banking", version="v0001"))
    assert set(engine.loaded_adapters) == {"banking@v0001", "banking@v0002"}
    old.release()
    assert engine.pool.pinned() == {}


def test_promotion_during_traffic_switches_new_requests_only(world):
    engine = engine_for(world)
    expected = {"v0001": [p.label for p in reference(world, "banking")]}
    promoted = threading.Event()
    seen: list[tuple[bool, str, list[str]]] = []
    errors: list[BaseException] = []

    def traffic() -> None:
        try:
            for _ in range(12):
                after = promoted.is_set()  # read before the request starts
                answer = engine.predict("u1", "banking", TEXTS)
                seen.append((after, answer.variant.chain[-1].version, [p.label for p in answer.predictions]))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    record = champion(world.registry, random_adapter(world.base, layers=[1], seed=11), "banking")
    promoted.set()
    for thread in threads:
        thread.join(120)

    expected[record.version] = [p.label for p in reference(world, "banking", version=record.version)]
    assert not errors and len(seen) == 36
    assert all(version == "v0002" for after, version, _ in seen if after)
    assert any(version == "v0001" for _, version, _ in seen)
    assert all(labels == expected[version] for _, version, labels in seen)
    assert engine.pool.pinned() == {}


def test_eviction_keeps_the_loaded_count_under_the_bound_least_recently_used_first(tmp_path, bert_classifier):
    world = build_world(tmp_path, bert_classifier, domains=("banking", "legal", "travel"))
    engine = engine_for(world, max_adapters=2)
    expected = {d: [p.label for p in reference(world, d)] for d in ("banking", "legal", "travel")}

    for domain in ("banking", "legal", "banking", "travel", "legal", "banking"):
        labels = [p.label for p in engine.predict("", domain, TEXTS).predictions]
        assert labels == expected[domain]  # reloading after an eviction gives the same answers
        loaded = engine.loaded_adapters
        assert len(loaded) <= 2 and sorted(loaded) == engine.pool.slot_names()

    history = list(engine.pool.stats.history)
    assert history[:4] == ["load banking@v0001", "load legal@v0001", "evict legal@v0001", "load travel@v0001"]
    assert engine.pool.stats.peak_resident == 2 and engine.pool.stats.evictions == 3
    world.db.close()


def test_adapters_held_by_requests_in_flight_are_never_evicted(tmp_path, bert_classifier):
    world = build_world(tmp_path, bert_classifier, domains=("banking", "legal", "travel"))
    engine = engine_for(world, max_adapters=2, lease_timeout_s=0.2)
    banking = engine.lease(engine.resolver.resolve("", "banking"))
    legal = engine.lease(engine.resolver.resolve("", "legal"))

    with pytest.raises(AdapterCapacityError, match="adapter slots \(2\)"):
        engine.predict("", "travel", TEXTS)
    assert sorted(engine.loaded_adapters) == engine.pool.slot_names() == ["banking@v0001", "legal@v0001"]

    banking.release()
    engine.predict("", "travel", TEXTS)
    assert sorted(engine.loaded_adapters) == ["legal@v0001", "travel@v0001"]
    assert_same(engine.run(legal, TEXTS), reference(world, "legal"))
    legal.release()
    world.db.close()


def _truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def _rename_keys(path):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    save_file({k.replace("lora_A", "lora_X"): v for k, v in tensors.items()}, str(path))


CORRUPTIONS = {
    "folder deleted": lambda folder: __import__("shutil").rmtree(folder),
    "weights truncated": lambda folder: _truncate(folder / "adapter_model.safetensors"),
    "weights with wrong keys": lambda folder: _rename_keys(folder / "adapter_model.safetensors"),
    "head missing": lambda folder: (folder / "head.safetensors").unlink(),
    "config not json": lambda folder: (folder / "adapter_config.json").write_text("{not json"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_adapter_fails_alone_and_the_others_keep_serving(world, corruption):
    engine = engine_for(world)
    before = engine.predict("", "banking", TEXTS).predictions
    CORRUPTIONS[corruption](world.records["legal"].path)

    with pytest.raises(AdapterUnavailableError, match=r"adapter v0001 of domain 'legal' failed its integrity check"):
        engine.predict("", "legal", TEXTS)
    # An adapter registered before file hashes existed: the loader itself must still refuse it.
    with world.db.write_lock:
        world.db.cursor().execute("DELETE FROM adapter_file_hashes WHERE domain = 'legal'")
    with pytest.raises(AdapterUnavailableError, match=r"adapter v0001 of domain 'legal' cannot be loaded"):
        engine.predict("", "legal", TEXTS)

    assert engine.loaded_adapters == engine.pool.slot_names() == ["banking@v0001"]
    assert engine.predict("", "banking", TEXTS).predictions == before
    assert engine.pool.stats.failed_loads == 2 and engine.pool.pinned() == {}


def test_generation_variants_match_each_adapter_alone_and_sampling_is_seeded(tmp_path, llama_generator):
    from tuner.predict import generate
    from tuner.serving.requests import GenerationOptions

    world = build_world(tmp_path, llama_generator)
    engine = ServingEngine(llama_generator, world.registry, ServingConfig(base_model=llama_generator.name, task="generation"))
    greedy = GenerationOptions(max_new_tokens=4)
    for domain in ("banking", "legal", "banking"):
        answer = engine.predict("", domain, TEXTS[:3], greedy)
        alone = generate(llama_generator, TEXTS[:3], world.registry.load(llama_generator, domain), max_new_tokens=4)
        assert [p.text for p in answer.predictions] == [p.text for p in alone]
    sampled = GenerationOptions(max_new_tokens=6, sample=True, seed=5, temperature=1.5)
    first = engine.predict("", "legal", TEXTS[:3], sampled).predictions
    engine.predict("", "banking", TEXTS[:3], GenerationOptions(max_new_tokens=6, sample=True, seed=9))
    assert engine.predict("", "legal", TEXTS[:3], sampled).predictions == first
    assert len(first) == 3 and engine.pool.slot_names() == ["banking@v0001", "legal@v0001"]
    stranger = engine.predict("stranger", None, TEXTS[:3], greedy)  # "__base__" rows through the PEFT model
    assert stranger.variant.chain == ()
    assert [p.text for p in stranger.predictions] == [p.text for p in generate(llama_generator, TEXTS[:3], max_new_tokens=4)]
    world.db.close()


def test_the_shared_base_model_is_never_modified(world):
    before = {name: p.detach().clone() for name, p in world.base.model.named_parameters()}
    engine = engine_for(world, max_adapters=1)
    for domain in ("banking", "legal", "banking"):
        engine.predict("", domain, TEXTS)
    after = dict(world.base.model.named_parameters())
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert not any("lora" in name for name in after)


def test_a_released_lease_cannot_run(world):
    engine = engine_for(world)
    lease = engine.lease(engine.resolver.resolve("", "banking"))
    lease.release()
    lease.release()  # idempotent: the pin count is not decremented twice
    assert engine.pool.pinned() == {}
    with pytest.raises(ValueError, match="the lease on 'banking@v0001' was released"):
        engine.run(lease, TEXTS)


def test_requests_for_a_broken_adapter_never_push_healthy_ones_out(tmp_path, bert_classifier):
    world = build_world(tmp_path, bert_classifier, domains=("banking", "legal", "travel"))
    engine = engine_for(world, max_adapters=2)
    for domain in ("banking", "legal"):
        engine.predict("", domain, TEXTS)
    (world.records["travel"].path / "head.safetensors").unlink()
    for _ in range(3):
        with pytest.raises(AdapterUnavailableError, match="domain 'travel'"):
            engine.predict("", "travel", TEXTS)
    assert engine.loaded_adapters == ["banking@v0001", "legal@v0001"] and engine.pool.stats.evictions == 0
    world.db.close()
