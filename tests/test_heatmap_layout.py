"""The layer heatmap's figure title stays clear of its panel titles (issue 15, item 8)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from recsys.layers import build_layer_importance, select_layers
from recsys.store import open_database
from tests.test_ranking_cli import db_file  # noqa: F401 (fixture)
from tuner.reports.layer_heatmap import plot_layer_heatmap


def test_the_title_does_not_overlap_the_panel_titles(db_file, tmp_path, monkeypatch):  # noqa: F811
    db = open_database(db_file, read_only=True)
    importance = build_layer_importance(db, "tiny-llama", ["banking", "auto"])  # few rows: the tightest figure
    db.close()
    selections = {d: select_layers(importance.row(d), importance.num_layers, 0.5) for d in importance.domains}
    closed = []
    monkeypatch.setattr(plt, "close", closed.append)  # keep the figure to measure it
    plot_layer_heatmap(importance, tmp_path / "heat.png", selections)
    figure = closed[0]
    renderer = figure.canvas.get_renderer()
    title = figure._suptitle.get_window_extent(renderer)
    panels = [ax.title.get_window_extent(renderer) for ax in figure.axes if ax.get_title()]
    assert panels and all(title.y0 >= panel.y1 for panel in panels)
