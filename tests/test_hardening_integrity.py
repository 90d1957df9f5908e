"""Issue 13, defect 7: adapter files are hashed at registration and checked at load; tampered
weights fail their variant only (FAILED_PRECONDITION), and NaN scores are never served."""

from __future__ import annotations

import math

import grpc
import pytest
import torch
from safetensors.torch import load_file, save_file

from server.client import ClientError
from tests.serving_support import TEXTS, champion, random_adapter
from tests.test_serving_grpc import labels_alone, served  # noqa: F401 (fixture)
from tuner.integrity import folder_hashes, recorded_hashes, sha256_file

WEIGHTS = "adapter_model.safetensors"


def test_registration_records_a_sha256_per_file(served):
    _, world = served
    record = world.records["legal"]
    recorded = recorded_hashes(world.db, "legal", record.version)
    assert WEIGHTS in recorded and recorded == folder_hashes(record.path)
    assert recorded[WEIGHTS] == sha256_file(record.path / WEIGHTS)


def test_tampered_weights_are_failed_precondition_for_that_variant_only(served):
    live, world = served
    weights_path = world.records["legal"].path / WEIGHTS
    tensors = load_file(str(weights_path))
    save_file({name: tensor * 50 for name, tensor in tensors.items()}, str(weights_path))  # still a valid file

    with pytest.raises(ClientError) as caught:
        live.client.predict("lawyer1", TEXTS[:4], domain="legal")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert f"failed its integrity check: {WEIGHTS} does not match the sha256" in caught.value.details
    assert str(world.records["legal"].path) not in caught.value.details
    answer = live.client.predict("u2", TEXTS[:4], domain="banking")
    assert [p.label for p in answer.predictions] == labels_alone(world, "banking")


def test_non_finite_scores_are_never_served(served):
    live, world = served
    broken = random_adapter(world.base, layers=[0], seed=7)
    with torch.no_grad():
        for name, param in broken.model.named_parameters():
            if "lora_B" in name:
                param.fill_(float("nan"))
    champion(world.registry, broken, "travel")  # registered as it is: its hashes match

    with pytest.raises(ClientError) as caught:
        live.client.predict("u2", TEXTS[:4], domain="travel")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "non-finite scores" in caught.value.details
    answer = live.client.predict("u2", TEXTS[:4], domain="banking")
    assert all(math.isfinite(p.score) for p in answer.predictions)
