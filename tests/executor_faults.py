"""Job runners that fail on purpose, importable by spawned workers and Ray workers.

Each wraps the real runner; the marker files live in the cycle's snapshot folder, which
every attempt of a job sees, so "the first attempt" is known across processes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tuner.executors.base import DomainJob
from tuner.executors.job import run_domain_job

STARTED = "started-{domain}"


def _first_attempt(job: DomainJob, name: str) -> bool:
    marker = Path(job.snapshot) / name.format(domain=job.domain)
    if marker.exists():
        return False
    marker.write_text(str(os.getpid()))
    return True


def raise_on_first_attempt(job: DomainJob, base=None):
    if _first_attempt(job, "raised-{domain}"):
        raise RuntimeError(f"injected failure of the first attempt for {job.domain}")
    return run_domain_job(job, base)


def always_raise(job: DomainJob, base=None):
    raise RuntimeError(f"injected failure for {job.domain}")


def hang_on_first_attempt(job: DomainJob, base=None):
    """The first attempt announces its pid and waits to be killed (kill -9 by the test)."""
    if _first_attempt(job, STARTED):
        time.sleep(600)
    return run_domain_job(job, base)
