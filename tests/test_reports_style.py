"""Plots people read: legends outside the data, labeled axes, the heatmap's title clear of its panels.

Each writer runs on small known inputs; its figure is kept open (``plt.close`` is
patched) so the test can measure where matplotlib actually drew things.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from recsys.events.timeline import Timeline, TimelineRow
from recsys.layers import LayerImportance, LayerSelection
from tuner.reports import style
from tuner.reports.adapter_history import plot_adapter_history
from tuner.reports.ingestion import plot_ingestion
from tuner.reports.layer_heatmap import plot_layer_heatmap
from tuner.reports.learning_curve import plot_learning_curve
from tuner.training import EvalPoint


@pytest.fixture
def kept_figures(monkeypatch):
    """Figures the writers would close, left open and drawn; closed at the end."""
    plt.close("all")
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    figures: list = []

    def collect():
        figures[:] = [plt.figure(n) for n in plt.get_fignums()]
        for fig in figures:
            fig.canvas.draw()
        return figures

    yield collect
    monkeypatch.undo()
    plt.close("all")


def extent(artist):
    return artist.get_window_extent(artist.figure.canvas.get_renderer())


def legends(fig):
    return [child for ax in fig.axes for child in [ax.get_legend()] if child is not None] + list(fig.legends)


def assert_legends_outside_data(fig):
    found = legends(fig)
    assert found, "every plot has a legend"
    for legend in found:
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            assert not extent(legend).overlaps(ax.get_window_extent()), f"legend over the data of {ax.get_title()!r}"


def assert_axes_labeled(fig):
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>" or not ax.get_visible():
            continue
        assert ax.get_ylabel() or ax.get_shared_y_axes().get_siblings(ax) != [ax], ax
        assert ax.get_xlabel() or ax.get_shared_x_axes().get_siblings(ax) != [ax], ax


def test_learning_curve_legend_sits_below_the_curves(tmp_path, kept_figures):
    history = [EvalPoint(step, 0.5, 1.0 / (1 + step), min(1.0, 0.3 + step / 20)) for step in (0, 5, 10)]
    plot_learning_curve([1.0 / (1 + i) for i in range(12)], history, tmp_path / "curve.png", title="billing v0001")
    (fig,) = kept_figures()
    assert_legends_outside_data(fig)
    assert "nats" in fig.axes[0].get_ylabel() and "step" in fig.axes[0].get_xlabel()
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("rows", [1, 2, 6])
def test_heatmap_title_clears_the_panel_titles(tmp_path, kept_figures, rows):
    domains = ("billing", "cards", "legal", "contracts", "travel", "auto")[:rows]
    importance = LayerImportance(
        base_model="tiny", domains=domains, targets=tuple((layer, g) for g in ("attention", "mlp") for layer in range(4)),
        values=np.linspace(0, 1, 8 * rows).reshape(rows, 8), probed=np.arange(rows)[:, None].repeat(8, 1) == 0,
        probe_counts=(2,) + (0,) * (rows - 1), num_layers=4,
    )
    selections = {"billing": LayerSelection(((3, "attention"),), 0.25, 0.4)}
    plot_layer_heatmap(importance, tmp_path / "heat.png", selections, title="layer importance (tiny), chosen layers dotted")
    (fig,) = kept_figures()
    title = extent(fig._suptitle)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for ax in panels:
        assert not title.overlaps(extent(ax.title)), ax.get_title()
        assert ax.get_xlabel()
    for legend in fig.legends:
        for ax in panels:
            assert not extent(legend).overlaps(extent(ax.xaxis.label)), "legend over the layer axis title"
            assert not extent(legend).overlaps(ax.get_window_extent())


def test_history_and_ingestion_plots_keep_legends_off_the_data(kept_figures):
    @dataclass
    class Record:
        version: str
        status: str
        created_at: datetime
        metrics: dict

    t0 = datetime(2026, 11, 1, 2, 0)
    records = [Record("v0001", "retired", t0, {"accuracy": 0.7, "macro_f1": 0.6}),
               Record("v0002", "champion", t0 + timedelta(days=1), {"accuracy": 0.8, "macro_f1": 0.75})]
    buffer = io.BytesIO()
    plot_adapter_history(records, buffer, title="billing")
    rows = [TimelineRow(t0 + timedelta(hours=h), {"positive": 5 + h, "negative": 2, "corrected": h}) for h in range(6)]
    plot_ingestion(Timeline("hour", 3600, rows), io.BytesIO())
    figures = kept_figures()
    assert len(figures) == 2 and buffer.getvalue()[:4] == b"\x89PNG"
    for fig in figures:
        assert_legends_outside_data(fig)
        assert_axes_labeled(fig)


def test_style_is_applied_per_plot_not_globally():
    before = plt.rcParams["axes.spines.top"]
    with style.styled():
        assert plt.rcParams["axes.spines.top"] is False
    assert plt.rcParams["axes.spines.top"] == before
    assert isinstance(style.save(plt.figure(), io.BytesIO()), io.BytesIO)
    assert Path(style.__file__).name == "style.py"
