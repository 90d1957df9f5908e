"""VariantService over a real gRPC server (127.0.0.1, port 0) with a real DuckDB file and a tiny BERT.

The server loads its own copy of the checkpoint on the first call; answers are checked
against each adapter run alone in the test process.
"""

from __future__ import annotations

import grpc
import pytest

from server.client import ClientError, InvalidArgumentError, NotFoundError
from tests.serving_support import TEXTS, build_world, one_torch_thread  # noqa: F401 (fixture)
from tuner.predict import classify
from tuner.serving.config import ServingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def served(server_factory, tmp_path, tiny_bert_dir, bert_classifier):
    serving = ServingConfig(base_model=str(tiny_bert_dir), max_inputs=4, max_input_chars=60, max_adapters=2)
    live = server_factory(serving=serving, adapters_dir=tmp_path / "adapters")
    world = build_world(tmp_path, bert_classifier, db=live.db)
    return live, world


def labels_alone(world, domain):
    return [p.label for p in classify(world.base, TEXTS[:4], world.registry.load(world.base, domain))]


def interaction_count(live) -> int:
    return live.db.cursor().execute("SELECT count(*) FROM interactions").fetchone()[0]


def test_get_variant_and_predict_answer_with_the_same_variant_id(served):
    live, world = served
    variant = live.client.get_variant("u2")  # routed: u2's traffic is all banking
    assert (variant.domain, variant.domain_source, variant.user_known) == ("banking", "ranking", True)
    assert [(r.domain, r.version) for r in variant.chain] == [("banking", "v0001")]

    answer = live.client.predict("u2", TEXTS[:4])
    assert answer.variant == variant
    assert [p.label for p in answer.predictions] == labels_alone(world, "banking")
    assert all(0.0 < p.score <= 1.0 and p.text == "" for p in answer.predictions)

    legal = live.client.predict("u2", TEXTS[:4], domain="legal")
    assert legal.variant.domain_source == "request" and legal.variant.variant_id != variant.variant_id
    assert [p.label for p in legal.predictions] == labels_alone(world, "legal")


def test_base_only_answers_with_the_bare_base_over_the_variants_labels(served):
    live, world = served
    answer = live.client.predict("u2", TEXTS[:4], base_only=True)
    assert (answer.variant.domain, answer.variant.chain) == ("banking", ())
    labels = world.records["banking"].labels
    assert [p.label for p in answer.predictions] == [p.label for p in classify(world.base, TEXTS[:4], labels=labels)]
    assert live.client.get_variant("u2", base_only=True) == answer.variant


def test_an_unknown_user_falls_back_to_the_base_model_and_says_so(served):
    live, _ = served
    answer = live.client.predict("nobody", TEXTS[:2])
    assert answer.variant.fallback and not answer.variant.user_known and answer.variant.chain == ()
    assert "'nobody' has no interactions" in answer.variant.fallback_reason
    assert len(answer.predictions) == 2 and all(p.label for p in answer.predictions)


@pytest.mark.parametrize(
    ("inputs", "domain", "code", "message"),
    [
        ([], "banking", grpc.StatusCode.INVALID_ARGUMENT, "inputs is empty"),
        (["a", "b", "c", "d", "e"], "banking", grpc.StatusCode.INVALID_ARGUMENT, "inputs has 5 texts; at most 4"),
        (["ok", "x" * 61], "banking", grpc.StatusCode.INVALID_ARGUMENT, r"inputs\[1\] has 61 characters; at most 60"),
        (["ok", "ok", " "], "banking", grpc.StatusCode.INVALID_ARGUMENT, r"inputs\[2\] is empty"),
        (["ok"], "insurance", grpc.StatusCode.NOT_FOUND, "domain 'insurance' is unknown"),
        (["ok"], "Not A Domain", grpc.StatusCode.INVALID_ARGUMENT, "domain 'Not A Domain' is invalid"),
    ],
)
def test_bad_predict_requests_are_refused_and_change_nothing(served, inputs, domain, code, message):
    live, _ = served
    before = (interaction_count(live), live.client.get_variant("u2"))
    with pytest.raises(ClientError, match=message) as caught:
        live.client.predict("u2", inputs, domain=domain)
    assert caught.value.code == code
    assert isinstance(caught.value, NotFoundError if code == grpc.StatusCode.NOT_FOUND else InvalidArgumentError)
    assert (interaction_count(live), live.client.get_variant("u2")) == before


def test_bad_generation_options_are_refused(served):
    live, _ = served
    with pytest.raises(InvalidArgumentError, match="max_new_tokens is 1000; at most 256"):
        live.client.predict("u2", ["ok"], max_new_tokens=1000)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        live.client.predict("u2", ["ok"], temperature=-1.0)  # refused by the client before sending
    with pytest.raises(ValueError, match="inputs must be a list of texts"):
        live.client.predict("u2", "just one string")


def test_a_corrupt_adapter_gives_failed_precondition_and_other_variants_keep_serving(served):
    live, world = served
    assert [p.label for p in live.client.predict("u2", TEXTS[:4], domain="banking").predictions] == labels_alone(world, "banking")
    weights = world.records["legal"].path / "adapter_model.safetensors"
    weights.write_bytes(b"not a safetensors file")

    with pytest.raises(ClientError) as caught:
        live.client.predict("lawyer1", TEXTS[:4], domain="legal")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "adapter v0001 of domain 'legal' failed its integrity check" in caught.value.details
    with pytest.raises(ClientError) as again:  # routed there by the ranking: same answer
        live.client.predict("lawyer1", TEXTS[:4])
    assert again.value.code == grpc.StatusCode.FAILED_PRECONDITION

    assert [p.label for p in live.client.predict("u2", TEXTS[:4], domain="banking").predictions] == labels_alone(world, "banking")
    assert live.client.predict("nobody", TEXTS[:2]).variant.fallback
    assert live.client.get_variant("lawyer1").domain == "legal"  # resolution itself never reads the files


def test_a_base_model_that_cannot_load_fails_predict_but_not_the_server(server_factory, tmp_path):
    live = server_factory(serving=ServingConfig(base_model=str(tmp_path / "no-such-model")))
    with pytest.raises(ClientError) as caught:
        live.client.predict("u1", ["hello"])
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "no-such-model" in caught.value.details and "cannot be loaded" in caught.value.details
    assert live.client.health() == "SERVING" and live.client.interaction_stats().total == 0
