"""What a client may learn about a failure: a short, stable message without internals.

Exception class names, file system paths and tracebacks stay in the server log. Errors the
client can act on (bad input, missing thing, OS condition) keep their meaning; anything
else becomes "internal error" with an incident id that points into the log.
"""

from __future__ import annotations

import logging
import re
import uuid

from recsys.cycles import CycleStateError
from recsys.ranking import RankingError
from tuner.cycle.errors import CycleCancelledError
from tuner.serving.errors import AdapterCapacityError, ServingPreconditionError

# An absolute POSIX path (at least two components) or a Windows drive path, e.g. inside quotes.
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:\\|/)(?:[^\s'\"/\\:,;()\[\]]+[/\\])+[^\s'\"/\\:,;()\[\]]*")
MAX_PUBLIC_CHARS = 500

# Failures a client caused or can act on; their message (cleaned) is shown.
EXPECTED: tuple[type[BaseException], ...] = (
    ValueError, LookupError, TimeoutError, NotImplementedError, OSError,
    CycleStateError, CycleCancelledError, RankingError, ServingPreconditionError, AdapterCapacityError,
)  # fmt: skip


def redact_paths(text: str) -> str:
    """Absolute paths shortened to ``.../<last component>``: the name helps, the layout stays private."""
    return _PATH.sub(lambda match: ".../" + re.split(r"[/\\]", match.group(0).rstrip("/\\"))[-1], text)


def public_message(exc: BaseException, limit: int = MAX_PUBLIC_CHARS) -> str:
    """The exception's message fit for a client: OS errors by their description only, paths
    shortened to their last component, cut to ``limit`` characters."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = redact_paths(str(exc)) or "error"
    return text if len(text) <= limit else text[:limit] + "..."


def incident(logger: logging.Logger, what: str, exc: BaseException) -> str:
    """Log ``exc`` with its traceback once, under a new incident id; the client's message."""
    incident_id = uuid.uuid4().hex[:12]
    logger.error("%s (incident %s)", what, incident_id, exc_info=exc)
    return f"internal error (incident {incident_id}); see the server log"


def describe_failure(logger: logging.Logger, what: str, exc: BaseException) -> str:
    """A stored/streamed failure message: the public message for expected errors, else an incident."""
    if isinstance(exc, EXPECTED) and type(exc) not in (KeyError, IndexError):
        logger.warning("%s: %s", what, exc)
        return public_message(exc)
    return incident(logger, what, exc)
