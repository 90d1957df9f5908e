"""Serving settings and Predict inputs: every bad value is refused with the field (and index) named."""

from __future__ import annotations

import pytest

from tuner.serving.config import ServingConfig
from tuner.serving.requests import GenerationOptions, check_inputs

CONFIG = ServingConfig(max_inputs=3, max_input_chars=10)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([], "inputs is empty"),
        (["a", "b", "c", "d"], "inputs has 4 texts; at most 3 per request"),
        (["ok", "x" * 11], r"inputs\[1\] has 11 characters; at most 10"),
        (["ok", "  "], r"inputs\[1\] is empty"),
        (["ok", 7], r"inputs\[1\] must be a string, got int"),
        ("a text", "inputs must be a list of texts"),
    ],
)
def test_bad_inputs_are_refused_naming_the_index(inputs, message):
    with pytest.raises(ValueError, match=message):
        check_inputs(inputs, CONFIG)


def test_good_inputs_come_back_as_a_list():
    assert check_inputs(("one", "x" * 10), CONFIG) == ["one", "x" * 10]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_model", " ", "base_model must be"),
        ("task", "translation", "task must be one of"),
        ("max_adapters", 0, "max_adapters must be a positive integer, got 0"),
        ("max_inputs", True, "max_inputs must be a positive integer, got True"),
        ("max_batch_rows", 2.5, "max_batch_rows must be a positive integer"),
        ("default_new_tokens", 999, r"default_new_tokens \(999\) must be <= max_new_tokens \(256\)"),
        ("lease_timeout_s", -1, "lease_timeout_s must be a finite number >= 0, got -1"),
        ("refresh_seconds", float("nan"), "refresh_seconds must be a finite number"),
    ],
)
def test_serving_config_names_the_bad_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        ServingConfig(**{field: value})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer, got 0"),
        ({"sample": "yes"}, "sample must be a bool"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63\)"),
        ({"temperature": 0.0}, "temperature must be a finite number > 0, got 0.0"),
    ],
)
def test_generation_options_name_the_bad_field(fields, message):
    with pytest.raises(ValueError, match=message):
        GenerationOptions(**fields)


def test_generation_options_above_the_servers_limit_are_refused():
    with pytest.raises(ValueError, match="max_new_tokens is 300; at most 256"):
        GenerationOptions(max_new_tokens=300).check(ServingConfig())
    assert GenerationOptions(max_new_tokens=256).check(ServingConfig()).max_new_tokens == 256
