"""``--executor`` and ``--ray-address``: where a cycle's per-domain jobs run (``serve`` uses them)."""

from __future__ import annotations

import argparse

from tuner.executors.config import KINDS, RAY_INSTALL_HINT, ExecutorConfig


def add_executor_arguments(group: argparse._ActionsContainer) -> None:
    defaults = ExecutorConfig()
    group.add_argument("--executor", default=defaults.kind, metavar="|".join(KINDS),
                       help=f"where per-domain jobs run: a spawned worker process (default), inline in the server, "
                            f"or Ray tasks ({RAY_INSTALL_HINT})")  # fmt: skip
    group.add_argument("--ray-address", default="", metavar="auto|HOST:PORT",
                       help="Ray cluster for --executor ray (default: start a local one)")
    group.add_argument("--job-retries", type=int, default=defaults.max_retries,
                       help=f"times a failed per-domain job runs again (default {defaults.max_retries})")
    group.add_argument("--worker-nice", type=int, default=defaults.worker_nice,
                       help=f"CPU niceness 0-19 of the process executor's worker (default {defaults.worker_nice})")
    group.add_argument("--worker-idle-priority", action=argparse.BooleanOptionalAction, default=defaults.worker_idle_priority,
                       help="the process executor's worker runs only on CPU time the server leaves idle (Linux SCHED_IDLE)")
    group.add_argument("--cpus-per-job", type=int, default=defaults.cpus_per_job,
                       help=f"CPUs (and torch threads) per job (default {defaults.cpus_per_job})")


def executor_config_from_args(args: argparse.Namespace) -> ExecutorConfig:
    """The validated config; ValueError naming the field (executor, ray_address, ...) otherwise.

    Ray's presence is checked here too, so ``serve --executor ray`` fails at start, not at the first cycle.
    """
    config = ExecutorConfig(kind=args.executor, ray_address=args.ray_address, max_retries=args.job_retries,
                            cpus_per_job=args.cpus_per_job, worker_nice=args.worker_nice,
                            worker_idle_priority=args.worker_idle_priority)  # fmt: skip
    if config.kind == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ValueError(f"executor 'ray' needs Ray, which is not installed: {RAY_INSTALL_HINT}")
    return config
