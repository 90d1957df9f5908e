"""Variant resolution on a real DuckDB file: domain given or routed by the ranking, chains, ids, fallbacks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from recsys.domains import DomainError, DomainRecord, UnknownDomainError, upsert_domain
from recsys.events.log import append_interactions
from recsys.ranking import RankerConfig
from recsys.store import open_database
from tests.fixtures.toy_data import toy_interactions
from tests.serving_support import LABELS, build_world, champion, random_adapter, one_torch_thread  # noqa: F401 (fixture)
from tuner.registry import AdapterRegistry
from tuner.serving.errors import NoLabelsError
from tuner.serving.routing import UserRouter
from tuner.serving.types import AdapterRef
from tuner.serving.variants import VariantResolver, variant_id

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def world(tmp_path, bert_classifier):
    made = build_world(tmp_path, bert_classifier)
    yield made
    made.db.close()


def resolver_for(world, base_model=None, **router) -> VariantResolver:
    routing = UserRouter(world.db, **{"refresh_events": 1, **router})
    return VariantResolver(world.registry, base_model or world.base.name, "classification", routing)


def test_a_given_domain_resolves_to_its_champion_with_a_stable_id(world):
    resolver = resolver_for(world)
    first = resolver.resolve("u1", "banking")
    variant = first.variant
    assert (variant.domain, variant.domain_source, variant.chain) == ("banking", "request", (AdapterRef("banking", "v0001"),))
    assert (variant.fallback, variant.user_known, variant.task) == (False, True, "classification")
    assert first.adapter_path == world.records["banking"].path and first.labels == tuple(sorted(LABELS))
    assert resolver.resolve("someone-else", "banking").variant.variant_id == variant.variant_id
    assert variant.variant_id == variant_id(world.base.name, "classification", variant.chain)

    champion(world.registry, random_adapter(world.base, layers=[1], seed=3), "banking")
    promoted = resolver.resolve("u1", "banking").variant
    assert promoted.chain == (AdapterRef("banking", "v0002"),) and promoted.variant_id != variant.variant_id


def test_without_a_domain_the_users_top_predicted_domain_routes_the_request(world):
    resolver = resolver_for(world)
    banker = resolver.resolve("u3").variant
    lawyer = resolver.resolve("lawyer1").variant
    assert (banker.domain, banker.domain_source, banker.user_known) == ("banking", "ranking", True)
    assert (lawyer.domain, lawyer.chain[-1].domain, lawyer.fallback) == ("legal", "legal", False)


def test_an_unknown_user_without_a_domain_gets_the_base_model_and_the_answer_says_so(world):
    resolved = resolver_for(world).resolve("stranger")
    variant = resolved.variant
    assert variant.chain == () and variant.fallback and not variant.user_known
    assert variant.domain_source == "default" and "'stranger' has no interactions" in variant.fallback_reason
    assert resolved.labels == tuple(sorted(LABELS))  # zero-shot over every label the log knows
    anonymous = resolver_for(world).resolve("").variant
    assert "no user_id was given" in anonymous.fallback_reason and anonymous.variant_id == variant.variant_id


def test_an_unknown_user_with_a_domain_gets_the_domain_champion(world):
    variant = resolver_for(world).resolve("stranger", "legal").variant
    assert variant.chain == (AdapterRef("legal", "v0001"),) and not variant.fallback and not variant.user_known


def test_a_domain_without_a_champion_falls_back_to_the_base_or_its_ancestor(world):
    resolver = resolver_for(world)
    travel = resolver.resolve("u1", "travel")
    assert travel.variant.chain == () and travel.variant.fallback and travel.adapter_path is None
    assert "'travel' and its ancestors have no champion" in travel.variant.fallback_reason
    contracts = resolver.resolve("u1", "contracts").variant  # child of legal, no champion of its own
    assert contracts.chain == (AdapterRef("legal", "v0001"),) and contracts.fallback
    assert "serving its ancestor 'legal' v0001" in contracts.fallback_reason

    child = champion(world.registry, random_adapter(world.base, layers=[0], seed=5), "contracts", parent=world.records["legal"])
    chained = resolver.resolve("u1", "contracts")
    assert chained.variant.chain == (AdapterRef("legal", "v0001"), AdapterRef("contracts", child.version))
    assert not chained.variant.fallback and chained.adapter_path == child.path


def test_a_champion_trained_for_another_base_is_not_served(world):
    variant = resolver_for(world, base_model="some-other-model").resolve("u1", "banking").variant
    assert variant.chain == () and variant.fallback
    assert "trained for base" in variant.fallback_reason and "'some-other-model'" in variant.fallback_reason


def test_unknown_and_invalid_domains_are_refused_and_nothing_changes(world):
    resolver = resolver_for(world)
    domains = world.db.cursor().execute("SELECT count(*) FROM domains").fetchone()[0]
    with pytest.raises(UnknownDomainError, match="domain 'insurance' is unknown"):
        resolver.resolve("u1", "insurance")
    with pytest.raises(DomainError, match="domain 'Bad Name!' is invalid") as caught:
        resolver.resolve("u1", "Bad Name!")
    assert not isinstance(caught.value, LookupError)  # INVALID_ARGUMENT, not NOT_FOUND
    with pytest.raises(ValueError, match="user_id has 500 characters; at most 128"):
        resolver.resolve("x" * 500, "banking")
    assert world.db.cursor().execute("SELECT count(*) FROM domains").fetchone()[0] == domains


def test_zero_shot_without_any_known_label_is_a_precondition_error(world):
    upsert_domain(world.db, DomainRecord("insurance"))
    with pytest.raises(NoLabelsError, match="domain 'insurance' has no labelled interactions"):
        resolver_for(world).resolve("u1", "insurance")


def test_the_ranking_is_refitted_when_the_log_grows(world):
    resolver = resolver_for(world, refresh_events=5, refresh_seconds=3600)
    assert not resolver.resolve("newcomer").variant.user_known
    fitted = resolver.router.fitted_seq
    newcomer = [replace(e, user_id="newcomer") for e in toy_interactions(3, domain="legal", prefix="n")]
    append_interactions(world.db, newcomer)
    assert not resolver.resolve("newcomer").variant.user_known  # 3 new events: below refresh_events
    assert resolver.router.fitted_seq == fitted
    append_interactions(world.db, [replace(e, user_id="newcomer") for e in toy_interactions(3, domain="legal", prefix="m")])
    routed = resolver.resolve("newcomer").variant
    assert routed.user_known and routed.domain == "legal" and resolver.router.fitted_seq == fitted + 6


def test_an_empty_log_routes_nobody_but_given_domains_still_serve(tmp_path, bert_classifier):
    db = open_database(tmp_path / "empty.duckdb")
    registry = AdapterRegistry(db, tmp_path / "adapters")
    champion(registry, random_adapter(bert_classifier, layers=[0], seed=1), "banking")
    resolver = VariantResolver(registry, bert_classifier.name, "classification", UserRouter(db))
    assert resolver.resolve("u1", "banking").variant.chain == (AdapterRef("banking", "v0001"),)
    with pytest.raises(NoLabelsError, match="the log has no labelled interactions"):
        resolver.resolve("u1")
    db.close()


def test_variant_ids_depend_on_base_task_and_versions_only():
    chain = (AdapterRef("legal", "v0001"), AdapterRef("contracts", "v0003"))
    same = variant_id("minilm-l6", "classification", chain)
    assert same == variant_id("minilm-l6", "classification", tuple(chain)) and same.startswith("var-")
    others = {
        variant_id("minilm-l6", "classification", (chain[0], AdapterRef("contracts", "v0004"))),
        variant_id("smollm2-135m", "classification", chain),
        variant_id("minilm-l6", "generation", chain),
        variant_id("minilm-l6", "classification", ()),
        variant_id("minilm-l6", "classification", (), ("a", "b")),
    }
    assert same not in others and len(others) == 5


def test_base_only_gives_the_bare_base_for_the_same_domain_and_labels(world):
    resolver = resolver_for(world)
    variant = resolver.resolve("u3")
    base = resolver.resolve("u3", base_only=True)
    assert (base.variant.domain, base.variant.domain_source) == (variant.variant.domain, "ranking") == ("banking", "ranking")
    assert base.variant.chain == () and base.adapter_path is None and base.labels == variant.labels
    assert base.variant.variant_id != variant.variant.variant_id and "base_only" in base.variant.fallback_reason
    travel = resolver.resolve("u1", "travel")
    assert resolver.resolve("u1", "travel", base_only=True) == travel  # already the base model


def test_a_diverged_refit_does_not_stop_serving(world, caplog):
    diverging = UserRouter(world.db, ranker_config=RankerConfig(method="als", alpha=1e38))
    resolver = VariantResolver(world.registry, world.base.name, "classification", diverging)
    with caplog.at_level("WARNING", logger="adaptune.serving"):
        variant = resolver.resolve("u3").variant  # the fit diverges: nobody can be routed
    assert variant.chain == () and not variant.user_known and "routing refit" in caplog.text
    assert resolver.resolve("u3", "banking").variant.chain == (AdapterRef("banking", "v0001"),)
