"""ExecutorConfig -> executor: the one place that knows every kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuner.executors.base import Executor, Runner
from tuner.executors.config import ExecutorConfig

if TYPE_CHECKING:
    from tuner.loading import BaseModel


def make_executor(config: ExecutorConfig, *, runner: Runner | None = None, base: "BaseModel | None" = None) -> Executor:
    """A new, not yet initialised executor; ``base`` is the caller's model (inline uses it)."""
    if config.kind == "inline":
        from tuner.executors.inline import InlineExecutor

        return InlineExecutor(config, runner, base=base)
    if config.kind == "process":
        from tuner.executors.process import ProcessExecutor

        return ProcessExecutor(config, runner)
    if config.kind == "ray":
        from tuner.executors.ray import RayExecutor, import_ray

        import_ray()  # a clear error now, not at the first job
        return RayExecutor(config, runner)
    raise ValueError(f"executor must be one of inline, process, ray, got {config.kind!r}")
