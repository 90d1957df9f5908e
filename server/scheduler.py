"""The built-in nightly schedule: ``adaptune serve --nightly-at 02:00`` runs a cycle each day.

The schedule wakes at least once a minute and compares the local wall clock with the
next due time, so daylight-saving shifts and clock changes cannot make it skip a night
or sleep for a day. A cycle still running at the next due time (or started by hand) is
not doubled: that night is skipped and logged.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, time, timedelta
from typing import Callable

from tuner.cycle.errors import CycleBusyError

log = logging.getLogger("adaptune.scheduler")

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_SLEEP_SECONDS = 60.0


def parse_time_of_day(text: str) -> time:
    """``HH:MM`` (24-hour, local time) -> time; ValueError naming the value otherwise."""
    match = _TIME.match(text or "")
    if not match:
        raise ValueError(f"nightly_at must be a local time HH:MM (00:00-23:59), got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def next_run(now: datetime, at: time) -> datetime:
    """The first ``at`` strictly after ``now`` (local, naive)."""
    due = datetime.combine(now.date(), at)
    return due if due > now else due + timedelta(days=1)


class NightlyScheduler:
    """Calls ``run()`` at ``at`` local time every day, in a daemon thread, until ``stop()``."""

    def __init__(self, at: time, run: Callable[[], object], clock: Callable[[], datetime] = datetime.now) -> None:
        self.at = at
        self._run = run
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.due = next_run(clock(), at)
        self.runs = 0

    def tick(self, now: datetime) -> bool:
        """Run when ``now`` reached the due time, then schedule the next day; True when it ran."""
        if now < self.due:
            return False
        self.due = next_run(now, self.at)
        self.runs += 1
        try:
            self._run()
        except CycleBusyError as busy:
            log.warning("nightly cycle skipped: %s", busy)
        except Exception:  # noqa: BLE001 - one failed night must not end the schedule
            log.exception("nightly cycle failed; the next one runs at %s", self.due)
        return True

    def start(self) -> None:
        log.info("nightly cycle at %s local time; next %s", self.at.strftime("%H:%M"), self.due)
        self._thread = threading.Thread(target=self._loop, name="adaptune-nightly", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            wait = max(0.0, min(MAX_SLEEP_SECONDS, (self.due - self._clock()).total_seconds()))
            if self._stop.wait(wait):
                return
            self.tick(self._clock())

    def request_stop(self) -> None:
        """No new cycle from now on (returns at once)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling and wait for the thread; cancel a running cycle first (CycleService.stop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
