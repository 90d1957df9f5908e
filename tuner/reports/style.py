"""One look for every PNG adaptune writes: same fonts, grid, colors, size rules, legends outside.

Plot writers are decorated with ``@styled()``, finish with ``save`` and put legends with
``legend_outside`` so no legend covers data. The style is an ``rc_context`` around the
writer, never global, so importing this changes nobody else's plots.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO, Any, Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110
# Colors with fixed meanings across plots.
COLORS = {
    "before": "#8c8c8c",
    "promoted": "#2ca02c",
    "kept": "#d62728",
    "review": "#ff7f0e",
    "train": "#1f77b4",
    "validation": "#ff7f0e",
    "accuracy": "#2ca02c",
    "positive": "#2ca02c",
    "negative": "#d62728",
    "corrected": "#ff7f0e",
}
RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": "-",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]),
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "figure.titleweight": "bold",
    "savefig.facecolor": "white",
}


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Inside (or on a decorated function): figures and their text take the project style."""
    with matplotlib.rc_context(RC):
        yield


def legend_outside(ax, **kwargs):
    """A legend to the right of ``ax``, outside the data area (figures with several panels use
    ``layout="constrained"``, which makes room for it beside each panel)."""
    settings = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, **kwargs}
    return ax.legend(**settings)


def save(fig, target: Path | str | IO[bytes]) -> Path | IO[bytes]:
    """Write ``fig`` as PNG (a path or a binary buffer), tight around legends outside, and close it."""
    if isinstance(target, (str, Path)):
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
    with styled():
        fig.savefig(target, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return target
