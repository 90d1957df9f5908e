"""Merged and int8 exports of a registered variant, checked against the unmerged variant; ``adaptune export``."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from recsys.store import open_database
from server.cli import main
from tests.fixtures.toy_data import toy_interactions
from tests.serving_support import TEXTS, champion, random_adapter, one_torch_thread  # noqa: F401 (fixture)
from tests.test_tuner_cli import write_jsonl
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.errors import AdapterNotFoundError
from tuner.loading import load_base
from tuner.registry import AdapterRegistry
from tuner.serving.export import ExportError, adapter_runner, load_export, read_export_info
from tuner.serving.export_variant import export_variant
from tuner.training import train_adapter

TEST_SET = split_interactions(toy_interactions(240, seed=9, prefix="x"), validation=0.0, test=0.99).test

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(bert_classifier, one_torch_thread):
    split = split_interactions(toy_interactions(200), validation=0.15, test=0.0)
    config = TrainConfig(epochs=3, lr=1e-2, batch_size=16, progress=False)
    return train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config).adapter


@pytest.fixture
def registry(tmp_path, trained):
    db = open_database(tmp_path / "adaptune.duckdb")
    registry = AdapterRegistry(db, tmp_path / "adapters")
    champion(registry, trained, "banking")
    yield registry
    db.close()


def test_a_merged_export_equals_the_unmerged_variant(registry, bert_classifier, tmp_path):
    outcome = export_variant(registry, "banking", tmp_path / "merged", kind="merged", examples=TEST_SET)
    report = outcome.report
    assert report.n == len(TEST_SET) and report.agreement == 1.0
    assert report.max_abs_logit_diff < 1e-4
    assert report.candidate_accuracy == report.reference_accuracy and report.reference_accuracy > 0.5

    info = read_export_info(outcome.folder)
    assert (info.kind, info.domain, info.version, info.lineage) == ("merged", "banking", "v0001", ("banking@v0001",))
    plain = load_base(str(outcome.folder), "classification")  # a plain transformers checkpoint
    assert not any("lora" in name for name, _ in plain.model.named_parameters())
    assert not any(p.suffix in {".bin", ".pt", ".pkl"} for p in outcome.folder.iterdir())
    assert json.loads((outcome.folder / "export_report.json").read_text())["agreement"] == 1.0
    loaded = registry.load(bert_classifier, "banking")
    merged_logits = load_export(outcome.folder).runner().logits(TEXTS)
    assert torch.allclose(merged_logits, adapter_runner(bert_classifier, loaded).logits(TEXTS), atol=1e-4)


def test_an_int8_export_agrees_on_at_least_95_percent_of_labels(registry, tmp_path):
    outcome = export_variant(registry, "banking", tmp_path / "int8", kind="int8", examples=TEST_SET)
    assert outcome.report.n >= 200 and outcome.report.agreement >= 0.95
    assert abs(outcome.report.accuracy_delta) <= 0.05
    assert outcome.info.quantization == "dynamic-int8"
    with safe_open(str(outcome.folder / "model_int8.safetensors"), framework="pt") as weights:
        int8 = [k for k in weights.keys() if k.endswith(".weight_int8")]
        assert int8 and all(weights.get_tensor(k).dtype == torch.int8 for k in int8)
    reloaded = load_export(outcome.folder)
    assert isinstance(reloaded.model.encoder.layer[0].attention.self.query, torch.ao.nn.quantized.dynamic.Linear)


def test_a_generation_variant_exports_merged_with_the_same_greedy_texts(tmp_path, llama_generator):
    db = open_database(tmp_path / "gen.duckdb")
    registry = AdapterRegistry(db, tmp_path / "adapters")
    champion(registry, random_adapter(llama_generator, layers=[1, 2], seed=4, scale=0.3), "banking")
    examples = split_interactions(toy_interactions(12, generation=True), validation=0.0, test=0.99).test
    outcome = export_variant(registry, "banking", tmp_path / "gen", kind="merged", examples=examples)
    assert outcome.report.agreement == 1.0 and outcome.report.max_abs_logit_diff is None
    assert outcome.report.reference_token_f1 == outcome.report.candidate_token_f1
    db.close()


def test_bad_exports_are_refused_before_anything_is_written(registry, tmp_path):
    with pytest.raises(ValueError, match="kind must be one of"):
        export_variant(registry, "banking", tmp_path / "a", kind="fp16", examples=TEST_SET)
    with pytest.raises(AdapterNotFoundError, match="domain 'legal' has no champion"):
        export_variant(registry, "legal", tmp_path / "b", kind="merged", examples=TEST_SET)
    with pytest.raises(AdapterNotFoundError, match="no adapter 'v0009'"):
        export_variant(registry, "banking", tmp_path / "c", kind="merged", examples=TEST_SET, version="v0009")
    with pytest.raises(ValueError, match="no examples"):
        export_variant(registry, "banking", tmp_path / "d", kind="merged", examples=[])
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="taken"):
        export_variant(registry, "banking", tmp_path / "taken", kind="merged", examples=TEST_SET)
    assert {p.name for p in tmp_path.iterdir()} - {"adaptune.duckdb.wal"} == {"adapters", "adaptune.duckdb", "taken"}
    assert list((tmp_path / "taken").iterdir()) == []


def test_broken_export_folders_are_refused_by_name(registry, tmp_path):
    with pytest.raises(ExportError, match="is not an adaptune export"):
        load_export(tmp_path)
    outcome = export_variant(registry, "banking", tmp_path / "int8", kind="int8", examples=TEST_SET[:20])
    weights = outcome.folder / "model_int8.safetensors"
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    save_file({k: v for k, v in tensors.items() if "layer.1.output.dense" not in k}, str(weights))
    with pytest.raises(ValueError, match="lacks the weights of 1 Linear modules, e.g. 'encoder.layer.1.output.dense'"):
        load_export(outcome.folder)
    weights.unlink()
    with pytest.raises(ExportError, match="has no model_int8.safetensors"):
        load_export(outcome.folder)


EVENTS = toy_interactions(120, seed=3, prefix="c")
HELD_OUT = len(split_interactions(EVENTS, validation=0.1, test=0.1).test)  # the command's default fractions (tune's too)


@pytest.fixture
def cli_workspace(tmp_path, trained):
    data = tmp_path / "events.jsonl"
    write_jsonl(data, EVENTS)
    db = open_database(tmp_path / "a.duckdb")
    champion(AdapterRegistry(db, tmp_path / "adapters"), trained, "banking")
    db.close()  # the command opens the file read-only
    common = ["--db", str(tmp_path / "a.duckdb"), "--adapters", str(tmp_path / "adapters"), "--data", str(data)]
    return tmp_path, common


def test_export_command_writes_the_export_and_reports_agreement(cli_workspace, capsys):
    tmp_path, common = cli_workspace
    assert main(["export", "--domain", "banking", "--int8", "--out", str(tmp_path / "e"), "--json", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["info"]["kind"] == "int8" and out["report"]["n"] == HELD_OUT and out["report"]["agreement"] >= 0.9
    assert main(["export", "--domain", "banking", "--merged", "--out", str(tmp_path / "m"), *common]) == 0
    text = capsys.readouterr().out
    assert "exported banking v0001 (merged)" in text and "agreement with the unmerged variant 1.0000" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--domain", "legal", "--merged"], "domain 'legal' has no champion adapter"),
        (["--domain", "banking", "--merged", "--limit", "0"], "--limit must be >= 1, got 0"),
        (["--domain", "banking", "--merged", "--data", "nowhere.jsonl"], "--data 'nowhere.jsonl' does not exist"),
    ],
)
def test_export_command_refuses_bad_arguments_with_one_line(cli_workspace, capsys, extra, message):
    tmp_path, common = cli_workspace
    assert main(["export", "--out", str(tmp_path / "x"), *common, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_export_command_refuses_an_existing_out_and_a_missing_db(cli_workspace, capsys):
    tmp_path, common = cli_workspace
    (tmp_path / "x").mkdir()
    assert main(["export", "--domain", "banking", "--merged", "--out", str(tmp_path / "x"), *common]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "--domain", "banking", "--merged", "--out", str(tmp_path / "y"), "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err and list((tmp_path / "x").iterdir()) == []
