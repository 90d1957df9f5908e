"""Expert review end to end: a real gRPC server, a real DuckDB file, real cycles on a tiny BERT.

billing's review policy is ``required``: a cycle leaves its passing candidate awaiting
while the champion (here: the base model) keeps serving. Approve promotes it and Predict
switches; reject records the reason and changes nothing; a champion that changed since
the gate makes approval FAILED_PRECONDITION; an unreviewed candidate expires; a newer
passing candidate supersedes the waiting one; a token without the right is refused.
"""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc
import pytest

from server.cli import main as cli_main
from server.client import AdaptuneClient, ClientError
from server.servicers.tuning import TuningServicer
from server._proto.adaptune.v1 import tuning_pb2_grpc as pb_grpc
from tests.cycle_logs import FINE, STRUGGLING, domain_events, mixed_log
from tests.serving_support import TEXTS, champion, one_torch_thread, random_adapter  # noqa: F401 (fixture)
from tests.test_cycle_service import server_settings
from tuner.cycle.service import CycleService
from tuner.registry import AdapterRegistry
from tuner.review.decisions import EXPIRY
from tuner.serving.config import ServingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def review_server(server_factory, tmp_path, tiny_bert_dir):
    serving = ServingConfig(base_model=str(tiny_bert_dir), max_adapters=2)
    server = server_factory(serving=serving, **server_settings(tmp_path, tiny_bert_dir))
    server.client.upsert_domain("billing", review_policy="required")
    assert server.client.log_interactions(mixed_log(STRUGGLING, FINE)).accepted == 320
    return server


def held_cycle(server) -> dict:
    finished = server.client.run_cycle()
    assert finished.summary["promoted"] == [] and finished.summary["awaiting_review"] == ["billing"]
    return finished.summary


def statuses(server) -> list[tuple[str, str, str]]:
    return [(a.domain, a.version, a.status) for a in server.client.list_adapters()]


def served_chain(server) -> list[tuple[str, str]]:
    answer = server.client.predict("b0", TEXTS[:3], domain="billing")
    return [(ref.domain, ref.version) for ref in answer.variant.chain]


def test_a_held_candidate_waits_with_its_evidence_and_approval_promotes_it(review_server, capsys):
    server = review_server
    summary = held_cycle(server)
    assert statuses(server) == [("billing", "v0001", "awaiting_review")]
    assert served_chain(server) == []  # the base model still answers billing

    (review,) = server.client.list_reviews()
    assert (review.domain, review.version, review.status, review.champion_version) == ("billing", "v0001", "awaiting", None)
    assert review.cycle_id == summary["cycle_id"] and review.policy == "required"
    evidence = review.evidence
    gate = summary["domains"][0]["gate"]
    assert evidence["gate"]["candidate"]["accuracy"] == gate["candidate"]["accuracy"]
    assert evidence["gate"]["reference"]["kind"] == "base" and evidence["gate"]["audits"][0]["attribute"] == "region"
    assert set(evidence["gate"]["audits"][0]["per_group"]) == {"north", "south"}
    assert evidence["layers"] == summary["domains"][0]["layers"] and evidence["data_window"][1] <= 320
    assert review.change_rate == evidence["n_changed"] / evidence["n_test"] > 0
    samples = evidence["samples"]
    assert 0 < len(samples) <= min(20, evidence["n_changed"])
    assert all(s["candidate"] != s["champion"] and s["gold"] in STRUGGLING.labels and s["input"] for s in samples)
    assert evidence["expires_at"] > review.created_at

    assert cli_main(["review", "list", "--address", server.address]) == 0
    assert "billing  v0001    awaiting  vs base model" in capsys.readouterr().out
    assert cli_main(["review", "show", "billing", "v0001", "--address", server.address]) == 0
    shown = capsys.readouterr().out
    assert "gate vs base model" in shown and "region: gap" in shown and samples[0]["input"][:30] in shown

    assert cli_main(["review", "approve", "billing", "v0001", "--reason", "samples look right", "--address", server.address]) == 0
    assert "approved billing v0001 (by anonymous)" in capsys.readouterr().out
    assert statuses(server) == [("billing", "v0001", "champion")]
    assert served_chain(server) == [("billing", "v0001")]
    (adapter,) = server.client.list_adapters()
    assert (adapter.review_status, adapter.reviewed_by, adapter.review_reason) == ("approved", "anonymous", "samples look right")
    (cycle,) = server.client.list_cycles()
    note = cycle.summary["reviews"]["billing/v0001"]
    assert (note["decision"], note["by"], note["reason"]) == ("approved", "anonymous", "samples look right")
    assert cli_main(["cycle", "--history", "1", "--address", server.address]) == 0
    assert "billing/v0001 approved by anonymous (samples look right)" in capsys.readouterr().out

    with pytest.raises(ClientError) as error:  # decided once
        server.client.reject_candidate("billing", "v0001", "changed my mind")
    assert error.value.code is grpc.StatusCode.FAILED_PRECONDITION and "already approved" in error.value.details
    assert statuses(server) == [("billing", "v0001", "champion")]


def test_reject_records_the_reason_and_changes_nothing(server_factory, tmp_path, tiny_bert_dir):
    server = server_factory(token="s3cret", **server_settings(tmp_path, tiny_bert_dir))
    server.client.upsert_domain("billing", review_policy="required")
    server.client.log_interactions(mixed_log(STRUGGLING, FINE))
    held_cycle(server)
    with pytest.raises(ClientError) as error:
        server.client.reject_candidate("billing", "v0001", "")
    assert error.value.code is grpc.StatusCode.INVALID_ARGUMENT and "reason" in error.value.details
    assert server.client.get_review("billing", "v0001").status == "awaiting"

    review = server.client.reject_candidate("billing", "v0001", "answers disputes as transfers")
    assert (review.status, review.decided_by, review.reason) == ("rejected", "admin", "answers disputes as transfers")
    assert review.decided_at is not None
    assert statuses(server) == [("billing", "v0001", "rejected")]
    assert server.client.list_reviews(status="awaiting") == []
    with pytest.raises(ClientError) as error:
        server.client.approve_candidate("billing", "v0001")
    assert error.value.code is grpc.StatusCode.FAILED_PRECONDITION and "already rejected" in error.value.details
    assert statuses(server) == [("billing", "v0001", "rejected")]


def test_approval_is_refused_when_the_champion_changed_since_the_gate(review_server, bert_classifier):
    server = review_server
    held_cycle(server)
    # Meanwhile an operator makes another adapter the champion (compared against: the base model).
    registry = AdapterRegistry(server.db, server.config.adapters_dir)
    champion(registry, random_adapter(bert_classifier, layers=[0], seed=3, labels=STRUGGLING.labels), "billing")
    with pytest.raises(ClientError) as error:
        server.client.approve_candidate("billing", "v0001")
    assert error.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "the champion of 'billing' is v0002 now, but v0001 was compared against the base model" in error.value.details
    assert statuses(server) == [("billing", "v0001", "awaiting_review"), ("billing", "v0002", "champion")]
    assert server.client.get_review("billing", "v0001").status == "awaiting"
    # Promoting a held candidate around the review is refused too.
    with pytest.raises(ClientError) as error:
        server.client.promote_adapter("billing", "v0001")
    assert "awaits expert review" in error.value.details


def test_an_unreviewed_candidate_expires_as_rejected(review_server):
    server = review_server
    held_cycle(server)
    server.db.cursor().execute("UPDATE reviews SET created_at = created_at - INTERVAL 73 HOUR")
    (review,) = server.client.list_reviews()
    assert (review.status, review.decided_by) == ("rejected", EXPIRY)
    assert review.reason == "expired: unreviewed for more than 72 hours"
    assert statuses(server) == [("billing", "v0001", "rejected")]
    assert served_chain(server) == []


def test_a_newer_passing_candidate_supersedes_the_waiting_one(review_server):
    server = review_server
    first = held_cycle(server)
    server.client.log_interactions(domain_events(STRUGGLING, seed=5, prefix="later"))
    second = held_cycle(server)
    assert second["domains"][0]["version"] == "v0002"
    assert statuses(server) == [("billing", "v0001", "rejected"), ("billing", "v0002", "awaiting_review")]
    old = server.client.get_review("billing", "v0001")
    assert (old.status, old.decided_by) == ("superseded", f"cycle {second['cycle_id']}")
    assert old.reason.startswith("superseded by v0002") and old.cycle_id == first["cycle_id"]
    assert [r.version for r in server.client.list_reviews(status="awaiting")] == ["v0002"]


def test_a_caller_without_the_right_to_promote_may_not_decide(review_server, tmp_path):
    """The scope hook: a TuningServicer whose ``may_decide`` refuses everyone, on the same database."""
    held_cycle(review_server)
    cycles = CycleService(review_server.db, review_server.config.cycle, tmp_path / "adapters", tmp_path / "reports")
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_TuningServiceServicer_to_server(TuningServicer(review_server.db, cycles, lambda name: False), grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    try:
        with AdaptuneClient(f"127.0.0.1:{port}", timeout=30) as client:
            assert [r.status for r in client.list_reviews()] == ["awaiting"]  # reading is allowed
            for decide in (lambda: client.approve_candidate("billing", "v0001"),
                           lambda: client.promote_adapter("billing", "v0001"),
                           lambda: client.reject_candidate("billing", "v0001", "no")):
                with pytest.raises(ClientError) as error:
                    decide()
                assert error.value.code is grpc.StatusCode.PERMISSION_DENIED
                assert "'anonymous' may not promote adapters" in error.value.details
            with pytest.raises(ClientError) as error:  # nor promote or roll back by hand
                client.rollback_adapter("billing")
            assert error.value.code is grpc.StatusCode.PERMISSION_DENIED
    finally:
        grpc_server.stop(0)
    assert statuses(review_server) == [("billing", "v0001", "awaiting_review")]
