"""Evidence across nights: a continuation is also judged against the last champion the rows proved.

A candidate that continues the champion is promoted at ``continue_significance`` (0.2):
the rows need only fail to speak against it. Such a promotion moves the gate's reference
by a small step the rows did not prove, and the next candidate was then compared with
that step alone. On a 77-intent domain a night-3 candidate ahead of the night-2 champion
at p 0.24 was kept out, although against the night-1 champion that night 2 continued the
two nights' gains together were significant (p 0.013; README "A continuation's gate").

So every promotion records whether the rows proved it (``GateResult.proven``: better by
the margin, or significantly at ``significance``, or not a continuation at all), and a
continuation that is ahead of the champion, passed its audits and still failed is compared
once more with its **anchor**: the newest champion of its line that was proven. Better
than the anchor by the margin, or significantly at ``significance`` (the strict level, not
the continuation's), it is promoted and counts as proven. Several small nights' evidence
then adds up instead of starting over at every unproven promotion. The anchor's answers
are remembered in its folder (``tuner.cycle.remembered``), so mostly only the held-out
rows that arrived since it was gated are run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Mapping, Sequence

from tuner.adapters import Adapter
from tuner.cycle.config import CycleConfig
from tuner.cycle.paired import PairedComparison, compare_metric, proves
from tuner.cycle.remembered import evaluate_remembering
from tuner.data import Example
from tuner.evaluation import Metrics
from tuner.loading import BaseModel
from tuner.registry import AdapterRegistry

if TYPE_CHECKING:
    from tuner.cycle.gate import GateResult

# A line of unproven promotions longer than this is not walked further (no anchor).
MAX_WALK = 64


@dataclass(frozen=True)
class AnchorComparison:
    """The candidate against its anchor on the same held-out rows."""

    version: str
    reference: Metrics
    gain: float
    paired: PairedComparison
    significance: float
    proven: bool
    reused: int = 0

    def to_json(self) -> dict:
        return {"version": self.version, **self.reference.overall, "gain": self.gain, "paired": self.paired.to_json(),
                "significance": self.significance, "proven": self.proven, "reused_rows": self.reused}


def anchor_version(registry: AdapterRegistry, domain: str, champion_version: str | None) -> str | None:
    """The newest proven champion of the champion's line, when the champion itself was not proven.

    Walks back from the champion through the champions each unproven promotion was compared
    with. A gate without ``proven`` (written before it existed) counts as proven. A version
    the registry does not have, a reference that is not a champion, or a loop ends the walk
    without an anchor.
    """
    version, seen = champion_version, set()
    while version is not None and version not in seen and len(seen) < MAX_WALK:
        seen.add(version)
        try:
            gate = registry.get(domain, version).metrics.get("gate") or {}
        except LookupError:
            return None
        if gate.get("proven", True) is not False:
            return None if version == champion_version else version
        reference = gate.get("reference") or {}
        if reference.get("kind") != "champion" or not reference.get("version"):
            return None
        version = str(reference["version"])
    return None


def worth_anchoring(verdict: GateResult, config: CycleConfig) -> bool:
    """Kept only because its gain over the champion it continues was too small to prove."""
    return (config.anchor_evidence and not verdict.promote and verdict.continues_champion and verdict.gain > 0
            and all(audit.passed for audit in verdict.audits))


def compare_with_anchor(
    base: BaseModel, test: Sequence[Example], verdict: GateResult, anchor: Adapter, version: str, config: CycleConfig,
    anchor_known: Mapping[str, str] | None = None,
) -> GateResult:
    """``verdict`` judged once more against the anchor ``version``: promoted when proven against it.

    ``verdict``: the gate's result against the champion (``worth_anchoring``); its candidate's
    metrics carry its answers on ``test``, so only the anchor runs.
    ``anchor_known``: the anchor's remembered answers by event id. Rows weigh what they
    weighed in ``verdict`` (``GateResult.weighting``).
    """
    theirs, reused = evaluate_remembering(base, test, anchor, anchor_known, batch_size=64,
                                          max_length=config.train.max_length, allow_unseen=True)
    metric = config.metric
    weights = verdict.weighting.of(test) if verdict.weighting else None
    ours, reference, paired = compare_metric(verdict.candidate, theirs, test, metric, weights)
    gain = ours - reference
    proven = proves(gain, paired, config.margin, config.significance)
    name = f"weighted {metric}" if weights else metric
    against = (f"against {version}, the last proven champion of its line: {name} {ours:.4f} "
               f"vs {reference:.4f} ({gain:+.4f}), better on {paired.wins} rows, worse on {paired.losses} "
               f"(sign test p={paired.p_value:.3g}, significance {config.significance:g})")
    comparison = AnchorComparison(version, theirs, gain, paired, config.significance, proven, reused)
    if not proven:
        return replace(verdict, anchor=comparison, reason=f"{verdict.reason}; {against}: not proven either")
    passed = ", ".join(f"{a.attribute} gap {a.gap:.3f}" for a in verdict.audits) or "no attributes"
    head = verdict.reason.split(": not better by the margin", 1)[0]
    reason = (f"{head}: ahead of the champion it continues; {against}: proven over the nights since; "
              f"bias audit passed ({passed})")
    return replace(verdict, anchor=comparison, promote=True, proven=True, reason=reason)
