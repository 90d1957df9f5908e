"""Distillation of a variant into a smaller student on the teacher's outputs; ``adaptune distill``."""

from __future__ import annotations

import json

import pytest

from recsys.store import open_database
from server.cli import main
from tests.fixtures.toy_data import toy_interactions
from tests.serving_support import champion, one_torch_thread  # noqa: F401 (fixture)
from tests.test_tuner_cli import write_jsonl
from tuner.catalog import UnknownModelError
from tuner.config import TrainConfig
from tuner.data import DataSplit, split_interactions
from tuner.errors import EmptyTrainingSetError, TuningError
from tuner.evaluation import evaluate
from tuner.registry import AdapterRegistry
from tuner.serving.compare import compare
from tuner.serving.distill import DistillConfig, distill, save_student
from tuner.serving.export import adapter_runner, load_export, read_export_info
from tuner.training import train_adapter

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPLIT = split_interactions(toy_interactions(240, seed=5), validation=0.15, test=0.25)
STUDENT = DistillConfig(student="same", student_layers=1, train=TrainConfig(epochs=4, lr=1e-2, batch_size=16, progress=False))


@pytest.fixture(scope="module")
def teacher(bert_classifier, one_torch_thread):
    config = TrainConfig(epochs=3, lr=1e-2, batch_size=16, progress=False)
    return train_adapter(bert_classifier, SPLIT.train, SPLIT.validation, layers=[0, 1], config=config).adapter


def test_a_fewer_layer_student_learns_the_teachers_answers_and_is_compared_on_held_out_gold(bert_classifier, teacher, tmp_path):
    outcome = distill(bert_classifier, teacher, SPLIT, STUDENT)
    report = outcome.report
    assert (report.teacher_layers, report.student_layers) == (2, 1) and report.student_params < report.teacher_params
    assert report.n_train == len(SPLIT.train) and report.n_test == len(SPLIT.test) and report.train_steps > 0
    assert bert_classifier.num_layers == 2  # the shared teacher base was not cut

    teacher_accuracy = evaluate(bert_classifier, SPLIT.test, teacher, allow_unseen=True)["accuracy"]
    student_accuracy = evaluate(outcome.student_base, SPLIT.test, outcome.student, allow_unseen=True)["accuracy"]
    assert report.comparison.reference_accuracy == pytest.approx(teacher_accuracy)
    assert report.comparison.candidate_accuracy == pytest.approx(student_accuracy)
    assert report.comparison.agreement >= 0.5  # it learned the teacher, not noise (4 labels: chance is ~0.25)

    folder = save_student(outcome, tmp_path / "student", domain="banking", teacher_version="v0001")
    info = read_export_info(folder)
    assert (info.kind, info.domain, info.version) == ("distilled", "banking", "v0001")
    assert info.details["report"]["student_layers"] == 1 and (folder / "learning_curve.png").stat().st_size > 0
    exported = load_export(folder)
    texts = [e.text for e in SPLIT.test]
    same = compare(adapter_runner(outcome.student_base, outcome.student), exported.runner(), texts)
    assert same.agreement == 1.0 and same.max_abs_logit_diff < 1e-4


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        (DistillConfig(student="same"), ValueError, "a student of the same model needs student_layers"),
        (DistillConfig(student="same", student_layers=2), ValueError, "fewer than the teacher's 2 layers"),
        (DistillConfig(student="same", student_layers=5), ValueError, "fewer than the teacher's 2 layers"),
        (DistillConfig(student="no-such-model"), UnknownModelError, "'no-such-model' is neither a catalog name"),
    ],
)
def test_bad_students_are_refused_before_training(bert_classifier, teacher, config, error, message):
    with pytest.raises(error, match=message):
        distill(bert_classifier, teacher, SPLIT, config)


def test_empty_splits_are_refused(bert_classifier, teacher):
    with pytest.raises(EmptyTrainingSetError):
        distill(bert_classifier, teacher, DataSplit([], SPLIT.validation, SPLIT.test), STUDENT)
    with pytest.raises(TuningError, match="the test split is empty"):
        distill(bert_classifier, teacher, DataSplit(SPLIT.train, SPLIT.validation, []), STUDENT)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"student": ""}, "student must be a catalog name"),
        ({"student_layers": 0}, "student_layers must be a positive integer, got 0"),
        ({"train": {"epochs": 1}}, "train must be a TrainConfig"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ],
)
def test_distill_config_names_the_bad_field(fields, message):
    with pytest.raises(ValueError, match=message):
        DistillConfig(**fields)


def test_distill_command_trains_saves_and_reports(tmp_path, teacher, capsys):
    data = tmp_path / "events.jsonl"
    events = toy_interactions(150, seed=6, prefix="d")
    write_jsonl(data, events)
    db = open_database(tmp_path / "a.duckdb")
    champion(AdapterRegistry(db, tmp_path / "adapters"), teacher, "banking")
    db.close()
    common = ["--db", str(tmp_path / "a.duckdb"), "--adapters", str(tmp_path / "adapters"), "--data", str(data)]
    args = ["distill", "--domain", "banking", "--student", "same", "--student-layers", "1", "--epochs", "2", "--quiet"]

    assert main([*args, "--out", str(tmp_path / "s"), "--json", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["student_layers"] == 1 and out["size_ratio"] < 1
    assert out["comparison"]["n"] == len(split_interactions(events, validation=0.1, test=0.1).test)  # the default, as tune's
    assert load_export(tmp_path / "s").info.kind == "distilled"

    assert main(["distill", "--domain", "legal", "--student", "same", "--student-layers", "1", "--out", str(tmp_path / "t"), *common]) == 2
    assert "domain 'legal' has no champion adapter" in capsys.readouterr().err and not (tmp_path / "t").exists()
