"""Why a cycle did not run or did not finish; the server maps each to one status code."""

from __future__ import annotations

from recsys.cycles import CycleStateError


class CycleBusyError(CycleStateError):
    """Another cycle is running (one at a time); the message names it."""

    def __init__(self, running_id: str) -> None:
        super().__init__(f"cycle {running_id!r} is already running; wait for it to finish (one cycle at a time)")
        self.running_id = running_id


class CycleCancelledError(RuntimeError):
    """The cycle was stopped before it committed (server shutting down); nothing was committed."""
