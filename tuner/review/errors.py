"""Review errors: a decision the review's state or the domain's champion no longer allows."""

from __future__ import annotations


class ReviewStateError(RuntimeError):
    """The review was already decided, or the champion it was compared against changed."""
