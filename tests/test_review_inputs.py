"""Expert review over a real gRPC server: domain review policies and bad review requests.

No cycle runs here (fast): every bad input gets INVALID_ARGUMENT or NOT_FOUND naming the
field, and nothing is stored or changed.
"""

from __future__ import annotations

import grpc
import pytest

from recsys.domains import get_domain
from server._proto.adaptune.v1 import interactions_pb2 as ipb
from server._proto.adaptune.v1 import interactions_pb2_grpc as ipb_grpc
from server._proto.adaptune.v1 import tuning_pb2 as pb
from server._proto.adaptune.v1 import tuning_pb2_grpc as pb_grpc
from server.client import ClientError


def test_a_domain_stores_its_review_policy_and_an_update_without_one_keeps_it(live_server):
    client = live_server.client
    assert client.upsert_domain("legal").review_policy == "auto"
    held = client.upsert_domain("contracts", review_policy="required_above", review_threshold=0.2)
    assert (held.review_policy, held.review_threshold) == ("required_above", 0.2)
    assert client.upsert_domain("legal", review_policy="required").review_policy == "required"
    # A later update that says nothing about review (e.g. a new description) keeps the policy.
    kept = client.upsert_domain("legal", description="law")
    assert (kept.description, kept.review_policy) == ("law", "required")
    stored = {d.name: (d.review_policy, d.review_threshold) for d in client.list_domains()}
    assert stored == {"legal": ("required", 0.0), "contracts": ("required_above", 0.2)}
    assert client.upsert_domain("contracts", review_policy="auto").review_threshold == 0.0


@pytest.mark.parametrize(
    ("policy", "threshold", "message"),
    [
        ("sometimes", 0.0, "review_policy must be one of ['auto', 'required', 'required_above'], got 'sometimes'"),
        ("required_above", 1.5, "review_threshold must be a share of changed held-out answers in [0, 1)"),
        ("required_above", -0.1, "review_threshold must be a share"),
        ("required", 0.3, "review_threshold applies only to review_policy 'required_above'; got 0.3"),
    ],
)
def test_a_bad_review_policy_is_refused_naming_the_field_and_nothing_is_stored(live_server, policy, threshold, message):
    live_server.client.upsert_domain("legal", review_policy="required")
    raw = ipb_grpc.InteractionServiceStub(grpc.insecure_channel(live_server.address))
    for name in ("legal", "newdomain"):
        domain = ipb.Domain(name=name, description="changed", review_policy=policy, review_threshold=threshold)
        with pytest.raises(grpc.RpcError) as error:
            raw.UpsertDomain(ipb.UpsertDomainRequest(domain=domain))
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert message in error.value.details()
    legal = get_domain(live_server.db, "legal")
    assert (legal.description, legal.review_policy, legal.review_threshold) == ("", "required", 0.0)
    assert get_domain(live_server.db, "newdomain") is None


@pytest.mark.parametrize(
    ("call", "request_message", "code", "message"),
    [
        ("GetReview", pb.GetReviewRequest(domain="legal", version="v0009"), grpc.StatusCode.NOT_FOUND,
         "no review of 'legal' version 'v0009'"),
        ("GetReview", pb.GetReviewRequest(domain="legal", version="v9"), grpc.StatusCode.INVALID_ARGUMENT,
         "version 'v9' is invalid"),
        ("GetReview", pb.GetReviewRequest(domain="Legal!", version="v0001"), grpc.StatusCode.INVALID_ARGUMENT,
         "domain 'Legal!' is invalid"),
        ("ListReviews", pb.ListReviewsRequest(status="pending"), grpc.StatusCode.INVALID_ARGUMENT,
         "status must be one of ['awaiting', 'approved', 'rejected', 'superseded'], got 'pending'"),
        ("ApproveCandidate", pb.ApproveCandidateRequest(domain="legal", version="v0001"), grpc.StatusCode.NOT_FOUND,
         "no review of 'legal' version 'v0001'"),
        ("ApproveCandidate", pb.ApproveCandidateRequest(domain="legal", version=""), grpc.StatusCode.INVALID_ARGUMENT,
         "version '' is invalid"),
        ("RejectCandidate", pb.RejectCandidateRequest(domain="legal", version="v0001", reason="  "),
         grpc.StatusCode.INVALID_ARGUMENT, "reason must say why the candidate is rejected"),
        ("RejectCandidate", pb.RejectCandidateRequest(domain="legal", version="v0001", reason="bad"),
         grpc.StatusCode.NOT_FOUND, "no review of 'legal' version 'v0001'"),
    ],
)
def test_bad_review_requests_get_the_right_status_naming_the_field(live_server, call, request_message, code, message):
    raw = pb_grpc.TuningServiceStub(grpc.insecure_channel(live_server.address))
    with pytest.raises(grpc.RpcError) as error:
        getattr(raw, call)(request_message)
    assert error.value.code() is code
    assert message in error.value.details()
    assert live_server.db.cursor().execute("SELECT count(*) FROM reviews").fetchone()[0] == 0


def test_the_client_raises_client_errors_and_lists_nothing_before_any_cycle(live_server):
    assert live_server.client.list_reviews() == []
    with pytest.raises(ClientError) as error:
        live_server.client.reject_candidate("legal", "v0001", "")
    assert error.value.code is grpc.StatusCode.INVALID_ARGUMENT and "reason" in error.value.details


def test_the_show_screen_puts_candidate_champion_and_gold_side_by_side_and_marks_wrong_answers():
    from datetime import datetime, timezone

    from server.commands.review import format_review
    from tuner.review.store import ReviewRecord

    evidence = {
        "gate": {"metric": "accuracy", "candidate": {"accuracy": 0.9, "n": 10}, "reference": {"kind": "champion", "accuracy": 0.7},
                 "gain": 0.2, "reason": "better", "audits": [{"attribute": "region", "metric": "accuracy", "gap": 0.1,
                                                              "bound": 0.25, "passed": True, "per_group": {"eu": 0.9, "us": 0.8}}]},
        "layers": [4, 5], "module_groups": ["attention"], "data_window": [10, 90], "n_test": 10, "n_changed": 2,
        "samples": [
            {"input": "freeze my card please, it was stolen on the train this morning", "candidate": "freeze_account",
             "champion": "report_lost", "gold": "freeze_account", "attributes": {}},
            {"input": "what do i owe", "candidate": "pay_bill", "champion": "bill_balance", "gold": "bill_balance", "attributes": {}},
        ],
    }  # fmt: skip
    review = ReviewRecord("banking", "v0002", "awaiting", "cycle-1", "v0001", "required", 0.0, 0.2, evidence,
                          datetime(2026, 11, 1, tzinfo=timezone.utc), None, None, None)
    lines = format_review(review).split("\n")
    assert "  accuracy         0.7000 -> 0.9000" in lines
    assert "  region: gap 0.100 (bound 0.25, passed) eu 0.900, us 0.800" in lines
    assert "trained: layers [4, 5] x attention, data seq 11..90" in lines
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("input"))
    table = lines[header:]
    assert [line[0] for line in table] == [" ", " ", " ", "!"]  # the wrapped first input, then the wrong answer
    # Columns line up: every "|" of a row sits where the header's does.
    bars = [i for i, c in enumerate(table[0]) if c == "|"]
    assert all([i for i, c in enumerate(line) if c == "|"] == bars for line in table)
    assert "freeze_account" in table[1] and "report_lost" in table[1] and "champion (v0001)" in table[0]


@pytest.mark.parametrize("hours", [0, -1.0, float("inf"), True, "72"])
def test_a_bad_review_max_age_is_refused_naming_the_field(hours):
    from tuner.cycle.config import CycleConfig

    with pytest.raises(ValueError, match="review_max_age_hours must be a finite number of hours > 0"):
        CycleConfig(review_max_age_hours=hours)
    assert CycleConfig.from_json({"review_max_age_hours": 0.5}).review_max_age_hours == 0.5
