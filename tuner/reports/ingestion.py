"""Ingestion over time: events received per bucket, stacked by feedback kind, and the corrected share."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from recsys.events.timeline import Timeline  # noqa: E402
from tuner.reports.style import COLORS, legend_outside, save, styled  # noqa: E402

KINDS = ("positive", "negative", "corrected")


@styled()
def plot_ingestion(timeline: Timeline, target: Path | str | IO[bytes], title: str = "") -> Path | IO[bytes]:
    """Stacked bars (events per bucket by feedback) over a line of the negative + corrected share."""
    fig, (counts, share) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    starts = [row.start for row in timeline.rows]
    width = timeline.bucket_seconds / 86400 * 0.8  # matplotlib dates are in days
    bottom = [0] * len(starts)
    for kind in KINDS:
        values = [row.counts.get(kind, 0) for row in timeline.rows]
        counts.bar(starts, values, width=width, bottom=bottom, color=COLORS[kind], label=kind)
        bottom = [b + v for b, v in zip(bottom, values)]
    counts.set_ylabel(f"events per {timeline.bucket}")
    counts.set_title(title or f"ingestion: {timeline.total} events")
    legend_outside(counts, title="feedback")
    needs = [(row.counts.get("negative", 0) + row.counts.get("corrected", 0)) / row.total if row.total else 0.0
             for row in timeline.rows]
    share.plot(starts, needs, "o-", color=COLORS["negative"], label="negative + corrected")
    share.set_ylim(0, 1)
    share.set_ylabel("share of events")
    share.set_xlabel(f"received at (server time, {timeline.bucket} buckets)")
    legend_outside(share)
    fig.autofmt_xdate()
    if not starts:
        counts.text(0.5, 0.5, "no events yet", ha="center", va="center", transform=counts.transAxes)
    return save(fig, target)
