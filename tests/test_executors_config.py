"""Executor settings and refusals: every bad value names its field; nothing runs."""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import threading

import pytest

from server.executor_args import add_executor_arguments, executor_config_from_args
from tuner.cycle.config import CycleConfig
from tuner.cycle.planning import DomainData, DomainPlan
from tuner.data import DataSplit
from tuner.executors.base import DomainJob, JobSpecError, check_picklable, default_runner
from tuner.executors.config import ExecutorConfig
from tuner.executors.factory import make_executor


def parse(*argv: str) -> ExecutorConfig:
    parser = argparse.ArgumentParser()
    add_executor_arguments(parser)
    return executor_config_from_args(parser.parse_args(list(argv)))


def test_the_server_default_is_a_worker_process_and_flags_choose_another():
    assert ExecutorConfig().kind == "process" and parse().kind == "process"
    config = parse("--executor", "ray", "--ray-address", "10.0.0.5:6379", "--job-retries", "3")
    assert (config.kind, config.ray_address, config.max_retries) == ("ray", "10.0.0.5:6379", 3)
    assert parse("--executor", "ray", "--ray-address", "auto").ray_address == "auto"
    assert ExecutorConfig().worker_idle_priority and not parse("--no-worker-idle-priority").worker_idle_priority


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only")
def test_the_process_worker_runs_on_idle_cpu_time_only_unless_told_otherwise():
    for idle, policy in ((True, os.SCHED_IDLE), (False, os.SCHED_OTHER)):
        executor = make_executor(ExecutorConfig(kind="process", worker_idle_priority=idle))
        executor.init()
        try:
            pool = executor._live_pool()
            assert pool.submit(os.getpid).result(timeout=120) > 0  # the worker has started and ran its initializer
            (pid,) = executor.worker_pids()
            assert os.sched_getscheduler(pid) == policy
            assert os.getpriority(os.PRIO_PROCESS, pid) == ExecutorConfig().worker_nice
        finally:
            executor.finalize()


@pytest.mark.parametrize(
    "values, field",
    [
        ({"kind": "spark"}, "executor"),
        ({"kind": "ray", "ray_address": "no-port"}, "ray_address"),
        ({"kind": "ray", "ray_address": "host:99999"}, "ray_address"),
        ({"kind": "process", "ray_address": "auto"}, "ray_address"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"cpus_per_job": 0}, "cpus_per_job"),
        ({"gpus_per_job": -0.5}, "gpus_per_job"),
        ({"torch_threads": 1.5}, "torch_threads"),
        ({"worker_nice": 20}, "worker_nice"),
        ({"worker_nice": -1}, "worker_nice"),
        ({"worker_idle_priority": "yes"}, "worker_idle_priority"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(values, field):
    with pytest.raises(ValueError, match=field):
        ExecutorConfig(**values)


def test_the_serve_flags_refuse_an_unknown_executor_and_a_bad_address():
    with pytest.raises(ValueError, match="executor must be one of"):
        parse("--executor", "threads")
    with pytest.raises(ValueError, match="ray_address"):
        parse("--executor", "ray", "--ray-address", "http://x")


def test_without_ray_installed_the_ray_executor_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray gives
    with pytest.raises(RuntimeError, match=r"pip install adaptune\[ray\]"):
        make_executor(ExecutorConfig(kind="ray"))
    with pytest.raises(ValueError, match=r"pip install adaptune\[ray\]"):
        parse("--executor", "ray")


def billing_plan() -> DomainPlan:
    return DomainPlan("billing", 1, DomainData(DataSplit([], [], []), frozenset()), (1,), ("attention",), 0.5, 0.9)


def test_an_unpicklable_job_spec_is_refused_before_it_is_submitted(tmp_path):
    config, plan = CycleConfig(), billing_plan()
    job = DomainJob("c1", (0, 1), config, plan, {"parent": threading.Lock()}, str(tmp_path), str(tmp_path))  # type: ignore[dict-item]
    with pytest.raises(JobSpecError, match="job for 'billing': field promoted_here cannot be pickled"):
        check_picklable(job, default_runner())
    with pytest.raises(JobSpecError, match="runner"):
        check_picklable(job, lambda job, base: None)
    ok = DomainJob("c1", (0, 1), config, plan, {}, str(tmp_path), str(tmp_path))
    check_picklable(ok, default_runner())
    assert pickle.loads(pickle.dumps(ok)) == ok
