"""The smaller model a variant is distilled into.

Either another model (e.g. ``minilm-l6`` for a ``smollm2-135m`` teacher), or the
teacher's own base with only its first layers kept (a private copy: the shared base
is never cut). Either may be cut to ``keep_layers``.
"""

from __future__ import annotations

from torch import nn

from tuner.architectures import find_layers
from tuner.loading import BaseModel, load_base

SAME = "same"


def truncate(base: BaseModel, keep_layers: int) -> BaseModel:
    """Keep the first ``keep_layers`` transformer blocks of ``base`` (modified in place)."""
    total = base.num_layers
    if isinstance(keep_layers, bool) or not isinstance(keep_layers, int) or not 1 <= keep_layers <= total:
        raise ValueError(f"student_layers must be an integer in 1..{total} for {base.name!r}, got {keep_layers!r}")
    if keep_layers == total:
        return base
    path, layers = find_layers(base.model)
    parent_name, _, attribute = path.rpartition(".")
    parent = base.model.get_submodule(parent_name) if parent_name else base.model
    setattr(parent, attribute, nn.ModuleList(list(layers)[:keep_layers]))
    base.model.config.num_hidden_layers = keep_layers
    if getattr(base.model.config, "layer_types", None):
        base.model.config.layer_types = list(base.model.config.layer_types)[:keep_layers]
    base.name = f"{base.name}[:{keep_layers}]"
    return base


def build_student(
    student: str, teacher_base: str, task: str, keep_layers: int | None = None, *, device: str = "auto"
) -> BaseModel:
    """Load the student (``same``: a fresh copy of the teacher's base) and cut it to ``keep_layers``."""
    if not isinstance(student, str) or not student.strip():
        raise ValueError(f"student must be a catalog name, a checkpoint folder or {SAME!r}, got {student!r}")
    if student == SAME and keep_layers is None:
        raise ValueError("a student of the same model needs student_layers (fewer layers than the teacher)")
    base = load_base(teacher_base if student == SAME else student, task, device=device)
    if student == SAME and keep_layers >= base.num_layers:
        raise ValueError(
            f"student_layers must be fewer than the teacher's {base.num_layers} layers to make a smaller student, "
            f"got {keep_layers!r}"
        )
    return truncate(base, keep_layers) if keep_layers is not None else base
