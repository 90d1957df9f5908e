"""Distil a variant into a smaller student on the teacher's own outputs for a domain.

The teacher (base + adapter) labels the domain's training and validation inputs (or
writes the responses, for generation); the student (``students``) gets LoRA on all of
its layers and a head over the teacher's labels, trained on those outputs with the
usual loop (``tuner.training``: early stopping, progress bar). Hard targets: the
student learns the teacher's answers, not its probabilities. The report compares
both on held-out gold examples: accuracy (token F1 for generation) and agreement.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

from tuner.adapters import Adapter
from tuner.config import TrainConfig
from tuner.data import DataSplit, Example, drop_unseen, require_training_examples
from tuner.errors import TuningError
from tuner.loading import BaseModel
from tuner.predict import predict
from tuner.reports.learning_curve import plot_learning_curve
from tuner.serving.compare import AgreementReport, compare
from tuner.serving.export import ExportInfo, adapter_runner, merged_copy, write_export
from tuner.serving.students import SAME, build_student
from tuner.training import TrainResult, train_adapter

CURVE_FILE = "learning_curve.png"
REPORT_FILE = "distill_report.json"


@dataclass(frozen=True)
class DistillConfig:
    """``student``: a catalog name, a checkpoint folder, or ``same`` (the teacher's base);
    ``student_layers``: keep only the student's first N layers (required for ``same``)."""

    student: str = "minilm-l6"
    student_layers: int | None = None
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3, lr=2e-3, batch_size=32))
    batch_size: int = 32

    def __post_init__(self) -> None:
        if not isinstance(self.student, str) or not self.student.strip():
            raise ValueError(f"student must be a catalog name, a checkpoint folder or {SAME!r}, got {self.student!r}")
        layers = self.student_layers
        if layers is not None and (isinstance(layers, bool) or not isinstance(layers, int) or layers < 1):
            raise ValueError(f"student_layers must be a positive integer, got {layers!r}")
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")


@dataclass(frozen=True)
class DistillReport:
    teacher: str
    student: str
    task: str
    n_train: int
    n_validation: int
    n_test: int
    teacher_params: int
    student_params: int
    teacher_layers: int
    student_layers: int
    # Held-out gold accuracy (exact match for generation) of each, and their agreement.
    comparison: AgreementReport
    train_steps: int
    train_seconds: float

    @property
    def size_ratio(self) -> float:
        return self.student_params / self.teacher_params

    def to_json(self) -> dict:
        data = asdict(self)
        data["comparison"] = self.comparison.to_json()
        data["size_ratio"] = self.size_ratio
        return data


@dataclass
class DistillOutcome:
    student_base: BaseModel
    student: Adapter
    result: TrainResult
    report: DistillReport


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def teacher_examples(teacher_base: BaseModel, teacher: Adapter, examples: Sequence[Example], *, batch_size: int, max_length: int) -> list[Example]:
    """The examples relabelled with the teacher's answers (its label, or its greedy response)."""
    if not examples:
        return []
    answers = predict(teacher_base, [e.text for e in examples], teacher, batch_size=batch_size, max_length=max_length)
    target = (lambda p: p.label) if teacher_base.task == "classification" else (lambda p: p.text)
    return [replace(e, target=target(answer)) for e, answer in zip(examples, answers)]


def distill(
    teacher_base: BaseModel, teacher: Adapter, split: DataSplit, config: DistillConfig = DistillConfig(), *, teacher_name: str = ""
) -> DistillOutcome:
    """Train the student on the teacher's outputs for ``split.train`` and compare on ``split.test``.

    Raises EmptyTrainingSetError / TuningError (no test examples) and the student's
    loading errors (unknown model, bad student_layers) before any training.
    """
    require_training_examples(split.train)
    if not split.test:
        raise TuningError("the test split is empty; the student cannot be compared with the teacher")
    if teacher.info.task != teacher_base.task:
        raise TuningError(f"teacher adapter task {teacher.info.task!r} does not match its base's {teacher_base.task!r}")
    student_base = build_student(
        config.student, teacher_base.name, teacher_base.task, config.student_layers, device=teacher_base.device.type
    )
    max_length = config.train.max_length
    train = teacher_examples(teacher_base, teacher, split.train, batch_size=config.batch_size, max_length=max_length)
    validation = teacher_examples(teacher_base, teacher, split.validation, batch_size=config.batch_size, max_length=max_length)
    labels = None
    if teacher_base.task == "classification":
        labels = sorted({e.target for e in train})
        validation, _ = drop_unseen(labels, validation)
    result = train_adapter(
        student_base,
        train,
        validation,
        layers=list(range(student_base.num_layers)),
        config=config.train,
        labels=labels,
    )
    comparison = compare(
        adapter_runner(teacher_base, teacher, max_length=max_length, batch_size=config.batch_size),
        adapter_runner(student_base, result.adapter, max_length=max_length, batch_size=config.batch_size),
        [e.text for e in split.test],
        [e.target for e in split.test],
    )
    report = DistillReport(
        teacher=teacher_name or teacher_base.name,
        student=student_base.name,
        task=teacher_base.task,
        n_train=len(train),
        n_validation=len(validation),
        n_test=len(split.test),
        teacher_params=_params(teacher_base.model),
        student_params=_params(student_base.model),
        teacher_layers=teacher_base.num_layers,
        student_layers=student_base.num_layers,
        comparison=comparison,
        train_steps=result.steps,
        train_seconds=result.train_seconds,
    )
    return DistillOutcome(student_base, result.adapter, result, report)


def save_student(outcome: DistillOutcome, folder: str | Path, *, domain: str = "", teacher_version: str = "") -> Path:
    """The student merged into a standalone export (kind ``distilled``) with its report and learning curve."""
    base, student = outcome.student_base, outcome.student
    info = ExportInfo(
        kind="distilled",
        task=base.task,
        family=base.family,
        pooling=base.pooling,
        labels=student.labels,
        source_base_model=base.name,
        domain=domain,
        version=teacher_version,
        details={"report": outcome.report.to_json(), "train_config": copy.deepcopy(student.info.train_config)},
    )
    folder = write_export(Path(folder), merged_copy(base, student), base, student.head, info)
    (folder / REPORT_FILE).write_text(json.dumps(outcome.report.to_json(), indent=1))
    history = outcome.result
    plot_learning_curve(history.step_losses, history.history, folder / CURVE_FILE, title=f"student {base.name} on {domain or 'teacher'} outputs")
    return folder
