"""A domain's adapter versions over time: each held-out metric per version, champions marked.

Drawn from the registry rows (their ``metrics`` and ``created_at``), so it shows what the
gate saw when each version was registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tuner.reports.style import legend_outside, save, styled  # noqa: E402

# Headline metrics the registry stores (classification, then generation); others are ignored.
HEADLINE = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "exact_match", "token_f1")


@styled()
def plot_adapter_history(records: Sequence, target: Path | str | IO[bytes], title: str = "") -> Path | IO[bytes]:
    """Plot ``tuner.registry.AdapterRecord``s (any order) to ``target`` (a path or a binary buffer)."""
    records = sorted(records, key=lambda r: (r.created_at, r.version))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = range(len(records))
    names = [n for n in HEADLINE if any(isinstance(r.metrics.get(n), (int, float)) for r in records)]
    for name in names:
        ax.plot(x, [r.metrics.get(name, float("nan")) for r in records], "o-", label=name)
    champions = [i for i, r in enumerate(records) if r.status == "champion"]
    if champions and names:
        ax.plot(champions, [records[i].metrics.get(names[0], float("nan")) for i in champions], "*",
                color="gold", markersize=16, markeredgecolor="black", label="champion now", linestyle="")
    ax.set_xticks(list(x), [f"{r.version}\n{r.created_at:%m-%d %H:%M}" for r in records])
    ax.set_xlabel("adapter version (registered at)")
    ax.set_ylabel("held-out metric (fraction, 0-1)")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    if names:
        legend_outside(ax)
    else:
        ax.text(0.5, 0.5, "no metrics recorded", ha="center", va="center", transform=ax.transAxes)
    return save(fig, target)
