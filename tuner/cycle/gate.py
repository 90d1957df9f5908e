"""The promotion gate: candidate against champion on the same held-out rows, then the bias audit.

Both are evaluated on exactly the domain's held-out split; a label one of them cannot
predict counts as a miss for it rather than dropping the row, so the rows stay the
same. Without a champion the reference is the base model (zero-shot over the
candidate's labels for classification). Promote only when every audit passes AND the
candidate is better: its primary metric beats the reference's by at least the margin,
or, under the margin, it wins significantly more of the rows where the two differ
(``tuner.cycle.paired``), which a large held-out set can show for gains under a point.

A candidate that continues the champion (trained from it, or from the line of kept
candidates that started at it, on everything it learned plus the new rows) is tested at
``continue_significance`` instead of ``significance``: it starts as the champion and has
seen more data, so the question is less "does it prove itself?" than "do the rows speak
against it?". At 0.05, candidates ahead by less than the margin were kept out night after
night although nearly all of them were better on a large independent test set (README
"Days benchmark", "A continuation's gate"). Such a promotion is not ``proven``; the next
continuation that fails against it may still be proven against the last champion that was
(``tuner.cycle.anchor``).

With row ``weights`` (``tuner.cycle.reweighting``: corrected rows counted for the wrong
answers users left uncorrected) the gain is the weighted one and the sign test weighted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from tuner.adapters import Adapter
from tuner.audit import AuditResult, bias_audit
from tuner.cycle.anchor import AnchorComparison
from tuner.cycle.config import CycleConfig
from tuner.cycle.paired import PairedComparison, compare_metric, proves
from tuner.cycle.reweighting import CorrectionWeights
from tuner.cycle.remembered import evaluate_remembering
from tuner.data import Example
from tuner.evaluation import Metrics, evaluate
from tuner.loading import BaseModel


@dataclass(frozen=True)
class GateResult:
    metric: str
    candidate: Metrics
    reference: Metrics
    # "champion" or "base".
    reference_kind: str
    reference_version: str | None
    gain: float
    audits: tuple[AuditResult, ...]
    promote: bool
    reason: str
    # Held-out rows whose champion answer was remembered, not recomputed (tuner.cycle.remembered).
    reference_reused: int = 0
    # Rows the candidate does better / worse on than the reference, and the sign test.
    paired: PairedComparison | None = None
    # The sign test's level this candidate was held to (``continue_significance`` for a continuation).
    significance: float | None = None
    # It continues the champion it was compared with (trained from it or its kept line).
    continues_champion: bool = False
    # Promoted and the rows proved it: by the margin, at ``significance`` (not only at
    # ``continue_significance``), against its anchor, or not a continuation at all.
    proven: bool = False
    # The candidate against the last proven champion of its line (``tuner.cycle.anchor``).
    anchor: AnchorComparison | None = None
    # The weight corrected rows counted for, when some wrong answers went uncorrected.
    weighting: CorrectionWeights | None = None

    def to_json(self) -> dict:
        return {
            "metric": self.metric,
            "candidate": self.candidate.overall,
            "reference": {"kind": self.reference_kind, "version": self.reference_version, **self.reference.overall,
                          "reused_rows": self.reference_reused},
            "gain": self.gain,
            "significance": self.significance,
            "continues_champion": self.continues_champion,
            "paired": self.paired.to_json() if self.paired else None,
            "audits": [a.to_json() for a in self.audits],
            "decision": "promote" if self.promote else "keep",
            "proven": self.proven,
            "anchor": self.anchor.to_json() if self.anchor else None,
            "weighting": self.weighting.to_json() if self.weighting else None,
            "reason": self.reason,
        }


def decide(
    metric: str, candidate: Metrics, reference: Metrics, reference_kind: str,
    audits: Sequence[AuditResult], margin: float,
    paired: PairedComparison | None = None, significance: float = 0.0,
    continuation: bool = False, weighted: tuple[float, float] | None = None,
) -> tuple[bool, float, str]:
    """(promote, gain, reason): every audit within its bound, and better by ``margin`` or, with
    a positive gain under it, by the paired sign test at ``significance`` (0: the margin alone).

    ``continuation``: the candidate continues the champion and ``significance`` is the
    cycle's ``continue_significance`` (the reason says so). ``weighted``: the candidate's and
    the reference's weighted metric, which then decide instead of the plain ones.
    """
    ours, theirs = weighted or (float(candidate[metric]), float(reference[metric]))
    gain = ours - theirs
    name = f"weighted {metric}" if weighted else metric
    comparison = f"{name} {ours:.4f} vs {reference_kind} {theirs:.4f} ({gain:+.4f}, margin {margin:g})"
    if paired is not None:
        level = f"continue_significance {significance:g}" if continuation else f"significance {significance:g}"
        comparison += (f"; better on {paired.wins} rows, worse on {paired.losses} "
                       f"(sign test p={paired.p_value:.3g}, {level})")
    significant = paired is not None and gain > 0 and paired.p_value <= significance
    by_margin = gain >= margin
    problems = []
    if not by_margin and not significant:
        problems.append(f"{comparison}: not better by the margin" + (" nor significantly" if significance else ""))
    problems += [
        f"bias audit failed on {a.attribute!r}: {a.metric} gap {a.gap:.4f} > bound {a.bound:g} ({a.per_group})"
        for a in audits
        if not a.passed
    ]
    if problems:
        return False, gain, "; ".join(problems)
    why = ("better by the margin" if by_margin else
           "ahead of the champion it continues, as the rows show" if continuation else
           "significantly better under the margin")
    passed = ", ".join(f"{a.attribute} gap {a.gap:.3f}" for a in audits) or "no attributes"
    return True, gain, f"{comparison}: {why}; bias audit passed ({passed})"


def gate(
    base: BaseModel,
    test: Sequence[Example],
    candidate: Adapter,
    champion: Adapter | None,
    champion_version: str | None,
    config: CycleConfig,
    champion_known: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    continues_champion: bool = False,
    weighting: CorrectionWeights | None = None,
) -> GateResult:
    """Evaluate candidate and champion (or base) on ``test``, audit the candidate, decide.

    ``champion_known``: the champion's remembered answers by event id; only the other rows run.
    ``descriptions``: the domain's declared label descriptions, which the base model's
    zero-shot answers use when there is no champion (as serving's do).
    ``continues_champion``: the candidate was trained from ``champion`` (or its kept line);
    its sign test is at ``config.continue_significance`` (None: ``significance``).
    ``weighting``: how much a corrected row counts for (``tuner.cycle.reweighting``).
    """
    group_by = ("domain", *config.audit_attributes)
    options = {"group_by": group_by, "batch_size": 64, "max_length": config.train.max_length, "allow_unseen": True}
    ours = evaluate(base, test, candidate, **options)
    reused = 0
    if champion is not None:
        (theirs, reused), kind = evaluate_remembering(base, test, champion, champion_known, **options), "champion"
    else:
        labels = candidate.labels if base.task == "classification" else None
        theirs, kind = evaluate(base, test, None, labels=labels, descriptions=descriptions, **options), "base"
    audits = tuple(
        bias_audit(ours, attribute, metric=config.metric, bound=config.audit_bound, min_group_size=config.audit_min_group)
        for attribute in config.audit_attributes
    )
    weights = weighting.of(test) if weighting else None
    *values, paired = compare_metric(ours, theirs, test, config.metric, weights)
    weighted = tuple(values) if weights else None
    continuation = continues_champion and champion is not None and config.continue_significance is not None
    significance = config.continue_significance if continuation else config.significance
    promote, gain, reason = decide(config.metric, ours, theirs, kind, audits, config.margin, paired, significance,
                                   continuation, weighted)
    strictly = proves(gain, paired, config.margin, config.significance)
    return GateResult(config.metric, ours, theirs, kind, champion_version if champion else None, gain, audits, promote, reason,
                      reused, paired, significance, continuation, proven=promote and (strictly or not continuation),
                      weighting=weighting if weights else None)
