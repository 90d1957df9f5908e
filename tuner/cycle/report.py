"""A cycle's report: Markdown plus PNGs (metrics before/after, learning curves, layer heatmap).

Written under ``<reports>/<cycle_id>/`` after the cycle committed, from what the cycle
already measured: nothing here trains or evaluates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from tuner.reports.layer_heatmap import plot_layer_heatmap  # noqa: E402
from tuner.reports.learning_curve import plot_learning_curve  # noqa: E402
from tuner.reports.style import COLORS, legend_outside, save, styled  # noqa: E402

if TYPE_CHECKING:
    from tuner.cycle.running import CycleResult, DomainOutcome

METRICS_PNG = "metrics.png"
LAYERS_PNG = "layers.png"
CURVES_DIR = "curves"


@styled()
def plot_before_after(outcomes: list["DomainOutcome"], path: Path, title: str) -> Path:
    """Per domain: the reference (champion or base) and the candidate on the same held-out rows."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(outcomes) + 2), 4))
    names = [o.domain for o in outcomes]
    before = [o.gate.reference[o.gate.metric] for o in outcomes]
    after = [o.gate.candidate[o.gate.metric] for o in outcomes]
    x = range(len(outcomes))
    ax.bar([i - 0.2 for i in x], before, width=0.4, color=COLORS["before"])
    bars = ax.bar([i + 0.2 for i in x], after, width=0.4, color=COLORS["promoted"])
    for bar, outcome in zip(bars, outcomes):
        bar.set_color(COLORS["review"] if outcome.review else COLORS["promoted"] if outcome.gate.promote else COLORS["kept"])
        ax.annotate(_decision(outcome, "promoted", "kept"), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    metric = outcomes[0].gate.metric if outcomes else "metric"
    ax.set_xticks(list(x), names)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("domain")
    ax.set_ylabel(f"held-out {metric} (fraction, 0-1)")
    ax.set_title(title)
    handles = [Patch(color=COLORS["before"], label="before (champion or base)"),
               Patch(color=COLORS["promoted"], label="candidate, promoted"),
               Patch(color=COLORS["kept"], label="candidate, kept current"),
               Patch(color=COLORS["review"], label="candidate, awaiting review")]
    legend_outside(ax, handles=handles)
    return save(fig, path)


def _ranked_table(summary: dict) -> list[str]:
    lines = ["| domain | score | affinity | need | error rate | events | new labeled | tuned | why |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: | --- |"]
    for r in summary.get("ranked", []):
        lines.append(
            f"| {r['domain']} | {r['score']:.4f} | {r['affinity']:.3f} | {r['need']:.3f} | {r['error_rate']:.1%} | "
            f"{r['events']} | {r['new_examples']} | {'yes' if r['selected'] else 'no'} | {r['reason']} |"
        )
    return lines


def _outcome_table(outcomes: list["DomainOutcome"]) -> list[str]:
    lines = ["| domain | version | layers | groups | cost | warm start | steps | trainable params | train s | "
             "before | after | gain | audit | decision |",
             "| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for o in outcomes:
        g = o.gate
        audit = ", ".join(f"{a.attribute} {a.gap:.3f} {'ok' if a.passed else 'FAIL'}" for a in g.audits) or "-"
        before = f"{g.reference[g.metric]:.4f} ({g.reference_kind}{' ' + g.reference_version if g.reference_version else ''})"
        lines.append(
            f"| {o.domain} | {o.staged.version} | {','.join(map(str, o.plan.layers))} | {','.join(o.plan.groups)} | "
            f"{o.plan.layer_cost:.2f} | {o.warm_start or '-'} | {o.train['steps']} | {o.train['trainable_params']:,} | "
            f"{o.train['train_seconds']:.1f} | {before} | {g.candidate[g.metric]:.4f} | {g.gain:+.4f} | {audit} | "
            f"{_decision(o, '**promoted**', 'kept current')} |"
        )
    return lines


def write_report(result: "CycleResult", path: Path) -> Path:
    """Write ``report.md`` (at ``path``) and its PNGs beside it; returns the Markdown path."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    summary, record = result.summary, result.record
    lines = [
        f"# Cycle {record.cycle_id}",
        "",
        f"- status: **{record.status}**{' (dry run: nothing trained, watermark unchanged)' if summary.get('dry_run') else ''}",
        f"- base model: {summary.get('base_model')} ({summary.get('task')})",
        f"- events: seq {record.watermark_from + 1}..{record.watermark_to} ({summary.get('new_events', 0)} new)",
        f"- took {summary.get('seconds', 0.0):.1f} s",
        "",
        "## Ranked domains (new events only)",
        "",
        *(_ranked_table(summary) if summary.get("ranked") else ["No new events: nothing to rank."]),
    ]
    if summary.get("missing"):
        lines += ["", f"Requested domains without new events: {', '.join(summary['missing'])}."]
    if result.plan.importance is not None:
        plot_layer_heatmap(result.plan.importance, folder / LAYERS_PNG, result.plan.selections,
                           title=f"layer importance ({result.plan.importance.base_model}), chosen layers dotted")
        lines += ["", "## Layers", "", f"![layer importance]({LAYERS_PNG})"]
    if result.outcomes:
        plot_before_after(result.outcomes, folder / METRICS_PNG, f"cycle {record.cycle_id}: held-out metric per domain")
        lines += ["", "## Candidates", "", *_outcome_table(result.outcomes), "", f"![before and after]({METRICS_PNG})", ""]
        for o in result.outcomes:
            curve = plot_learning_curve(o.step_losses, o.history, folder / CURVES_DIR / f"{o.domain}.png",
                                        title=f"{o.domain} {o.staged.version} layers {list(o.plan.layers)}")
            lines += [f"### {o.domain}", "", f"- decision: {o.gate.reason}",
                      f"- training: {o.train.get('why_stopped', '-')}"]
            lines += [f"- note: {note}" for note in o.notes]
            lines += ["", f"![learning curve of {o.domain}]({curve.relative_to(folder)})", ""]
    path.write_text("\n".join(lines) + "\n")
    return path


def _decision(outcome, promoted: str, kept: str) -> str:
    """What the cycle did with the candidate: a held one awaits a person (tuner.review)."""
    return "awaiting review" if outcome.review else promoted if outcome.gate.promote else kept
